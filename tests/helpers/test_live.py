"""The live view: throttled updates, the final state, escaping, choices, errors and its reprs."""

from __future__ import annotations

import asyncio
import html
import itertools
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from helpers.errors import explain_error
from helpers.live import REPR, LiveView, StreamInterrupted
from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL
from tests.support.streams import (
    SSE_HEADERS,
    TIMEOUT,
    Reply,
    ScriptedServer,
    async_mock_client,
    chunk,
    loopback_client,
    mock_client,
    open_stream,
    sse,
    usage,
)

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("outside_ipython")]

# The documented budget (README, docs/benchmarks.md): at most 25 widget updates a second.
UPDATES_PER_SECOND = 25

_TEXT = re.compile(
    r"<div class='streaming-lab-live-text' data-choice='(\d+)'[^>]*>(.*?)</div>", re.S
)
_STATUS = re.compile(r"<div class='streaming-lab-live-status'[^>]*>(.*?)</div>", re.S)


def shown_texts(view: LiveView) -> dict[int, str]:
    """The text each choice's pane shows, unescaped."""
    return {int(index): html.unescape(text) for index, text in _TEXT.findall(view.value)}


def shown_status(view: LiveView) -> str:
    match = _STATUS.search(view.value)
    assert match is not None
    return html.unescape(match.group(1))


class Updates:
    """Records the widget's value changes (each one a message to the browser) and their times."""

    def __init__(self, view: LiveView) -> None:
        self.values: list[tuple[float, str]] = []
        view.observe(self._changed, names="value")

    @property
    def count(self) -> int:
        return len(self.values)

    def _changed(self, change: dict[str, Any]) -> None:
        self.values.append((time.perf_counter(), change["new"]))


def follow_all(view: LiveView, client: openai.OpenAI, **kwargs: Any) -> list[Any]:
    with open_stream(client, **kwargs) as stream:
        return list(view.follow(stream))


@pytest.mark.parametrize("model", ["llama3.2", "gpt-4o-mini"])
def test_ten_thousand_instant_chunks_are_throttled_and_end_whole(
    capsys: pytest.CaptureFixture[str], model: str
) -> None:
    """With either estimate of the tokens: one per chunk, or the pre-tokenizer every frame."""
    pieces = [f"t{i} " for i in range(10_000)]
    body = sse(
        chunk("", role="assistant", model=model),
        *(chunk(p, model=model) for p in pieces),
        chunk(finish_reason="stop", model=model),
    )
    view = LiveView(backend_label="test")
    updates = Updates(view)
    started = time.perf_counter()
    chunks = follow_all(view, mock_client(body))
    took = time.perf_counter() - started
    assert len(chunks) == 10_002
    # One refresh per frame at most, plus the first "streaming" state and the final one.
    assert updates.count <= took * UPDATES_PER_SECOND + 3
    assert updates.count < 1_000
    assert shown_texts(view) == {0: "".join(pieces)}
    assert "done" in shown_status(view)
    assert capsys.readouterr().out == "".join(pieces) + "\n"


def test_embedded_instant_stream_final_state_and_rate(embedded_server: EmbeddedServer) -> None:
    client = loopback_client(embedded_server.base_url)
    view = LiveView(backend_label="embedded simulation")
    updates = Updates(view)
    started = time.perf_counter()
    follow_all(
        view,
        client,
        model=SIMULATED_MODEL,
        messages=[{"role": "user", "content": "Count to 1000."}],
        stream_options={"include_usage": True},
    )
    took = time.perf_counter() - started
    expected = ", ".join(str(n) for n in range(1, 1001))
    assert shown_texts(view) == {0: expected}
    assert updates.count <= took * UPDATES_PER_SECOND + 3
    status = shown_status(view)
    assert status.startswith("embedded simulation · done · ")
    assert view.recorder.usage is not None
    assert f"· {view.recorder.usage.completion_tokens} tokens ·" in status
    assert "tokens/s" in status
    assert view.recorder.problems == []


