"""Where the server may listen: loopback freely, any other address only behind a token."""

from __future__ import annotations

import ipaddress

__all__ = ["UnsafeBindError", "check_bind", "is_loopback"]


class UnsafeBindError(ValueError):
    """Listening beyond loopback without a token would open the server to the whole network."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"refusing to listen on {host!r} without a token: anyone who can reach this machine "
            "could use the server. Listen on 127.0.0.1, or set a token (--token or "
            "TUTORIAL_SERVER_TOKEN) that clients must send as their API key."
        )


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback address unless a token protects it."""
    if not token and not is_loopback(host):
        raise UnsafeBindError(host)
