"""The usage panel: reported counts with their details, or an estimate that says it is one."""

from __future__ import annotations

import json

import pytest
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion

from helpers.recorder import Recorder
from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL
from helpers.table import Table
from helpers.usage import show_usage
from tests.support.streams import (
    chunk,
    load_cassette,
    loopback_client,
    mock_client,
    open_stream,
    reply_of,
    sse,
    usage,
)

pytestmark = pytest.mark.timeout(30)

ONE_PLUS_ONE = [{"role": "user", "content": "What's 1+1? Answer in one word."}]


def rows(table: Table) -> dict[str, str]:
    return {name.strip(): value for name, value in table.rows}


def record(body: bytes) -> Recorder:
    rec = Recorder()
    with open_stream(mock_client(body)) as stream:
        for _ in rec.record(stream):
            pass
    return rec


def test_recorded_stream_usage_with_details() -> None:
    cassette = load_cassette("chat-streaming-detailed-usage")
    rec = Recorder()
    with open_stream(mock_client(reply_of(cassette))) as stream:
        for _ in rec.record(stream):
            pass
    panel = show_usage(rec)
    assert rows(panel) == {
        "prompt tokens": "12",
        "cached tokens": "0",
        "audio tokens": "0",
        "completion tokens": "100",
        "reasoning tokens": "100",
        "accepted prediction tokens": "0",
        "rejected prediction tokens": "0",
        "total tokens": "112",
    }
    assert "as the server reported it" in repr(panel)
    assert "  reasoning tokens" in repr(panel)
    assert "0x" not in repr(panel)


def test_chat_completion_usage_matches_the_recording() -> None:
    cassette = load_cassette("chat-detailed-usage")
    reported = json.loads(cassette.body)["usage"]
    completion = mock_client(reply_of(cassette)).chat.completions.create(
        model="gpt-5-nano", messages=ONE_PLUS_ONE
    )
    assert isinstance(completion, ChatCompletion)
    shown = rows(show_usage(completion))
    assert shown["prompt tokens"] == str(reported["prompt_tokens"])
    assert shown["completion tokens"] == str(reported["completion_tokens"])
    assert shown["total tokens"] == str(reported["total_tokens"])


def test_usage_object_directly_and_engine_usage_without_details() -> None:
    shown = rows(show_usage(CompletionUsage(prompt_tokens=3, completion_tokens=5, total_tokens=8)))
    assert shown == {"prompt tokens": "3", "completion tokens": "5", "total tokens": "8"}
    rec = record(sse(chunk("Hi"), chunk(finish_reason="stop", usage=usage(9, 1))))
    assert rows(show_usage(rec))["total tokens"] == "10"


PRETOKENIZED = "estimated with the o200k pre-tokenizer"
OTHER_MODEL = f"{PRETOKENIZED} (OpenAI's; this model's may count otherwise)"


def test_no_usage_gives_a_labelled_estimate() -> None:
    model = "gpt-4o-mini-2024-07-18"
    rec = record(sse(chunk("Two.", model=model), chunk(finish_reason="stop", model=model)))
    panel = show_usage(rec, messages=ONE_PLUS_ONE)
    # The source lesson's figures for this question: 18 prompt and 2 completion tokens.
    assert rows(panel) == {
        "prompt tokens": f"≈18, {PRETOKENIZED}",
        "completion tokens": f"≈2, {PRETOKENIZED}",
        "total tokens": "≈20",
    }
    assert "estimated" in repr(panel)
    assert "include_usage" in repr(panel)

    without_messages = rows(show_usage(rec))
    assert without_messages["completion tokens"] == f"≈2, {PRETOKENIZED}"
    assert "unknown" in without_messages["prompt tokens"]
    assert "total tokens" not in without_messages


def test_another_model_without_usage_is_counted_by_its_chunks() -> None:
    """The answer in two chunks from a model whose tokenizer is not o200k: two tokens, as
    streamed; the prompt can only be pre-tokenized, and the panel says that may be off."""
    rec = record(sse(chunk("Tw", model="llama3.2"), chunk("o.", model="llama3.2")))
    assert rows(show_usage(rec, messages=ONE_PLUS_ONE)) == {
        "prompt tokens": f"≈18, {OTHER_MODEL}",
        "completion tokens": "≈2, one per text chunk",
        "total tokens": "≈20",
    }


@pytest.mark.parametrize(
    ("model", "shown"), [("gpt-4.1-mini", f"≈5, {PRETOKENIZED}"), ("m", f"≈5, {OTHER_MODEL}")]
)
def test_chat_completion_without_usage_is_estimated_from_its_message(
    model: str, shown: str
) -> None:
    completion = ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "Hello there, friend!"},
                }
            ],
        }
    )
    assert rows(show_usage(completion))["completion tokens"] == shown


def test_embedded_server_usage_chunk(embedded_server: EmbeddedServer) -> None:
    client = loopback_client(embedded_server.base_url)
    rec = Recorder()
    with client.chat.completions.create(
        model=SIMULATED_MODEL,
        messages=ONE_PLUS_ONE,
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        for _ in rec.record(stream):
            pass
    shown = rows(show_usage(rec))
    assert rec.usage is not None
    assert shown["completion tokens"] == str(rec.usage.completion_tokens)
    assert shown["prompt tokens"] == "18"


def test_html_panel_is_escaped_and_wrong_input_is_refused() -> None:
    html = show_usage(CompletionUsage(prompt_tokens=1, completion_tokens=1, total_tokens=2))
    assert "<table>" in html._repr_html_()
    assert "<caption>Token usage, as the server reported it</caption>" in html._repr_html_()
    with pytest.raises(AssertionError, match="not dict"):
        show_usage({"prompt_tokens": 1})  # type: ignore[arg-type]