def test_a_stalled_stream_still_shows_what_arrived() -> None:
    """Text that arrives just after a refresh must not wait for the next chunk to be shown."""
    parts = [sse(chunk("a"), done=False), sse(chunk("b"), done=False), sse(chunk("c"))]
    with ScriptedServer(parts, delays=[0.0, 0.005, 0.6]) as server:
        view = LiveView(backend_label="test")
        view.recorder.start()
        updates = Updates(view)
        follow_all(view, server.client())
    start = time.perf_counter() - view.recorder.elapsed()
    arrived = {event.text: start + event.seconds for event in view.recorder.events}
    assert arrived["c"] - arrived["b"] > 0.5
    shown_ab = [at for at, value in updates.values if "<div" in value and "ab</div>" in value]
    assert shown_ab, "the text before the stall was never shown"
    # Within a frame plus one poll of its arrival, long before the stall ended.
    assert shown_ab[0] - arrived["b"] < 1 / UPDATES_PER_SECOND + 0.1
    assert shown_texts(view) == {0: "abc"}


def test_a_steady_stream_is_shown_25_times_a_second_not_more_or_much_less() -> None:
    """100 chunks 10 ms apart: about one second of text, so about 25 updates; a budget of
    4 ms would send about 100, one of half a second about 2."""
    parts = [sse(chunk("", role="assistant"), done=False)]
    parts += [sse(chunk(f"{i} "), done=False) for i in range(100)]
    parts.append(sse(chunk(finish_reason="stop")))
    with ScriptedServer(parts, delays=[0.0] + [0.01] * 101) as server:
        view = LiveView(backend_label="test")
        view.recorder.start()
        updates = Updates(view)
        follow_all(view, server.client())
    took = view.recorder.elapsed()
    assert took > 0.9
    times = [at for at, _ in updates.values]
    # Between the first ("streaming") and the final update, never two within a frame.
    gaps = [later - earlier for earlier, later in itertools.pairwise(times[1:-1])]
    assert min(gaps) >= 1 / UPDATES_PER_SECOND - 0.002
    assert took * UPDATES_PER_SECOND / 2 <= updates.count <= took * UPDATES_PER_SECOND + 3


def test_the_status_times_the_first_token_not_the_role_chunk() -> None:
    """The role chunk comes at once, the first text 0.3 s later: the status says 0.3 s."""
    parts = [
        sse(chunk("", role="assistant"), done=False),
        sse(chunk("Hi"), done=False),
        sse(chunk(finish_reason="stop")),
    ]
    with ScriptedServer(parts, delays=[0.0, 0.3, 0.0]) as server:
        view = LiveView(backend_label="test")
        follow_all(view, server.client())
    first_token = re.search(r"first token (\d+\.\d\d) s", shown_status(view))
    assert first_token is not None
    assert 0.3 <= float(first_token.group(1)) < 0.6


def test_model_output_is_escaped() -> None:
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)> & done"
    view = LiveView(title="<b>title</b>", backend_label="<i>label</i>")
    follow_all(view, mock_client(sse(chunk(hostile), chunk(finish_reason="stop"))))
    assert "<script" not in view.value
    assert "<img" not in view.value
    assert "<b>title" not in view.value and "<i>label" not in view.value
    assert shown_texts(view) == {0: hostile}


def test_several_choices_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    body = sse(
        chunk("", index=0, role="assistant"),
        chunk("", index=1, role="assistant"),
        chunk("Left", index=0),
        chunk("Right", index=1),
        chunk(index=0, finish_reason="stop"),
        chunk(index=1, finish_reason="stop"),
    )
    view = LiveView(backend_label="test")
    follow_all(view, mock_client(body), n=2)
    assert shown_texts(view) == {0: "Left", 1: "Right"}
    assert "display:flex" in view.value
    assert capsys.readouterr().out == "[choice 0]\nLeft\n\n[choice 1]\nRight\n"


