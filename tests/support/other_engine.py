"""A second OpenAI-compatible engine, independent of `helpers`, with real engines' habits.

What it does that the simulation does not, each one a habit of vLLM, llama.cpp or Ollama:

1. No role-only first chunk: the role comes on the first text delta, on every delta (llama.cpp),
   or on a first chunk whose `content` is null (`Habits.role`).
2. Usage only when `stream_options.include_usage` asks, on the finish chunk itself (llama.cpp)
   or on a chunk of its own with no choices (vLLM, OpenAI) (`Habits.usage_on_finish_chunk`).
3. Optional `reasoning_content` deltas before the answer (vLLM, DeepSeek, llama.cpp with a
   reasoning model) (`Habits.reasoning`); they count towards `max_tokens` and the usage.
4. SSE framed with CRLF, with `: ping` keep-alive comments between events (sse-starlette).
5. Several words in one delta, a few milliseconds apart.
6. Unknown request fields ignored; an unknown model refused with 404 (vLLM); every path but
   `/v1/models` and `/v1/chat/completions` answered with llama.cpp's 404 body: no `/health`,
   no Responses API.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL = "tiny-engine"
FALLBACK_REPLY = "I am a tiny engine, and this is the only other thing I can say."
REASONING = "The user wants a short, exact answer. I will give it without any preamble."
# Longer counts would let one request stream for minutes.
MAX_COUNT = 1000
# A word (with the space before it), one punctuation mark, or trailing space: a token each.
_TOKEN = re.compile(r"\s*[A-Za-z0-9']+|\s*[^\sA-Za-z0-9']|\s+")
_COUNT = re.compile(r"\bcount to (\d+)", re.IGNORECASE)
_SAY = re.compile(r"^\s*say:\s*(.+)$", re.IGNORECASE | re.DOTALL)
_ids = itertools.count(1)
PING = b": ping\r\n\r\n"

Role = Literal["first", "every", "null_first"]


@dataclass(frozen=True)
class Habits:
    """How the engine streams; the defaults are llama.cpp's with a reasoning model."""

    role: Role = "every"
    usage_on_finish_chunk: bool = True
    reasoning: bool = True
    ping_every: int = 3
    words_per_delta: Sequence[int] = (2, 3, 4)
    seconds_per_chunk: float = 0.003
    seconds_to_first_chunk: float = 0.02


def tokens(text: str) -> list[str]:
    """`text` split into tokens that join back into it."""
    found = _TOKEN.findall(text)
    assert "".join(found) == text, text
    return found


def reply_to(prompt: str) -> str:
    """The deterministic answer to the last user message."""
    if count := _COUNT.search(prompt):
        return ", ".join(str(n) for n in range(1, min(int(count[1]), MAX_COUNT) + 1))
    if said := _SAY.match(prompt):
        return said[1].strip()
    return FALLBACK_REPLY


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message, "type": kind}}, status)


@dataclass(frozen=True)
class Answer:
    """One request's answer: reasoning and content tokens within the budget, and its usage."""

    reasoning: list[str]
    content: list[str]
    finish_reason: str
    prompt_tokens: int

    @property
    def usage(self) -> dict[str, int]:
        completion = len(self.reasoning) + len(self.content)
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }


def plan_answer(body: dict[str, Any], habits: Habits) -> Answer:
    """What `body` gets: the reply cut at a stop string or at the token budget."""
    messages = body["messages"]
    prompt = next(
        (_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    reply = reply_to(prompt)
    finish = "stop"
    stops = body.get("stop") or []
    for stop in [stops] if isinstance(stops, str) else stops:
        if stop and stop in reply:
            reply = reply[: reply.index(stop)]
    limits = [body.get(name) for name in ("max_tokens", "max_completion_tokens")]
    budget = min((limit for limit in limits if isinstance(limit, int)), default=None)
    thought = tokens(REASONING) if habits.reasoning else []
    content = tokens(reply)
    if budget is not None and len(thought) + len(content) > budget:
        thought, content = thought[:budget], content[: max(0, budget - len(thought))]
        finish = "length"
    prompt_tokens = sum(len(tokens(_text(m.get("content")))) + 3 for m in messages) + 3
    return Answer(thought, content, finish, prompt_tokens)


def _deltas(pieces: list[str], habits: Habits) -> list[str]:
    sizes = itertools.cycle(habits.words_per_delta)
    grouped, start = [], 0
    while start < len(pieces):
        size = next(sizes)
        grouped.append("".join(pieces[start : start + size]))
        start += size
    return grouped


def _frame(payload: str) -> bytes:
    return f"data: {payload}\r\n\r\n".encode()


async def _events(answer: Answer, body: dict[str, Any], habits: Habits) -> AsyncIterator[bytes]:
    ident, created = f"chatcmpl-tiny{next(_ids):06d}", int(time.time())
    options = body.get("stream_options") or {}
    with_usage = bool(options.get("include_usage"))

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
        choices = [] if delta is None else [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        ]
        return _frame(json.dumps({
            "id": ident, "object": "chat.completion.chunk", "created": created, "model": MODEL,
            "choices": choices, **extra,
        }))

    deltas = [("reasoning_content", text) for text in _deltas(answer.reasoning, habits)]
    deltas += [("content", text) for text in _deltas(answer.content, habits)]
    events: list[bytes] = []
    if habits.role == "null_first":
        events.append(chunk({"role": "assistant", "content": None}))
    for number, (field, text) in enumerate(deltas):
        with_role = habits.role == "every" or (habits.role == "first" and number == 0)
        events.append(chunk({"role": "assistant", field: text} if with_role else {field: text}))
    on_finish = with_usage and habits.usage_on_finish_chunk
    events.append(chunk({}, answer.finish_reason, **({"usage": answer.usage} if on_finish else {})))
    if with_usage and not on_finish:
        events.append(chunk(None, usage=answer.usage))
    events.append(_frame("[DONE]"))
    await asyncio.sleep(habits.seconds_to_first_chunk)
    for number, event in enumerate(events):
        if number and number % habits.ping_every == 0:
            yield PING
        yield event
        await asyncio.sleep(habits.seconds_per_chunk)


def create_app(habits: Habits) -> Starlette:
    """The engine's ASGI app."""

    async def models(request: Request) -> Response:
        listed = {"id": MODEL, "object": "model", "created": 0, "owned_by": "tiny"}
        return JSONResponse({"object": "list", "data": [listed]})

    async def completions(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "the request body is not JSON", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "'messages' is required", "invalid_request_error")
        if body.get("model") != MODEL:
            return _error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
        answer = plan_answer(body, habits)
        if body.get("stream"):
            return StreamingResponse(
                _events(answer, body, habits),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache"},
            )
        message = {"role": "assistant", "content": "".join(answer.content) or None}
        if habits.reasoning:
            message["reasoning_content"] = "".join(answer.reasoning)
        choice = {"index": 0, "message": message, "logprobs": None,
                  "finish_reason": answer.finish_reason}
        return JSONResponse({
            "id": f"chatcmpl-tiny{next(_ids):06d}", "object": "chat.completion",
            "created": int(time.time()), "model": MODEL, "choices": [choice],
            "usage": answer.usage,
        })

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return _error(404, "File Not Found", "not_found_error")
        return _error(status, "Method Not Allowed" if status == 405 else "Error", "server_error")

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", completions, methods=["POST"]),
        ],
        exception_handlers={HTTPException: not_found},
    )


@contextmanager
def run_engine(habits: Habits = Habits(), start_timeout: float = 10) -> Iterator[str]:
    """The engine on a free loopback port in a background thread; yields its base URL (`/v1`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(habits), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the engine did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
