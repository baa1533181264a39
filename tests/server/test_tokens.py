from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.server.tokens import (
    MAX_PIECE_CHARS,
    count_prompt_tokens,
    count_tokens,
    pretokenize,
)

COUNT_PROMPT = "Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ..."
ONE_WORD_PROMPT = "What's 1+1? Answer in one word."


def user(content: object) -> dict[str, object]:
    return {"role": "user", "content": content}


def test_lesson_prompts_cost_the_reported_prompt_tokens() -> None:
    assert count_prompt_tokens([user(COUNT_PROMPT)]) == 36
    assert count_prompt_tokens([user(ONE_WORD_PROMPT)]) == 18


def test_lesson_replies_split_into_the_reported_completion_tokens() -> None:
    count_reply = ", ".join(str(n) for n in range(1, 101))
    tokens = pretokenize(count_reply)
    assert len(tokens) == 298
    assert tokens[:7] == ["1", ",", " ", "2", ",", " ", "3"]
    assert pretokenize("Two.") == ["Two", "."]


def test_pieces_follow_o200k_pre_tokenization() -> None:
    assert pretokenize(ONE_WORD_PROMPT) == [
        "What's", " ", "1", "+", "1", "?", " Answer", " in", " one", " word", ".",
    ]
    # Digits group in threes; a contraction stays with its word; CamelCase splits.
    assert pretokenize("12345") == ["123", "45"]
    assert pretokenize("they'll") == ["they'll"]
    assert pretokenize("JSONParser") == ["JSONP", "arser"]


def test_a_long_word_is_split_into_near_equal_parts() -> None:
    assert pretokenize(" newlines") == [" newl", "ines"]
    assert pretokenize(" between") == [" between"]  # exactly MAX_PIECE_CHARS
    long_word = "a" * (3 * MAX_PIECE_CHARS + 1)
    assert [len(t) for t in pretokenize(long_word)] == [7, 6, 6, 6]


@settings(deadline=None)  # a busy machine must not turn slowness into failure
@given(st.text())
def test_tokens_join_back_into_the_text(text: str) -> None:
    tokens = pretokenize(text)
    assert "".join(tokens) == text
    assert all(tokens)
    assert count_tokens(text) == len(tokens)


def test_every_message_adds_framing_and_names_cost_extra() -> None:
    one = count_prompt_tokens([user("hi")])
    two = count_prompt_tokens([{"role": "system", "content": "hi"}, user("hi")])
    named = count_prompt_tokens([{"role": "user", "content": "hi", "name": "ada"}])
    assert one == 3 + 1 + 1 + 3
    assert two - one == 3 + 1 + 1
    assert named - one == 1 + count_tokens("ada")


def test_content_parts_count_their_text_and_a_flat_figure_otherwise() -> None:
    parts = [
        {"type": "text", "text": "What's 1+1?"},
        {"type": "text", "text": " Answer in one word."},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    as_string = count_prompt_tokens([user("What's 1+1?")]) + count_tokens(" Answer in one word.")
    # The documented flat figure (server docstring, difference 5): 85 tokens per non-text part.
    assert count_prompt_tokens([user(parts)]) == as_string + 85


@pytest.mark.parametrize("content", [None, [], ""])
def test_empty_content_costs_only_the_framing(content: object) -> None:
    assert count_prompt_tokens([{"role": "assistant", "content": content}]) == 7
