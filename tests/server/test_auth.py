"""The room token: required exactly, case included, and compared in constant time.

End to end, every API route enforces it: tests/server/test_app_errors.py.
"""

from __future__ import annotations

import hmac
from typing import Any

import pytest

from helpers.server.auth import check_bearer_token
from helpers.server.errors import OpenAIError

TOKEN = "Room-Token-7f3A"


def refusal(authorization: str | None) -> OpenAIError:
    with pytest.raises(OpenAIError) as refused:
        check_bearer_token(authorization, TOKEN)
    return refused.value


def test_no_expected_token_lets_everything_through() -> None:
    for authorization in (None, "", "Bearer anything", "Basic x"):
        check_bearer_token(authorization, None)


@pytest.mark.parametrize(
    "authorization", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"Bearer {TOKEN} "]
)
def test_the_exact_token_passes(authorization: str) -> None:
    check_bearer_token(authorization, TOKEN)


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer  ", f"Basic {TOKEN}"])
def test_no_bearer_token_is_missing_key(authorization: str | None) -> None:
    error = refusal(authorization)
    assert (error.status, error.code) == (401, None)
    assert error.message.startswith("You didn't provide an API key.")


@pytest.mark.parametrize(
    "given", ["room-token-7f3a", "ROOM-TOKEN-7F3A", "Room-Token-7f3", "Room-Token-7f3AA", "nope"]
)
def test_any_other_token_is_incorrect_case_included(given: str) -> None:
    error = refusal(f"Bearer {given}")
    assert (error.status, error.code) == (401, "invalid_api_key")
    assert TOKEN not in error.message and given not in error.message


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both a wrong and the right token go through hmac.compare_digest, never `==`."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(given: Any, expected: Any) -> bool:
        compared.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    refusal("Bearer not-the-token")
    check_bearer_token(f"Bearer {TOKEN}", TOKEN)
    assert compared == [(b"not-the-token", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


def test_the_refusals_read_as_openai_words_them() -> None:
    """The whole sentences, as a learner's client shows them (mutation testing found that only
    their first words were checked)."""
    assert refusal(None).message == (
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
    )
    assert refusal("Bearer wrong").message == (
        "Incorrect API key provided. This server expects the token it was started with."
    )
