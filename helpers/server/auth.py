"""The bearer token a room's server may require, checked as OpenAI checks an API key."""

from __future__ import annotations

import hmac

from helpers.server.errors import OpenAIError

__all__ = ["check_bearer_token"]


def check_bearer_token(authorization: str | None, expected: str | None) -> None:
    """Raise OpenAI's 401 unless `authorization` is `Bearer <expected>`; with no expected token
    every request passes (difference 8 in helpers.server.app).

    The comparison takes the same time wherever the first wrong character is, so the token
    cannot be guessed one character at a time; it is exact, case included.
    """
    if expected is None:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise OpenAIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise OpenAIError(
            401,
            "Incorrect API key provided. This server expects the token it was started with.",
            code="invalid_api_key",
        )