def test_reprs_speak_to_a_learner() -> None:
    view = LiveView(backend_label="test")
    assert repr(view) == REPR
    bundle = view._repr_mimebundle_()
    assert bundle is not None
    assert bundle["text/plain"] == REPR
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "streaming-lab-live" in view._dom_classes
    assert "HTML(" not in REPR


def test_status_says_how_the_tokens_were_counted() -> None:
    for model, shown in [
        ("llama3.2", "· ≈1 token, one per text chunk ·"),
        ("gpt-4o-mini", "· ≈3 tokens, estimated with the o200k pre-tokenizer ·"),
    ]:
        view = LiveView(backend_label="test")
        body = sse(chunk("one two three", model=model), chunk(finish_reason="stop", model=model))
        follow_all(view, mock_client(body))
        assert shown in shown_status(view)

    exact = LiveView(backend_label="test")
    body = sse(chunk("one two three"), chunk(finish_reason="stop", usage=usage(4, 7)))
    follow_all(exact, mock_client(body))
    assert "· 7 tokens ·" in shown_status(exact)


_TOKENS = re.compile(r"· ≈?(\d+) tokens?(?:, ([^·]+))? ·")


def status_tokens(status: str) -> tuple[int, str]:
    """The token count a status line shows, and how it says it was counted."""
    match = _TOKENS.search(status)
    assert match is not None, status
    return int(match.group(1)), (match.group(2) or "usage").strip()


@pytest.mark.parametrize(
    ("model", "count", "how"),
    [
        ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", 64, "one per text chunk"),
        ("gpt-4o-mini-sim", 32, "estimated with the o200k pre-tokenizer"),
    ],
)
def test_the_count_does_not_jump_when_the_stream_ends(model: str, count: int, how: str) -> None:
    """The bug this guards: llama.cpp's 64 one-token chunks showed ≈64 tokens while streaming,
    then ≈30 once the stream ended, counted again with the pre-tokenizer. Whichever way a
    model's tokens are estimated, the count while streaming is the one the end shows."""
    view = LiveView(backend_label="test")
    view._begin([])
    for piece in ["Sun", "light"] * 32:  # "Sunlight" is one o200k token
        view._take(_chunk_of(piece, model=model), time.perf_counter())
        view._status()  # as a frame would, so the count is made chunk by chunk
    streaming = view._status()
    assert "streaming" in streaming
    view._end()
    assert status_tokens(streaming) == (count, how)
    assert status_tokens(shown_status(view)) == (count, how)
    assert view.recorder.metrics.output_tokens == count


def test_default_label_comes_from_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    # No client made yet (another test may have made one): the environment decides.
    monkeypatch.setattr("helpers.backend._current", None)
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "TUTORIAL_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    assert shown_status(LiveView()).startswith("embedded simulation · waiting")
    monkeypatch.setenv("TUTORIAL_BACKEND", "nonsense")
    assert shown_status(LiveView()).startswith("backend not configured")


def test_silent_failures_are_shown_beside_the_text(capsys: pytest.CaptureFixture[str]) -> None:
    view = LiveView(backend_label="test")
    follow_all(view, mock_client(sse(chunk("cut"), done=False)))
    assert "No finish_reason" in view.value
    assert "[DONE]" in view.value
    out = capsys.readouterr().out
    assert out.startswith("cut\n\nNo finish_reason")


def test_mid_stream_error_is_one_sentence_beside_the_partial_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = {"error": {"code": 500, "message": "engine crashed", "type": "server_error"}}
    view = LiveView(backend_label="test")
    after = follow_all(view, mock_client(sse(chunk("Half"), chunk(" done"), error)))
    assert len(after) == 2
    assert shown_texts(view) == {0: "Half done"}
    assert "error" in shown_status(view)
    sentence = explain_error(view.recorder.error or Exception(), 2)
    assert html.escape(sentence) in view.value
    assert "engine crashed" in sentence and "(500)" in sentence
    assert view.recorder.metrics.ttft is not None
    assert capsys.readouterr().out == f"Half done\n\n{sentence}\n"


