"""The private parts of `openai` the recorder relies on are still where it expects them.

An upgrade of the client that moves them fails here, by name, instead of silently turning
`[DONE]` detection into "unknown" and read-time stamps into parse-time ones.
"""

from __future__ import annotations

import asyncio

import openai

from helpers.openai_internals import DecoderWatch, watch_decoder
from tests.support.streams import async_mock_client, chunk, mock_client, open_stream, sse

BODY = sse(chunk("a"), chunk("b"), chunk(finish_reason="stop"))


def test_a_sync_stream_has_the_decoder_the_watch_replaces() -> None:
    with mock_client(BODY) as client, open_stream(client) as stream:
        assert isinstance(stream, openai.Stream)
        assert hasattr(stream._decoder, "iter_bytes"), "openai.Stream._decoder moved"
        watch = watch_decoder(stream)
        assert isinstance(watch, DecoderWatch)
        assert stream._decoder is watch
        texts = [c.choices[0].delta.content for c in stream]
    assert texts == ["a", "b", None]
    assert watch.used, "the client no longer reads Stream._decoder when iterating"
    assert watch.seen, "[DONE] went unseen"
    assert len(watch.read_at) == 3, "one read time per event but [DONE]"


def test_an_async_stream_has_the_decoder_the_watch_replaces() -> None:
    async def read() -> tuple[DecoderWatch | None, list[str | None]]:
        async with async_mock_client(BODY) as client:
            stream = await client.chat.completions.create(
                model="test-model", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            assert isinstance(stream, openai.AsyncStream)
            assert hasattr(stream._decoder, "aiter_bytes"), "openai.AsyncStream._decoder moved"
            watch = watch_decoder(stream)
            texts = [c.choices[0].delta.content async for c in stream]
            return watch, texts

    watch, texts = asyncio.run(read())
    assert texts == ["a", "b", None]
    assert watch is not None and watch.used and watch.seen
    assert len(watch.read_at) == 3


def test_a_stream_that_ends_without_done_is_seen_as_such() -> None:
    with mock_client(sse(chunk("a"), done=False)) as client, open_stream(client) as stream:
        watch = watch_decoder(stream)
        list(stream)
    assert watch is not None and watch.used and not watch.seen


def test_anything_but_an_openai_stream_is_not_watched() -> None:
    assert watch_decoder([1, 2, 3]) is None
