"""The recorder against recorded OpenAI streams, engine-style streams, errors and interrupts."""

from __future__ import annotations

import _thread
import asyncio
import itertools
import json
import threading
import time

import httpx
import openai
import pytest

from helpers.chunk_event import ChunkEvent
from helpers.recorder import Recorder
from tests.support.streams import (
    DROP,
    Reply,
    ScriptedServer,
    async_mock_client,
    chunk,
    llamacpp_style,
    load_cassette,
    mock_client,
    ollama_style,
    open_stream,
    reply_of,
    sse,
    text_parts,
    usage,
    vllm_style,
    without_choices,
)

pytestmark = pytest.mark.timeout(30)


def _cassette_texts(body: bytes) -> tuple[str, list[str]]:
    """Text and finish reasons read straight from the raw SSE body, without the client."""
    text, finishes = [], []
    for line in body.decode().splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        for choice in json.loads(line[6:]).get("choices") or []:
            text.append(choice["delta"].get("content") or "")
            if choice["finish_reason"]:
                finishes.append(choice["finish_reason"])
    return "".join(text), finishes


def _record(client: openai.OpenAI, **kwargs: object) -> Recorder:
    rec = Recorder()
    rec.start()
    with open_stream(client, **kwargs) as stream:
        for _ in rec.record(stream):
            pass
    return rec


@pytest.mark.parametrize("split", [0, 1, 7, 64])
@pytest.mark.parametrize("name", ["chat-streaming", "chat-streaming-web-search"])
def test_recorded_openai_stream_is_recorded_whole(name: str, split: int) -> None:
    cassette = load_cassette(name)
    rec = _record(mock_client(reply_of(cassette, split)))
    expected_text, finishes = _cassette_texts(cassette.body)
    assert rec.text == expected_text
    assert len(expected_text) > 20
    assert rec.finish_reasons == {0: finishes[-1]}
    assert rec.done_seen is True
    assert rec.problems == []
    assert rec.chunk_count == cassette.body.count(b"data: {")
    assert rec.events[0].role == "assistant"
    assert rec.metrics.tokens_estimated  # these requests did not ask for usage


def test_recorded_usage_chunk_without_choices_gives_exact_tokens() -> None:
    cassette = load_cassette("chat-streaming-detailed-usage")
    rec = _record(mock_client(reply_of(cassette)))
    assert rec.usage is not None
    assert rec.usage.completion_tokens == 100
    assert rec.usage.completion_tokens_details is not None
    assert rec.usage.completion_tokens_details.reasoning_tokens == 100
    last = rec.events[-1]
    assert (last.index, last.text, last.usage) == (None, "", rec.usage)
    assert rec.metrics.output_tokens == 100
    assert not rec.metrics.tokens_estimated
    assert rec.text == ""
    assert any("token limit" in problem for problem in rec.problems)


def test_json_answer_to_a_streaming_request_is_flagged() -> None:
    cassette = load_cassette("chat-basic")
    assert cassette.content_type.startswith("application/json")
    rec = _record(mock_client(reply_of(cassette)))
    assert rec.chunk_count == 0
    assert rec.events == []
    assert len(rec.problems) == 1
    assert "No chunk arrived" in rec.problems[0]


def test_vllm_style_stream() -> None:
    pieces = ["Hel", "lo", " there", "!"]
    rec = _record(mock_client(vllm_style(pieces)))
    assert rec.text == "Hello there!"
    assert rec.usage is not None and rec.usage.completion_tokens == 4
    assert rec.finish_reasons == {0: "stop"}
    assert rec.problems == []
    assert rec.metrics.output_tokens == 4


def test_llamacpp_style_null_content_usage_and_timings_on_finish_chunk() -> None:
    pieces = ["One", ",", " two"]
    rec = _record(mock_client(llamacpp_style(pieces)))
    assert rec.text == "One, two"
    assert rec.events[0].text == ""
    assert rec.events[0].role == "assistant"
    finish = rec.events[-1]
    assert finish.finish_reason == "stop"
    assert finish.usage is not None and finish.usage.completion_tokens == 3
    assert rec.problems == []


