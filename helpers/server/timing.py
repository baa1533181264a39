"""Latency profiles and the seeded schedule of when each token step of a reply is sent."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Literal, get_args

__all__ = [
    "PROFILES",
    "REFERENCE_TTFT",
    "Profile",
    "UnknownProfileError",
    "chunk_schedule",
    "iter_schedule",
    "parse_profile",
]

Profile = Literal["realistic", "fast", "instant"]
PROFILES: tuple[Profile, ...] = get_args(Profile)

# Calibration: the real gpt-4o-mini "count to 100" stream of the source lesson
# (reference/gpt-4o-mini-count-to-100.csv): first token after 1.14 s, then bursts of tokens
# that arrived within one 10 ms step. Each pair is (pause before the burst in units of 10 ms,
# tokens in the burst), in the order recorded; a first burst of 4 came with the first token.
REFERENCE_TTFT = 1.14
_FIRST_BURST = 4
_REFERENCE_BURSTS = (
    (2, 3), (19, 3), (1, 26), (9, 9), (1, 3), (1, 3), (2, 3), (3, 3), (1, 3), (2, 3), (1, 3),
    (2, 3), (1, 3), (3, 6), (3, 3), (2, 3), (2, 3), (11, 21), (2, 3), (1, 3), (1, 3), (3, 3),
    (1, 3), (3, 3), (2, 6), (2, 3), (5, 17), (4, 6), (9, 2), (1, 8), (2, 3), (1, 3), (2, 3),
    (2, 3), (13, 21), (2, 6), (2, 3), (1, 14), (1, 3), (2, 3), (9, 3), (1, 12), (8, 3), (4, 7),
    (2, 6), (2, 3), (1, 3), (3, 3), (10, 28),
)
_STEP = 0.01
# The realistic first token varies by up to this fraction around the reference, per request.
_TTFT_JITTER = 0.15
_FAST_TTFT = (0.02, 0.04)
_FAST_GAP = (0.001, 0.002)


class UnknownProfileError(ValueError):
    """A latency profile name that does not exist."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown latency profile {name!r}; choose one of {', '.join(PROFILES)}")


def parse_profile(name: str) -> Profile:
    """Check a profile name from a user, an environment variable or a request."""
    if name not in PROFILES:
        raise UnknownProfileError(name)
    return name


def chunk_schedule(steps: int, profile: Profile, seed: int) -> list[float]:
    """Seconds after the request at which each of `steps` token steps is sent (non-decreasing)."""
    assert steps >= 1, "a reply has at least one step (the role chunk)"
    return list(itertools.islice(iter_schedule(profile, seed), steps))


def iter_schedule(profile: Profile, seed: int) -> Iterator[float]:
    """When each token step is sent, in seconds after the request, for as long as asked.

    `realistic` replays the reference's bursts in a seeded shuffled order (reshuffled for longer
    replies), so a 298-token answer lasts exactly as long after its first token as the reference.
    """
    if profile == "instant":
        yield from itertools.repeat(0.0)
        return
    rng = random.Random(seed)
    if profile == "fast":
        at = rng.uniform(*_FAST_TTFT)
        while True:
            yield at
            at += rng.uniform(*_FAST_GAP)
    at = REFERENCE_TTFT * rng.uniform(1 - _TTFT_JITTER, 1 + _TTFT_JITTER)
    yield from itertools.repeat(at, _FIRST_BURST)
    while True:
        bursts = list(_REFERENCE_BURSTS)
        rng.shuffle(bursts)
        for pause, size in bursts:
            at += pause * _STEP
            yield from itertools.repeat(at, size)
