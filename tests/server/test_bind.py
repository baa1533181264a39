"""Whether the server may start as asked: loopback freely, any other address only behind a
token, and only with a token a client can send."""

from __future__ import annotations

import pytest

from helpers.server.bind import (
    StartRefused,
    UnsafeBindError,
    UnusableTokenError,
    check_bind,
    check_token,
    is_loopback,
)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.5.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("example.org", False)],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.2"])
def test_binding_beyond_loopback_needs_a_token(host: str) -> None:
    with pytest.raises(UnsafeBindError, match=f"refusing to listen on '{host}' without a token"):
        check_bind(host, "")
    with pytest.raises(UnsafeBindError):
        check_bind(host, None)
    check_bind(host, "a-token")  # allowed once a token guards it


def test_loopback_needs_no_token() -> None:
    check_bind("127.0.0.1", None)
    check_bind("::1", "")


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (" room-token-1", "spaces"),
        ("room-token-1\n", "spaces"),
        ("room token 1", "spaces"),
        ("r\u00f6\u00f6m-token-1", "beyond visible ASCII"),
        ("room-\u2013-token", "beyond visible ASCII"),
        ("abc1234", "shorter than 8 characters"),
    ],
)
def test_a_token_no_client_can_send_or_easy_to_guess_is_refused(token: str, why: str) -> None:
    with pytest.raises(UnusableTokenError, match=why) as refused:
        check_token(token)
    assert isinstance(refused.value, StartRefused)
    assert token.strip() not in str(refused.value), "the message never repeats the token"


@pytest.mark.parametrize("token", [None, "abcd1234", "Zr8_x-Q~!{}%$#@", "A" * 200])
def test_visible_ascii_of_8_characters_or_more_is_a_token(token: str | None) -> None:
    check_token(token)