def test_errors_raise_shows_then_raises() -> None:
    error = {"error": {"message": "boom"}}
    view = LiveView(backend_label="test", errors="raise")
    with pytest.raises(openai.APIError, match="boom"):
        follow_all(view, mock_client(sse(chunk("x"), error)))
    assert "boom" in view.value
    assert shown_texts(view) == {0: "x"}


def test_connection_dropped_mid_stream() -> None:
    reply = Reply([sse(chunk("part"), done=False)], fail=httpx.RemoteProtocolError("gone"))
    view = LiveView(backend_label="test")
    follow_all(view, mock_client(reply))
    assert "The connection broke after 1 chunks" in view.value
    assert shown_texts(view) == {0: "part"}


def test_embedded_disconnect_and_error_event(embedded_server: EmbeddedServer) -> None:
    client = loopback_client(embedded_server.base_url)
    ask = {"model": SIMULATED_MODEL, "messages": [{"role": "user", "content": "Count to 50."}]}
    for fault, words in [("disconnect", "connection broke"), ("error_event", "in the middle")]:
        view = LiveView(backend_label="test")
        simulation = {"simulation": {"fault": fault, "after_chunks": 6}}
        follow_all(view, client, extra_body=simulation, **ask)
        assert words in view.value
        shown = shown_texts(view)[0]
        assert shown == view.recorder.text
        assert shown and ", ".join(str(n) for n in range(1, 51)).startswith(shown)
        assert view.recorder.chunk_count == 6
        assert view.recorder.error is not None


@pytest.mark.parametrize(
    ("simulation", "words"),
    [
        ({"fault": "rate_limit", "retry_after": 2}, "wait 2 s"),
        ({"fault": "unauthorized"}, "401 Unauthorized"),
        ({"fault": "server_error"}, "HTTP 500"),
    ],
)
def test_errors_raised_by_create_are_caught_by_the_view(
    embedded_server: EmbeddedServer, simulation: dict[str, Any], words: str
) -> None:
    client = loopback_client(embedded_server.base_url)
    view = LiveView(backend_label="test")
    with view, open_stream(client, model=SIMULATED_MODEL, extra_body={"simulation": simulation}):
        raise AssertionError("create() should have raised")
    assert words in view.value
    assert "error" in shown_status(view)
    assert isinstance(view.recorder.error, openai.APIStatusError)


def test_unknown_model_is_explained(embedded_server: EmbeddedServer) -> None:
    client = loopback_client(embedded_server.base_url)
    view = LiveView(backend_label="test")
    with view, open_stream(client, model="no-such-model"):
        pass
    assert "404 model_not_found" in view.value


def test_view_as_context_manager_lets_other_errors_through() -> None:
    view = LiveView(backend_label="test", errors="show")
    with pytest.raises(ValueError), view:
        raise ValueError("a bug in the learner's loop")
    assert "ValueError" in view.value

    strict = LiveView(backend_label="test", errors="raise")
    with pytest.raises(openai.APIConnectionError), strict:
        open_stream(loopback_client("http://127.0.0.1:9/v1"))
    assert "Could not reach the server" in strict.value


def test_timeout_is_explained() -> None:
    parts = [sse(chunk("slow"), done=False), sse(chunk(finish_reason="stop"))]
    with ScriptedServer(parts, delays=[0.0, 3.0]) as server:
        view = LiveView(backend_label="test")
        follow_all(view, server.client(timeout=0.3))
    assert "timed out after 1 chunks" in view.value
    assert shown_texts(view) == {0: "slow"}


