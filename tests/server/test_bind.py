"""Where the server may listen: loopback freely, any other address only behind a token."""

from __future__ import annotations

import pytest

from helpers.server.bind import UnsafeBindError, check_bind, is_loopback


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
