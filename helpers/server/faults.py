"""Per-request simulation controls (a latency profile, a fault to inject) and what faults send."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from helpers.server.errors import OpenAIError
from helpers.server.timing import PROFILES, Profile
from helpers.server.wire import JSON, error_body

__all__ = [
    "FAULTS",
    "SIMULATION_HEADER",
    "STREAM_ONLY_FAULTS",
    "FaultKind",
    "FaultSpec",
    "SimulatedDisconnect",
    "http_fault_error",
    "parse_faults",
    "stream_error_body",
]

FaultKind = Literal[
    "rate_limit",
    "server_error",
    "unauthorized",
    "error_event",
    "disconnect",
    "stall",
    "no_done",
    "no_finish",
    "slow_first_byte",
]
FAULTS: tuple[FaultKind, ...] = get_args(FaultKind)
# Meaningful only inside a stream; a non-streamed request asking for one is refused.
STREAM_ONLY_FAULTS = frozenset({"error_event", "no_done", "no_finish"})
SIMULATION_HEADER = "X-Simulation"
# Upper bound on any simulated wait, so a typo cannot hang a notebook for hours.
_MAX_SECONDS = 600.0
_OVERLOADED = "The server had an error while processing your request. Sorry about that!"


@dataclass(frozen=True)
class FaultSpec:
    """What one request asked the simulation for: `profile` overrides the server's; `fault`
    happens after `after_chunks` chunks, lasting `seconds` (stall, slow first byte); a 429 says
    to retry after `retry_after` seconds."""

    profile: Profile | None = None
    fault: FaultKind | None = None
    after_chunks: int = 10
    seconds: float = 2.0
    retry_after: float = 1.0


class SimulatedDisconnect(Exception):
    """Raised inside the app to make the server drop the connection mid-response."""

    def __str__(self) -> str:
        return "simulated disconnect requested by the client"


def parse_faults(body_value: Mapping[str, Any] | None, header_value: str | None) -> FaultSpec:
    """Merge the `X-Simulation: key=value; ...` header with the body's `simulation` object
    (the body wins) and check every key and value (difference 6 in helpers.server.app)."""
    settings: dict[str, object] = {}
    if header_value:
        for item in header_value.split(";"):
            key, sep, text = item.partition("=")
            if item.strip() and not sep:
                raise OpenAIError(
                    400,
                    f"Invalid {SIMULATION_HEADER} header: expected key=value pairs separated by "
                    f"';', got {item!r}.",
                    code="invalid_value",
                )
            if sep:
                settings[key.strip()] = text.strip()
    settings.update(body_value or {})
    values: dict[str, Any] = {}
    for key, value in settings.items():
        parse = _PARSERS.get(key)
        if parse is None:
            raise _bad(key, f"unknown control; known ones: {', '.join(_PARSERS)}")
        values[key] = parse(key, value)
    return FaultSpec(**values)


def http_fault_error(spec: FaultSpec, model: str) -> OpenAIError | None:
    """The error an HTTP-status fault answers with, or None for other faults."""
    if spec.fault == "rate_limit":
        wait = spec.retry_after
        return OpenAIError(
            429,
            f"Rate limit reached for {model} in organization org-simulated on requests per min "
            f"(RPM): Limit 3, Used 3, Requested 1. Please try again in {wait:g}s. "
            "(Simulated fault.)",
            type="requests",
            code="rate_limit_exceeded",
            headers={
                "retry-after": str(math.ceil(wait)),
                "retry-after-ms": str(round(wait * 1000)),
                "x-ratelimit-limit-requests": "3",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{wait:g}s",
            },
        )
    if spec.fault == "server_error":
        return OpenAIError(500, f"{_OVERLOADED} (Simulated fault.)", type="server_error")
    if spec.fault == "unauthorized":
        return OpenAIError(
            401,
            "Incorrect API key provided. (Simulated fault: no key was checked.)",
            code="invalid_api_key",
        )
    return None


def stream_error_body(after_chunks: int) -> JSON:
    """The in-band error event a stream ends with when it fails after the 200 status."""
    message = f"{_OVERLOADED} (Simulated fault after {after_chunks} chunks.)"
    return error_body(message, "server_error")


def _bad(key: str, problem: str) -> OpenAIError:
    message = f"Invalid simulation control '{key}': {problem}."
    return OpenAIError(400, message, param=f"simulation.{key}", code="invalid_value")


def _choice(options: tuple[str, ...]) -> Callable[[str, object], str]:
    def parse(key: str, value: object) -> str:
        if value not in options:
            raise _bad(key, f"{value!r} is not one of {', '.join(options)}")
        return str(value)

    return parse


def _number(kind: type[int] | type[float], high: float) -> Callable[[str, object], float]:
    # Header values arrive as text; the body's are JSON numbers (an int is a fine float).
    accepted = (str, int) if kind is int else (str, int, float)

    def parse(key: str, value: object) -> float:
        try:
            number = kind(value) if isinstance(value, accepted) else None
        except ValueError:
            number = None
        if number is None or isinstance(value, bool) or not 0 <= number <= high:
            raise _bad(key, f"expected {kind.__name__} from 0 to {high:g}, got {value!r}")
        return number

    return parse


_PARSERS: dict[str, Callable[[str, object], object]] = {
    "profile": _choice(PROFILES),
    "fault": _choice(FAULTS),
    "after_chunks": _number(int, 1_000_000),
    "seconds": _number(float, _MAX_SECONDS),
    "retry_after": _number(float, _MAX_SECONDS),
}