def test_ollama_style_role_on_every_chunk_and_text_with_finish() -> None:
    rec = _record(mock_client(ollama_style(["Hi", " you", " all"])))
    assert rec.text == "Hi you all"
    assert [event.role for event in rec.events] == ["assistant"] * 3
    assert rec.events[-1].text == " all"
    assert rec.events[-1].finish_reason == "stop"
    assert rec.usage is None
    assert rec.metrics.tokens_estimated
    assert rec.metrics.output_tokens == 3


@pytest.mark.parametrize(
    "odd", [without_choices(), without_choices(choices=None), without_choices(choices=[])]
)
def test_chunks_without_choices_are_recorded_and_tolerated(odd: dict[str, object]) -> None:
    body = sse(chunk("", role="assistant"), odd, chunk("Yes"), odd, chunk(finish_reason="stop"))
    rec = _record(mock_client(body))
    assert rec.text == "Yes"
    assert rec.chunk_count == 5
    assert [event.index for event in rec.events] == [0, None, 0, None, 0]
    assert rec.metrics.chunks == 3
    assert rec.problems == []


def test_several_tokens_per_chunk_and_reasoning_content() -> None:
    body = sse(
        chunk(None, role="assistant", delta_extra={"reasoning_content": "Think. "}),
        chunk(None, delta_extra={"reasoning_content": "Done."}),
        chunk("Two plus two is four."),
        chunk(finish_reason="stop", usage=usage(5, 11)),
    )
    rec = _record(mock_client(body))
    assert rec.text == "Two plus two is four."
    assert rec.reasoning == "Think. Done."
    assert rec.metrics.output_tokens == 11
    assert rec.metrics.chunks == 4


def test_missing_done_and_missing_finish_reason_are_flagged() -> None:
    no_done = _record(mock_client(sse(chunk("a"), chunk(finish_reason="stop"), done=False)))
    assert no_done.done_seen is False
    assert [p for p in no_done.problems if "[DONE]" in p]
    assert not [p for p in no_done.problems if "finish_reason" in p]

    no_finish = _record(mock_client(sse(chunk("a"), chunk("b"))))
    assert no_finish.done_seen is True
    assert len(no_finish.problems) == 1
    assert "No finish_reason" in no_finish.problems[0]


