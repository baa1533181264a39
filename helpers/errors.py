"""One sentence for a learner about an exception that ended a stream: what happened, what to do."""

from __future__ import annotations

import re

import openai

__all__ = ["explain_error"]

_KEY = re.compile(r"\b(sk|key)-[A-Za-z0-9_*\-]{6,}")


def _server_message(exc: openai.APIError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        message = exc.message
    # A server may echo part of a key back; it has no place in a notebook's output.
    message = _KEY.sub("[key hidden]", message.strip())
    return message if len(message) <= 200 else message[:199] + "…"


def explain_error(exc: BaseException, received: int = 0) -> str:
    """One sentence for a learner: what happened and what to do; `received` chunks had arrived."""
    after = f" after {received} chunks" if received else ""
    if isinstance(exc, openai.APITimeoutError):
        return (
            f"The request timed out{after}: the server took too long to answer; check that it "
            "is running, or give the client a longer timeout."
        )
    if isinstance(exc, openai.APIConnectionError):
        if received:
            return (
                f"The connection broke{after}: the text above is what arrived; run the cell "
                "again."
            )
        return (
            "Could not reach the server: check that it is running and that the base URL is "
            "right, then run the cell again."
        )
    if isinstance(exc, openai.RateLimitError):
        if exc.code == "insufficient_quota":
            return "The account has no quota left (429 insufficient_quota): check its plan."
        retry = exc.response.headers.get("retry-after")
        wait = f"wait {retry} s" if retry else "wait a little"
        return f"Too many requests (429 rate limit): {wait}, then run the cell again."
    if isinstance(exc, openai.AuthenticationError):
        return (
            "The server refused the API key (401 Unauthorized): check OPENAI_API_KEY, or unset "
            "it to use the embedded simulation."
        )
    if isinstance(exc, openai.NotFoundError):
        if exc.code == "model_not_found":
            return (
                "The server has no such model (404 model_not_found): ask for one that "
                "client.models.list() names."
            )
        return "The server has no such endpoint (404): check that the base URL ends in /v1."
    if isinstance(exc, openai.InternalServerError):
        return (
            f"The server failed (HTTP {exc.status_code}): the fault is on its side; run the "
            "cell again in a moment."
        )
    if isinstance(exc, openai.APIStatusError):
        return (
            f"The server rejected the request (HTTP {exc.status_code}: "
            f"{_server_message(exc)}): fix the request and run the cell again."
        )
    if isinstance(exc, openai.APIError):
        code = f" ({exc.code})" if exc.code else ""
        return (
            f"The server sent an error in the middle of the stream{after}{code}: "
            f"{_server_message(exc)}; the text above is what arrived; run the cell again."
        )
    return f"The stream failed{after} with {type(exc).__name__}: {exc}"
