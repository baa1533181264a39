"""Whether the server may start as asked: on loopback freely, on any other address only behind
a token, and only with a token clients can actually send."""

from __future__ import annotations

import ipaddress

__all__ = [
    "MIN_TOKEN_CHARS",
    "StartRefused",
    "UnsafeBindError",
    "UnusableTokenError",
    "check_bind",
    "check_token",
    "is_loopback",
]

MIN_TOKEN_CHARS = 8
"""The shortest token accepted: a room's token must not be guessable by trying."""


class StartRefused(ValueError):
    """The server will not start with these settings; the message says why and what to do."""


class UnsafeBindError(StartRefused):
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


class UnusableTokenError(StartRefused):
    """A token no client can send would answer 401 to the whole room."""


def check_token(token: str | None) -> None:
    """Refuse a token that a client could not send as `Authorization: Bearer TOKEN`: it must be
    visible ASCII characters (no spaces, no accents), at least MIN_TOKEN_CHARS of them."""
    if token is None:
        return
    if not all("!" <= character <= "~" for character in token):
        raise UnusableTokenError(
            "refusing to start: the token holds spaces or characters beyond visible ASCII, "
            "which clients cannot send in an HTTP header; choose one of letters, digits and "
            "punctuation, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(16))'."
        )
    if len(token) < MIN_TOKEN_CHARS:
        raise UnusableTokenError(
            f"refusing to start: the token is shorter than {MIN_TOKEN_CHARS} characters, short "
            "enough to guess; e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(16))'."
        )