def _arecord(body: bytes) -> Recorder:
    async def run() -> Recorder:
        rec = Recorder()
        async with async_mock_client(body) as client:
            stream = await client.chat.completions.create(
                model="test-model", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            async with stream:
                async for _ in rec.arecord(stream):
                    pass
        return rec

    return asyncio.run(run())


def test_an_async_stream_without_done_is_flagged_as_the_sync_one_is() -> None:
    # Lessons 03 and 06 read streams with AsyncOpenAI: its missing [DONE] must show too.
    no_done = _arecord(sse(chunk("a"), chunk(finish_reason="stop"), done=False))
    assert no_done.text == "a"
    assert no_done.done_seen is False
    assert [p for p in no_done.problems if "[DONE]" in p]

    whole = _arecord(sse(chunk("a"), chunk(finish_reason="stop")))
    assert whole.done_seen is True
    assert whole.problems == []


def test_content_filter_and_length_are_named_per_choice() -> None:
    body = sse(
        chunk("a", index=0),
        chunk("b", index=1),
        chunk(index=0, finish_reason="content_filter"),
        chunk(index=1, finish_reason="length"),
    )
    rec = _record(mock_client(body), n=2)
    assert rec.texts == {0: "a", 1: "b"}
    assert rec.text == "a"
    assert len(rec.problems) == 2
    assert rec.problems[0].startswith("Choice 1 stopped at the token limit")
    assert rec.problems[1].startswith("Choice 0 was cut short by the content filter")


def test_mid_stream_error_with_integer_code_keeps_what_arrived() -> None:
    error = {"error": {"code": 500, "message": "engine crashed", "type": "server_error"}}
    body = sse(chunk("", role="assistant"), chunk("Par"), chunk("tial"), error)
    rec = Recorder()
    with pytest.raises(openai.APIError) as raised, open_stream(mock_client(body)) as stream:
        for _ in rec.record(stream):
            pass
    assert raised.value.code == "500"
    assert rec.error is raised.value
    assert rec.text == "Partial"
    assert rec.finished and not rec.stopped
    assert rec.metrics.ttft is not None
    assert rec.problems == []


def test_dropped_connection_raises_connection_error_and_keeps_text() -> None:
    reply = Reply(text_parts(["a", "b"])[:3], fail=httpx.RemoteProtocolError("peer closed"))
    rec = Recorder()
    with pytest.raises(openai.APIConnectionError), open_stream(mock_client(reply)) as stream:
        for _ in rec.record(stream):
            pass
    assert rec.text == "ab"
    assert isinstance(rec.error, openai.APIConnectionError)


def test_server_dropping_the_socket_mid_body_is_a_connection_error() -> None:
    parts = [*text_parts(["x", "y", "z"])[:3], DROP]
    with ScriptedServer(parts, delays=[0.0, 0.01, 0.01, 0.01]) as server:
        rec = Recorder()
        with pytest.raises(openai.APIConnectionError), open_stream(server.client()) as stream:
            for _ in rec.record(stream):
                pass
    assert rec.text == "xy"
    assert rec.chunk_count == 3


def test_start_before_create_counts_the_wait_for_the_response() -> None:
    body = sse(chunk("a"), chunk(finish_reason="stop"))
    early = Recorder()
    early.start()
    time.sleep(0.05)
    with open_stream(mock_client(body)) as stream:
        for _ in early.record(stream):
            pass
    late = Recorder()
    with open_stream(mock_client(body)) as stream:
        time.sleep(0.05)
        for _ in late.record(stream):
            pass
    assert early.events[0].seconds >= 0.05
    assert late.events[0].seconds < 0.05


def test_timestamps_follow_the_server_pauses() -> None:
    parts = text_parts(["a", "b", "c"])
    with ScriptedServer(parts, delays=[0.0, 0.1, 0.05, 0.15, 0.0]) as server:
        rec = _record(server.client())
    gaps = [later.seconds - earlier.seconds for earlier, later in itertools.pairwise(rec.events)]
    assert gaps[0] == pytest.approx(0.1, abs=0.03)
    assert gaps[1] == pytest.approx(0.05, abs=0.03)
    assert gaps[2] == pytest.approx(0.15, abs=0.03)


def test_chunks_read_together_share_their_arrival_however_slow_the_loop() -> None:
    """Times are taken when the bytes were read, not when the loop body got to the chunk."""
    burst = sse(*(chunk(f"{i} ") for i in range(5)), done=False)
    reply = Reply([burst, sse(chunk(finish_reason="stop"))], delays=[0.0, 0.2])
    rec = Recorder()
    with open_stream(mock_client(reply)) as stream:
        for _ in rec.record(stream):
            time.sleep(0.03)
    first = [event.seconds for event in rec.events[:5]]
    assert first == [first[0]] * 5
    assert rec.events[5].seconds - first[0] == pytest.approx(0.2 + 0.03 * 5, abs=0.05)


def test_events_are_immutable_records() -> None:
    rec = _record(mock_client(sse(chunk("a", role="assistant"), chunk(finish_reason="stop"))))
    event = rec.events[0]
    assert event == ChunkEvent(event.seconds, 0, 0, "a", "assistant", None, None)
    with pytest.raises(AttributeError):
        event.text = "b"  # type: ignore[misc]
    assert "0x" not in repr(rec)
    assert "finished" in repr(rec)


def test_a_recorder_records_one_stream() -> None:
    rec = _record(mock_client(sse(chunk("a"), chunk(finish_reason="stop"))))
    with pytest.raises(AssertionError, match="one stream"):
        next(rec.record(iter([])))


def test_interrupt_closes_the_stream_and_keeps_the_partial_text() -> None:
    parts = text_parts(f"w{i} " for i in range(200))
    with ScriptedServer(parts, delays=[0.0] + [0.02] * 201) as server:
        rec = Recorder()
        timer = threading.Timer(0.3, _thread.interrupt_main)
        try:
            with open_stream(server.client()) as stream:
                timer.start()
                with pytest.raises(KeyboardInterrupt):
                    for _ in rec.record(stream):
                        pass
        finally:
            timer.cancel()
        assert server.client_closed.wait(2)
    assert rec.stopped
    assert rec.error is None
    assert 3 < len(rec.text.split()) < 200
    assert rec.problems == []


def test_leaving_the_loop_early_marks_stopped_and_closes() -> None:
    parts = text_parts(f"w{i} " for i in range(100))
    with ScriptedServer(parts, delays=[0.0] + [0.01] * 101) as server:
        rec = Recorder()
        with open_stream(server.client()) as stream:
            for position, _ in enumerate(rec.record(stream)):
                if position == 3:
                    break
            assert rec.stopped
        assert server.client_closed.wait(2)
    assert rec.text == "w0 w1 w2 "


def test_async_recording_matches_sync() -> None:
    cassette = load_cassette("chat-streaming")

    async def run() -> Recorder:
        rec = Recorder()
        client = async_mock_client(reply_of(cassette, 50))
        stream = await client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async with stream:
            async for _ in rec.arecord(stream):
                pass
        await client.close()
        return rec

    rec = asyncio.run(run())
    assert rec.text == _cassette_texts(cassette.body)[0]
    assert rec.done_seen is True
    assert rec.problems == []


def test_async_mid_stream_error_is_kept() -> None:
    error = {"error": {"code": "overloaded", "message": "busy"}}

    async def run() -> Recorder:
        rec = Recorder()
        client = async_mock_client(sse(chunk("a"), error))
        stream = await client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with pytest.raises(openai.APIError):
            async for _ in rec.arecord(stream):
                pass
        await client.close()
        return rec

    rec = asyncio.run(run())
    assert rec.text == "a"
    assert isinstance(rec.error, openai.APIError)


def test_a_plain_iterable_of_chunks_has_unknown_done() -> None:
    rec = _record(mock_client(sse(chunk("a"), chunk(finish_reason="stop"))))
    replay = Recorder()
    chunks = [openai.types.chat.ChatCompletionChunk.model_validate(chunk("z", role="assistant"))]
    assert [c.choices[0].delta.content for c in replay.record(chunks)] == ["z"]
    assert replay.done_seen is None
    assert rec.done_seen is True


# -- found untested by mutation testing (docs/mutation.md) --------------------------------------


def _typed(kind: str, **fields: object) -> object:
    """A Responses API event as the recorder reads it: its `type` and the fields it uses."""
    from types import SimpleNamespace

    return SimpleNamespace(type=kind, **fields)


def _recorded(*events: object) -> Recorder:
    rec = Recorder()
    rec.begin([])
    for event in events:
        rec.add(event, time.perf_counter())  # type: ignore[arg-type]
    rec.end()
    return rec


def test_the_repr_names_the_state_the_chunks_and_a_preview() -> None:
    """Forty characters of text are shown whole; a forty-first cuts them to 39 and an ellipsis."""
    rec = Recorder()
    assert repr(rec) == "Recorder(recording, 0 chunks, text='')"
    rec.begin([])
    rec.add(openai.types.chat.ChatCompletionChunk.model_validate(chunk("x" * 40)), 0.0)
    assert repr(rec) == "Recorder(recording, 1 chunks, text='" + "x" * 40 + "')"
    rec.add(openai.types.chat.ChatCompletionChunk.model_validate(chunk("y")), 0.0)
    assert repr(rec) == "Recorder(recording, 2 chunks, text='" + "x" * 39 + "…')"
    rec.end()
    assert repr(rec).startswith("Recorder(finished, 2 chunks, ")
    rec.end(stopped=True)
    assert repr(rec).startswith("Recorder(stopped, 2 chunks, ")
    rec.end(error=ValueError("boom"))
    assert repr(rec).startswith("Recorder(failed: ValueError, 2 chunks, ")


def test_a_responses_stream_maps_onto_choice_0_event_by_event() -> None:
    """The item's opening carries the role, its closing the finish reason of its status, and a
    final event belongs to no choice."""
    rec = _recorded(
        _typed("response.output_item.added"),
        _typed("response.output_text.delta", delta="Hi"),
        _typed("response.output_item.done", item=_typed("message", status="incomplete")),
        _typed("response.incomplete", response=_typed("response", usage=None, error=None)),
    )
    assert [(e.chunk, e.index, e.text, e.role, e.finish_reason) for e in rec.events] == [
        (0, 0, "", "assistant", None),
        (1, 0, "Hi", None, None),
        (2, 0, "", None, "length"),
        (3, None, "", None, None),
    ]
    assert rec.problems == [
        "The response is incomplete: it stopped at max_output_tokens; raise that limit for a "
        "complete answer."
    ]


def test_a_responses_failure_is_told_in_its_own_words() -> None:
    """A failed response's error message, an error event's message, or a plain sentence."""
    error = _typed("error", message="Overloaded.")
    failed = _typed("response.failed", response=_typed("response", error=error))
    assert _recorded(failed).problems == ["The response failed: Overloaded."]
    assert _recorded(_typed("error", message="Bad request.")).problems == [
        "The response failed: Bad request."
    ]
    assert _recorded(_typed("error", message=None)).problems == [
        "The response failed: an error event arrived"
    ]
    assert _recorded(_typed("response.output_text.delta", delta="Hi")).problems == [
        "The stream ended without its final response.completed event: the connection may have "
        "closed early."
    ]


def test_an_interrupted_async_record_awaits_the_close_of_a_plain_stream() -> None:
    """`arecord` times chunks of any async iterable and, when cancelled, awaits its `close()`."""

    class Stream:
        def __init__(self) -> None:
            self.closed = False

        def __aiter__(self) -> object:
            return self._chunks()

        async def _chunks(self) -> object:
            yield openai.types.chat.ChatCompletionChunk.model_validate(chunk("Hi"))
            await asyncio.sleep(30)

        async def close(self) -> None:
            self.closed = True

    async def main() -> tuple[Recorder, Stream]:
        rec, stream = Recorder(), Stream()

        async def consume() -> None:
            async for _ in rec.arecord(stream):  # type: ignore[arg-type]
                pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return rec, stream

    rec, stream = asyncio.run(main())
    assert stream.closed and rec.stopped and rec.finished
    assert rec.text == "Hi" and 0.0 <= rec.events[0].seconds < 1.0


def test_the_model_comes_from_the_stream_and_decides_the_estimate() -> None:
    """The model the chunks name, not the one asked for, picks how tokens are estimated; the
    count so far is the one the metrics give at the end, then usage replaces it."""
    pieces = ["Sun", "light", " and", " rain"]  # pre-tokenized: "Sunlight", " and", " rain"
    for model, expected in [("gpt-4o-mini-2024-07-18", (3, "o200k")), ("llama3.2", (4, "chunks"))]:
        rec = _record(mock_client(sse(*(chunk(p, model=model) for p in pieces))))
        assert rec.model == model
        assert (rec.tokens.count, rec.tokens.source) == expected
        assert (rec.metrics.output_tokens, rec.metrics.token_source) == expected

    exact = _record(mock_client(sse(chunk("Sun", model="llama3.2"), chunk(usage=usage(3, 9)))))
    assert (exact.tokens.count, exact.tokens.source) == (9, "usage")


def test_the_count_so_far_follows_the_model_once_a_chunk_names_it() -> None:
    rec = Recorder()
    rec.begin([])
    assert (rec.model, rec.tokens.count, rec.tokens.source) == (None, 0, "chunks")
    for piece in ["Sun", "light"]:
        rec.add(openai.types.chat.ChatCompletionChunk.model_validate(chunk(piece, model="o3")), 0.0)
    assert (rec.model, rec.tokens.count, rec.tokens.source) == ("o3", 1, "o200k")


def test_a_responses_stream_names_its_model_in_response_created() -> None:
    from types import SimpleNamespace

    rec = _recorded(
        _typed("response.created", response=SimpleNamespace(model="gpt-5-nano")),
        _typed("response.output_item.added"),
        _typed("response.output_text.delta", delta="Sun"),
        _typed("response.output_text.delta", delta="light"),
    )
    assert rec.model == "gpt-5-nano"
    assert (rec.metrics.output_tokens, rec.metrics.token_source) == (1, "o200k")
