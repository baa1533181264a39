"""The Playground and the side-by-side views: what they send, what they show, how they recover."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import ipywidgets
import openai
import pytest
from openai.types.chat import ChatCompletion

from helpers.live import LiveView
from helpers.playground import (
    PLAYGROUND_REPR,
    SIDE_BY_SIDE_REPR,
    Playground,
    race,
    side_by_side,
    whole_answer,
)
from helpers.server.embedded import EmbeddedServer

pytestmark = pytest.mark.timeout(30)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CLIENT_TIMEOUT = 10.0


def _sse(pieces: list[str]) -> bytes:
    """A stream body as OpenAI frames it: role chunk, one chunk per piece, finish, [DONE]."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": piece} for piece in pieces]
    events = []
    for number, delta in enumerate([*deltas, {}]):
        finish = "stop" if number == len(deltas) else None
        chunk = {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "test-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        events.append(f"data: {json.dumps(chunk)}\n\n")
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key="test",
        max_retries=0,
        timeout=CLIENT_TIMEOUT,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


class Capture:
    """A fake server that answers every request with `pieces` and keeps the request bodies."""

    def __init__(self, pieces: list[str], status: int = 200) -> None:
        self.pieces = pieces
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        self.button_disabled: list[bool] = []
        self.playground: Playground | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        if self.playground is not None:
            self.button_disabled.append(self.playground.button.disabled)
        if self.status != 200:
            error = {"error": {"message": "slow down", "type": "requests", "code": None}}
            return httpx.Response(self.status, json=error, headers={"retry-after": "3"})
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=_sse(self.pieces)
        )


def _widgets(root: ipywidgets.Widget) -> list[ipywidgets.Widget]:
    found = [root]
    for child in getattr(root, "children", ()):
        found += _widgets(child)
    return found


def test_playground_sends_the_prompt_and_chosen_profile_to_the_simulation() -> None:
    server = Capture(["Hi", " there"])
    playground = Playground(_client(server), model="gpt-4o-mini-sim", simulated=True)
    playground.prompt.value = "Say hi"
    playground.profile.value = "fast"

    view = playground.stream()

    (body,) = server.bodies
    assert body["simulation"] == {"profile": "fast"}
    assert body["stream"] is True
    assert body["model"] == "gpt-4o-mini-sim"
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]
    assert view.recorder.text == "Hi there"
    assert playground.view is view


def test_playground_offers_no_profile_and_sends_none_to_other_backends() -> None:
    server = Capture(["ok"])
    playground = Playground(_client(server), model="llama3.2", simulated=False)

    playground.stream()

    assert "simulation" not in server.bodies[0]
    assert playground.profile not in _widgets(playground.widget)
    assert playground.button in _widgets(playground.widget)


def test_button_streams_and_is_disabled_only_while_streaming() -> None:
    server = Capture(["a", "b", "c"])
    playground = Playground(_client(server), model="m", simulated=True)
    server.playground = playground

    playground.button.click()

    assert server.button_disabled == [True]
    assert playground.button.disabled is False
    assert playground.view is not None
    assert playground.view.recorder.text == "abc"


def test_each_press_streams_into_a_new_view() -> None:
    playground = Playground(_client(Capture(["x"])), model="m", simulated=True)
    first = playground.stream()
    second = playground.stream()
    assert first is not second
    assert second.recorder.text == "x"


def test_an_api_error_is_shown_and_the_button_comes_back() -> None:
    playground = Playground(_client(Capture([], status=429)), model="m", simulated=True)

    view = playground.stream()

    assert "429" in view.value
    assert view.recorder.text == ""
    assert playground.button.disabled is False