def test_leaving_the_loop_early_stops_the_view() -> None:
    body = sse(*(chunk(f"{i} ") for i in range(50)), chunk(finish_reason="stop"))
    view = LiveView(backend_label="test")
    with open_stream(mock_client(body)) as stream:
        for position, _ in enumerate(view.follow(stream)):
            if position == 4:
                break
    assert "stopped" in shown_status(view)
    assert shown_texts(view) == {0: "0 1 2 3 4 "}
    assert view.recorder.stopped


def _tickers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "live-view-ticker"]


def test_the_ticker_thread_ends_with_the_stream() -> None:
    """Whether the stream ends, the loop is left early or the learner's loop body fails inside
    `with view:`, no refresh thread is left running."""
    body = sse(*(chunk(f"{i} ") for i in range(20)), chunk(finish_reason="stop"))
    follow_all(LiveView(backend_label="test"), mock_client(body))
    assert _tickers() == []

    with open_stream(mock_client(body)) as stream:
        for _ in LiveView(backend_label="test").follow(stream):
            break
    assert _tickers() == []

    view = LiveView(backend_label="test")
    kept: list[Any] = []
    with pytest.raises(ValueError), view, open_stream(mock_client(body)) as stream:
        kept.append(follow := view.follow(stream))
        for _ in follow:
            raise ValueError("a bug in the learner's loop")
    assert kept and _tickers() == []
    assert "ValueError" in view.value


def test_a_view_follows_one_stream() -> None:
    view = LiveView(backend_label="test")
    follow_all(view, mock_client(sse(chunk("a"), chunk(finish_reason="stop"))))
    with pytest.raises(AssertionError, match="one stream"):
        follow_all(view, mock_client(sse(chunk("a"))))
    with pytest.raises(AssertionError, match="'show' or 'raise'"):
        LiveView(errors="loud")  # type: ignore[arg-type]


def test_async_follow(capsys: pytest.CaptureFixture[str]) -> None:
    pieces = [f"{i}, " for i in range(300)]
    body = sse(*(chunk(p) for p in pieces), chunk(finish_reason="stop"))

    async def run() -> tuple[LiveView, int]:
        client = async_mock_client(body)
        view = LiveView(backend_label="test")
        updates = Updates(view)
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async with stream:
            received = [c async for c in view.afollow(stream)]
        await client.close()
        assert len(received) == 301
        return view, updates.count

    view, count = asyncio.run(run())
    assert shown_texts(view) == {0: "".join(pieces)}
    assert count >= 2
    assert view.recorder.done_seen is True
    assert capsys.readouterr().out == "".join(pieces) + "\n"


def test_async_follow_shows_mid_stream_errors() -> None:
    async def run() -> LiveView:
        client = async_mock_client(sse(chunk("so far"), {"error": {"message": "nope"}}))
        view = LiveView(backend_label="test")
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async for _ in view.afollow(stream):
            pass
        await client.close()
        return view

    view = asyncio.run(run())
    assert "nope" in view.value
    assert shown_texts(view) == {0: "so far"}


def test_cancelling_an_async_follow_stops_the_view(capsys: pytest.CaptureFixture[str]) -> None:
    async def run() -> LiveView:
        reply = Reply([sse(chunk("early"), done=False), sse(chunk(" late"))], delays=[0.0, 10.0])
        client = async_mock_client(reply)
        view = LiveView(backend_label="test")
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )

        async def consume() -> None:
            async for _ in view.afollow(stream):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.close()
        return view

    view = asyncio.run(asyncio.wait_for(run(), 5))
    assert "stopped" in shown_status(view)
    assert shown_texts(view) == {0: "early"}
    assert view.recorder.stopped
    assert capsys.readouterr().out.startswith("early\n\nStopped")


# -- the frame budget's parts, found untested by mutation testing (docs/mutation.md) ----------


def _chunk_of(text: str, **extra: Any) -> openai.types.chat.ChatCompletionChunk:
    return openai.types.chat.ChatCompletionChunk.model_validate(chunk(text, **extra))


