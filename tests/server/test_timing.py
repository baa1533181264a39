from __future__ import annotations

from itertools import pairwise

import pytest

from helpers.server.timing import (
    PROFILES,
    REFERENCE_TTFT,
    UnknownProfileError,
    chunk_schedule,
    parse_profile,
)

# The source lesson's real stream: 298 content tokens, the first at 1.14 s, the last at 2.82 s.
REFERENCE_TOKENS = 298
REFERENCE_FIRST, REFERENCE_LAST = 1.14, 2.82


@pytest.mark.parametrize("profile", PROFILES)
def test_schedules_are_non_decreasing_and_the_right_length(profile: str) -> None:
    offsets = chunk_schedule(500, parse_profile(profile), seed=7)
    assert len(offsets) == 500
    assert all(b >= a for a, b in pairwise(offsets))
    assert offsets[0] >= 0


@pytest.mark.parametrize("profile", PROFILES)
def test_same_seed_same_schedule(profile: str) -> None:
    name = parse_profile(profile)
    assert chunk_schedule(300, name, 42) == chunk_schedule(300, name, 42)


@pytest.mark.parametrize("profile", ["realistic", "fast"])
def test_another_seed_another_schedule(profile: str) -> None:
    name = parse_profile(profile)
    assert chunk_schedule(300, name, 1) != chunk_schedule(300, name, 2)


def test_instant_never_waits() -> None:
    assert chunk_schedule(1000, "instant", 3) == [0.0] * 1000


def test_fast_has_tens_of_ms_to_first_token_and_one_to_two_ms_per_token() -> None:
    offsets = chunk_schedule(1001, "fast", 5)
    assert 0.02 <= offsets[0] <= 0.04
    gaps = [b - a for a, b in pairwise(offsets)]
    assert all(0.001 <= g <= 0.002 for g in gaps)


@pytest.mark.parametrize("seed", range(20))
def test_realistic_count_to_100_lasts_as_long_as_the_reference(seed: int) -> None:
    offsets = chunk_schedule(REFERENCE_TOKENS, "realistic", seed)
    assert offsets[-1] - offsets[0] == pytest.approx(REFERENCE_LAST - REFERENCE_FIRST, abs=1e-9)
    assert REFERENCE_FIRST == REFERENCE_TTFT
    assert REFERENCE_TTFT * 0.85 <= offsets[0] <= REFERENCE_TTFT * 1.15
    assert abs(offsets[-1] - REFERENCE_LAST) < 0.2


def test_realistic_has_bursts_and_stalls_like_the_reference() -> None:
    offsets = chunk_schedule(REFERENCE_TOKENS, "realistic", 11)
    gaps = [b - a for a, b in pairwise(offsets)]
    stalls = [g for g in gaps if g >= 0.08]
    assert sum(1 for g in gaps if g == 0) > 200  # most tokens share a 10 ms step with another
    assert len(stalls) >= 3
    assert max(stalls) <= 0.19 + 1e-9
    largest_burst = max(offsets.count(t) for t in set(offsets))
    assert largest_burst >= 20


def test_realistic_keeps_the_reference_rate_for_long_replies() -> None:
    offsets = chunk_schedule(REFERENCE_TOKENS * 10, "realistic", 3)
    per_token = (offsets[-1] - offsets[0]) / (len(offsets) - 1)
    reference = (REFERENCE_LAST - REFERENCE_FIRST) / (REFERENCE_TOKENS - 1)
    assert per_token == pytest.approx(reference, rel=0.1)


def test_unknown_profile_is_refused_with_the_choices() -> None:
    with pytest.raises(UnknownProfileError, match="realistic, fast, instant"):
        parse_profile("slow")