def test_playground_streams_from_the_real_simulation() -> None:
    with EmbeddedServer(profile="instant") as server:
        client = openai.OpenAI(
            base_url=server.base_url, api_key="x", max_retries=0, timeout=CLIENT_TIMEOUT
        )
        playground = Playground(client, model="gpt-4o-mini-sim", simulated=True)
        playground.prompt.value = "What's 1+1? Answer in one word."
        playground.profile.value = "instant"
        view = playground.stream()
    assert view.recorder.text == "Two."
    assert view.recorder.finish_reasons == {0: "stop"}


def test_playground_has_the_classes_the_browser_test_finds() -> None:
    playground = Playground(_client(Capture([])), model="m", simulated=True)
    assert "streaming-lab-playground" in playground.widget._dom_classes
    assert "streaming-lab-playground-button" in playground.button._dom_classes
    assert "streaming-lab-playground-profile" in playground.profile._dom_classes
    assert list(playground.profile.options) == ["realistic", "fast", "instant"]


def test_playground_reads_as_a_sentence_where_widgets_are_not_shown() -> None:
    playground = Playground(_client(Capture([])), model="m", simulated=True)
    bundle = playground._repr_mimebundle_()
    assert bundle["text/plain"] == PLAYGROUND_REPR == repr(playground)
    assert bundle[WIDGET_VIEW]["model_id"] == playground.widget.model_id


def _completion(content: str) -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-whole",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
    )


def test_whole_answer_feeds_a_blocking_response_to_a_live_view_at_once() -> None:
    view = LiveView(backend_label="test")
    with view:
        count = sum(1 for _ in view.follow(whole_answer(_completion("1, 2, 3"))))
    assert count == 1
    assert view.recorder.text == "1, 2, 3"
    assert view.recorder.finish_reasons == {0: "stop"}
    assert view.recorder.usage is not None
    assert view.recorder.usage.completion_tokens == 3


class SlowAnswers:
    """Answers a blocking request with the whole text and a stream with `pieces`, each after
    `delay` seconds, and notes when each request arrived."""

    def __init__(self, pieces: list[str], delay: float) -> None:
        self.pieces, self.delay = pieces, delay
        self.arrived: dict[bool, float] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        streamed = bool(json.loads(request.content).get("stream"))
        self.arrived[streamed] = time.perf_counter()
        time.sleep(self.delay)
        if streamed:
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=_sse(self.pieces)
            )
        return httpx.Response(200, json=_completion("".join(self.pieces)).model_dump())


def test_the_race_sends_both_requests_at_once_and_shows_each_answer() -> None:
    answers = SlowAnswers(["1", ", 2", ", 3"], delay=0.5)
    messages: list[Any] = [{"role": "user", "content": "Count to 3."}]
    left, right = race(_client(answers), "m", messages)
    assert (left.recorder.text, right.recorder.text) == ("1, 2, 3", "1, 2, 3")
    assert (left.recorder.chunk_count, right.recorder.chunk_count) == (1, 5)
    assert "stream=False" in left.value and "stream=True" in right.value
    # Each request waited 0.5 s at the server: one after the other, they would arrive 0.5 s
    # apart.
    assert abs(answers.arrived[True] - answers.arrived[False]) < 0.25
    assert left.recorder.finish_reasons == right.recorder.finish_reasons == {0: "stop"}


def test_side_by_side_puts_each_view_in_one_row() -> None:
    left, right = LiveView(backend_label="a"), LiveView(backend_label="b")
    shown = side_by_side(left, right)
    outputs = shown.widget.children
    assert [o.outputs[0]["data"][WIDGET_VIEW]["model_id"] for o in outputs] == [
        left.model_id,
        right.model_id,
    ]
    assert "streaming-lab-side-by-side" in shown.widget._dom_classes
    assert shown._repr_mimebundle_()["text/plain"] == SIDE_BY_SIDE_REPR


def test_an_interrupt_marks_the_view_stopped_and_the_button_comes_back() -> None:
    def interrupted(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    playground = Playground(_client(interrupted), model="m", simulated=True)

    view = playground.stream()

    assert "stopped" in view.value
    assert view.recorder.stopped
    assert playground.button.disabled is False