def test_an_async_read_blocks_until_the_next_frame_and_no_longer() -> None:
    """With nothing new to show a read may block a whole poll (0.1 s); with news, only until one
    frame (0.04 s) after the last refresh, and not at all once that frame is past."""
    view = LiveView(backend_label="test")
    assert view._wait() == 0.1
    view._dirty = True
    view._last_push = time.perf_counter()
    assert 0.0 < view._wait() <= 0.04
    view._last_push = time.perf_counter() - 1.0
    assert view._wait() == 0.0


def test_a_plain_iterable_is_timed_as_the_view_reads_it() -> None:
    """Chunks that come from no openai stream (a list here) are stamped when `follow` reads them."""
    chunks = [_chunk_of("Hello"), _chunk_of(" world")]
    view = LiveView(backend_label="test")
    assert list(view.follow(chunks)) == chunks
    seconds = [event.seconds for event in view.recorder.events]
    assert len(seconds) == 2 and 0.0 <= seconds[0] <= seconds[1] < 1.0
    assert shown_texts(view) == {0: "Hello world"}


def test_a_frame_is_not_sent_again_while_nothing_new_arrives() -> None:
    """After a refresh the ticker stays quiet until another chunk comes: one update, not one a
    frame, for a chunk followed by silence."""
    view = LiveView(backend_label="test")
    view._begin([])
    updates = Updates(view)
    view._take(_chunk_of("Hi"), time.perf_counter())
    for _ in range(2):
        time.sleep(0.05)
        view._refresh()
    assert updates.count == 1
    assert shown_texts(view) == {0: "Hi"}


# -- an interrupt (■) stops the view, keeps the text, and goes on ----------------------------

ONE_LINE = "Interrupted: the stream stopped, this cell ended, and queued cells were skipped."


def _check_one_line(error: BaseException) -> None:
    """What IPython shows of `error`: the one line, none of the traceback it hides."""
    assert error.__suppress_context__ and error.__cause__ is None
    assert error._render_traceback_() == [ONE_LINE]  # type: ignore[attr-defined]


def test_an_interrupt_stops_the_view_then_goes_on(capsys: pytest.CaptureFixture[str]) -> None:
    """■ sends SIGINT, which lands in the blocked read, inside `follow`: thrown in there."""
    view = LiveView(backend_label="test")
    following = view.follow([_chunk_of("1, "), _chunk_of("2, "), _chunk_of("3")])
    assert [next(following), next(following)]
    with pytest.raises(KeyboardInterrupt) as caught:
        following.throw(KeyboardInterrupt())
    assert type(caught.value) is StreamInterrupted
    assert str(caught.value) == ONE_LINE
    _check_one_line(caught.value)
    assert view.recorder.stopped
    assert shown_texts(view) == {0: "1, 2, "}
    assert "· stopped ·" in shown_status(view)
    assert capsys.readouterr().out == "1, 2, \n\nStopped: the text above is what had arrived.\n"


def _interrupted_client(requests: list[httpx.Request]) -> openai.OpenAI:
    """Every answer streams "1, 2, " and is then interrupted in the middle of a read."""

    def body() -> Iterator[bytes]:
        yield sse(chunk("1, "), chunk("2, "), done=False)
        raise KeyboardInterrupt

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, headers=SSE_HEADERS, content=body())

    transport = httpx.MockTransport(handle)
    return openai.OpenAI(
        api_key="k",
        base_url="http://mock.invalid/v1",
        max_retries=0,
        http_client=httpx.Client(transport=transport, timeout=TIMEOUT),
    )


