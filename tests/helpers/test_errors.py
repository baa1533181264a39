"""One sentence per failure for a learner: what happened and what to do, with no key in it."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from helpers.errors import explain_error
from tests.support.streams import Reply, mock_client, open_stream


@pytest.mark.parametrize(
    ("status", "body", "headers", "words"),
    [
        (429, {"error": {"code": "insufficient_quota", "message": "q"}}, {}, "no quota"),
        (429, {"error": {"code": "rate_limit_exceeded", "message": "r"}}, {}, "wait a little"),
        (404, {"error": {"code": None, "message": "nothing"}}, {}, "ends in /v1"),
        (400, {"error": {"message": "Unsupported parameter: 'max_tokens'"}}, {}, "max_tokens"),
        (503, {"error": {"message": "down"}}, {}, "HTTP 503"),
        (401, {"error": {"message": "Wrong API key: sk-" + "abc1234567890"}}, {}, "401"),
    ],
)
def test_explain_status_errors(
    status: int, body: dict[str, Any], headers: dict[str, str], words: str
) -> None:
    reply = Reply([httpx.Response(status, json=body).content], status, headers=headers)
    with pytest.raises(openai.APIStatusError) as raised:
        open_stream(mock_client(reply))
    sentence = explain_error(raised.value)
    assert words in sentence
    assert "sk-abc" not in sentence
    assert sentence.endswith(".")


def test_explain_hides_keys_echoed_in_messages() -> None:
    body = {"error": {"message": "Bad key sk-" + "proj-ABCDEF123456 given"}}
    reply = Reply([httpx.Response(400, json=body).content], 400)
    with pytest.raises(openai.BadRequestError) as raised:
        open_stream(mock_client(reply))
    sentence = explain_error(raised.value)
    assert "ABCDEF" not in sentence
    assert "[key hidden]" in sentence


def test_a_broken_connection_counts_what_had_arrived() -> None:
    error = openai.APIConnectionError(request=httpx.Request("POST", "http://mock.invalid/v1"))
    assert explain_error(error, 3) == (
        "The connection broke after 3 chunks: the text above is what arrived; run the cell again."
    )
    assert explain_error(error).startswith("Could not reach the server")


def test_an_error_that_is_not_the_apis_is_named() -> None:
    sentence = explain_error(ValueError("odd"), 2)
    assert sentence == "The stream failed after 2 chunks with ValueError: odd"