def test_an_interrupt_ends_a_cell_that_streams_several_prompts() -> None:
    """The bug this guards: the view swallowed the interrupt, so one press of ■ ended one
    stream and the loop sent the next request."""
    requests: list[httpx.Request] = []
    client = _interrupted_client(requests)
    views: list[LiveView] = []
    with pytest.raises(StreamInterrupted):
        for prompt in ["Count to 10.", "Count to 20.", "Count to 30."]:
            views.append(view := LiveView(backend_label="test"))
            with view, open_stream(client, messages=[{"role": "user", "content": prompt}]) as s:
                for _ in view.follow(s):
                    pass
    assert len(requests) == 1
    (view,) = views
    assert view.recorder.stopped and view.recorder.text == "1, 2, "


def test_an_interrupt_outside_the_read_is_stopped_by_the_view_too() -> None:
    """■ pressed while the learner's loop body runs, or while `create()` waits: the view
    stops on the way out of `with view` and the interrupt goes on as one line."""
    view = LiveView(backend_label="test")
    with pytest.raises(StreamInterrupted) as caught, view:
        for _ in view.follow([_chunk_of("1, "), _chunk_of("2, ")]):
            raise KeyboardInterrupt
    _check_one_line(caught.value)
    assert view.recorder.stopped and view.recorder.text == "1, "

    waiting = LiveView(backend_label="test")
    with pytest.raises(StreamInterrupted), waiting:
        raise KeyboardInterrupt
    assert "· stopped ·" in shown_status(waiting)


def test_an_interrupt_after_the_stream_ended_is_left_alone() -> None:
    """The stream finished: an interrupt later in `with view` is not the view's to explain."""
    view = LiveView(backend_label="test")
    with pytest.raises(KeyboardInterrupt) as caught, view:
        list(view.follow([_chunk_of("done", finish_reason="stop")]))
        raise KeyboardInterrupt
    assert type(caught.value) is KeyboardInterrupt
    assert "· done ·" in shown_status(view)


async def _slow_stream(*texts: str) -> Any:
    for text in texts:
        yield _chunk_of(text)
    await asyncio.sleep(30)


def test_an_interrupt_in_an_async_follow_goes_on_as_one_line() -> None:
    async def run() -> tuple[LiveView, BaseException]:
        view = LiveView(backend_label="test")
        following = view.afollow(_slow_stream("1, ", "2, "))
        await anext(following)
        await anext(following)
        try:
            await following.athrow(KeyboardInterrupt())
        except KeyboardInterrupt as error:
            return view, error
        raise AssertionError("the interrupt was swallowed")

    view, error = asyncio.run(asyncio.wait_for(run(), 5))
    assert type(error) is StreamInterrupted
    _check_one_line(error)
    assert view.recorder.stopped and shown_texts(view) == {0: "1, 2, "}


def test_a_cancelled_async_follow_goes_on_as_the_same_cancellation() -> None:
    """ipykernel interrupts an awaited cell by cancelling it. The CancelledError goes on as
    it came, its class unchanged so asyncio still knows it, and IPython shows it in one line."""

    async def run() -> tuple[LiveView, list[BaseException]]:
        view = LiveView(backend_label="test")
        seen: list[BaseException] = []

        async def cell() -> None:
            try:
                async for _ in view.afollow(_slow_stream("1, ")):
                    pass
            except BaseException as error:
                seen.append(error)
                raise

        task = asyncio.create_task(cell())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return view, seen

    view, (error,) = asyncio.run(asyncio.wait_for(run(), 5))
    assert type(error) is asyncio.CancelledError
    assert error._render_traceback_() == [ONE_LINE]  # type: ignore[attr-defined]
    assert view.recorder.stopped and shown_texts(view) == {0: "1, "}


def test_a_deadline_around_an_async_follow_is_still_a_timeout() -> None:
    """`asyncio.timeout` turns the cancellation it caused into TimeoutError only when it gets
    exactly CancelledError back (`is`, not isinstance): the view must not change its class."""

    async def run() -> LiveView:
        view = LiveView(backend_label="test")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                async for _ in view.afollow(_slow_stream("1, ")):
                    pass
        return view

    view = asyncio.run(asyncio.wait_for(run(), 5))
    assert view.recorder.stopped
