from __future__ import annotations

import time

import pytest

from helpers.server.model import (
    MODEL_ALIASES,
    SIMULATED_MODEL,
    canonical_model,
    generate_reply,
    number_words,
)
from helpers.server.tokens import pretokenize

COUNT_PROMPT = "Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ..."
ONE_WORD_PROMPT = "What's 1+1? Answer in one word."


def ask(text: str) -> str:
    return generate_reply([{"role": "user", "content": text}]).text


def test_the_lesson_prompts_get_the_reference_answers() -> None:
    count = generate_reply([{"role": "user", "content": COUNT_PROMPT}])
    assert count.text == ", ".join(str(n) for n in range(1, 101))
    assert len(count.tokens) == 298
    assert count.finish_reason == "stop"
    one_word = generate_reply([{"role": "user", "content": ONE_WORD_PROMPT}])
    assert one_word.tokens == ("Two", ".")
    assert one_word.finish_reason == "stop"


def test_reply_tokens_are_the_tokenizer_split_of_the_reply() -> None:
    reply = generate_reply([{"role": "user", "content": "Tell me about streaming."}])
    assert list(reply.tokens) == pretokenize(reply.text)


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [
        ("count to 5", "1, 2, 3, 4, 5"),
        ("Please count from 7 to 10.", "7, 8, 9, 10"),
        ("Count down from 3 to 1", "3, 2, 1"),
        ("Count to 3, one per line", "1\n2\n3"),
        ("Count to 3 with no newlines", "1, 2, 3"),
    ],
)
def test_counting(prompt: str, answer: str) -> None:
    assert ask(prompt) == answer


def test_counting_is_bounded() -> None:
    assert ask("Count to 10001").startswith("That is more than 10000 numbers")
    assert ask("Count to " + "9" * 5000).startswith("That is more than 10000 numbers")
    # 10,000 numbers are written, but a reply whose request names no limit stops at the
    # model's output limit, 16,384 tokens, as a real model's would.
    reply = generate_reply([{"role": "user", "content": "Count to 10000"}])
    assert reply.written.endswith(", 10000")
    assert (len(reply.tokens), reply.finish_reason) == (16_384, "length")
    short = generate_reply([{"role": "user", "content": "Count to 10000"}], token_limit=5)
    assert (short.text, short.finish_reason) == ("1, 2,", "length")
    whole = generate_reply([{"role": "user", "content": "Count to 3"}], token_limit=7)
    assert (whole.text, whole.finish_reason) == ("1, 2, 3", "stop")


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [
        ("What's 2+3?", "2 + 3 = 5."),
        ("what is 6 * 7", "6 * 7 = 42."),
        ("What is 7 divided by 2?", "7 / 2 = 3.5."),
        ("10 minus 12", "10 - 12 = -2."),
        ("What's 3 x 4? Answer in one word.", "Twelve."),
        ("What's 5-7? One word.", "Minus two."),
        ("What is 1/0?", "Dividing by zero is undefined."),
    ],
)
def test_arithmetic(prompt: str, answer: str) -> None:
    assert ask(prompt) == answer


def test_one_word_can_come_from_the_system_message() -> None:
    messages = [
        {"role": "system", "content": "Always answer in one word."},
        {"role": "user", "content": "What's 20+1?"},
    ]
    assert generate_reply(messages).text == "Twenty-one."


@pytest.mark.parametrize(
    ("number", "words"),
    [(0, "zero"), (13, "thirteen"), (40, "forty"), (99, "ninety-nine"), (100, "one hundred"),
     (101, "one hundred one"), (12_345, "twelve thousand three hundred forty-five")],
)
def test_number_words(number: int, words: str) -> None:
    assert number_words(number) == words


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [
        ("Say hello world", "hello world"),
        ('Repeat after me: "Streaming is fun!"', "Streaming is fun!"),
        ("repeat ping 3 times", "ping ping ping"),
        ("Say: 1+1", "1+1"),
    ],
)
def test_say_and_repeat(prompt: str, answer: str) -> None:
    assert ask(prompt) == answer


def test_other_prompts_get_an_answer_that_says_it_is_simulated() -> None:
    reply = generate_reply([{"role": "user", "content": "Write a haiku about rivers."}])
    assert "offline simulation" in reply.text
    assert "not from a language model" in reply.text
    assert '"Write a haiku about rivers."' in reply.text
    assert reply.finish_reason == "stop"


@pytest.mark.parametrize("variant", range(7))
def test_every_wording_says_no_model_is_answering(variant: int) -> None:
    reply = generate_reply([{"role": "user", "content": "Hi there"}], variant=variant)
    assert "offline simulation" in reply.text
    assert "not" in reply.text and "language model" in reply.text
    assert '"Hi there"' in reply.text


@pytest.mark.parametrize("max_tokens", [1, 5, 64, 1000])
def test_open_ended_replies_fill_max_tokens_and_are_cut(max_tokens: int) -> None:
    reply = generate_reply([{"role": "user", "content": "Tell me a story."}], max_tokens=max_tokens)
    assert len(reply.tokens) == max_tokens
    assert reply.finish_reason == "length"


def test_max_tokens_cuts_a_known_answer() -> None:
    reply = generate_reply([{"role": "user", "content": COUNT_PROMPT}], max_tokens=10)
    assert reply.text == "1, 2, 3, 4"
    assert reply.finish_reason == "length"


def test_stop_ends_the_reply_before_the_first_match() -> None:
    reply = generate_reply([{"role": "user", "content": "count to 20"}], stop=["7", ", 5"])
    assert reply.text == "1, 2, 3, 4"
    assert reply.finish_reason == "stop"


def test_content_parts_and_roles_are_read() -> None:
    messages = [
        {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "Say nothing useful"},
        {"role": "assistant", "content": "nothing useful"},
        {"role": "user", "content": [{"type": "text", "text": "count to 2"}]},
    ]
    assert generate_reply(messages).text == "1, 2"


def test_replies_are_deterministic_and_variants_differ_only_when_open_ended() -> None:
    story = [{"role": "user", "content": "Tell me a story."}]
    assert generate_reply(story) == generate_reply(story)
    assert generate_reply(story, variant=1) != generate_reply(story)
    count = [{"role": "user", "content": "count to 4"}]
    assert generate_reply(count, variant=3) == generate_reply(count)


def test_model_names() -> None:
    assert canonical_model(SIMULATED_MODEL) == SIMULATED_MODEL
    assert all(canonical_model(alias) == SIMULATED_MODEL for alias in MODEL_ALIASES)
    assert canonical_model("gpt-4o") is None


@pytest.mark.parametrize(
    "prompt",
    [
        "1" * 40_000,
        "say x" + " " * 40_000 + "y",
        "count " + " " * 40_000 + "to",
        "1." * 20_000,
        "one " * 10_000 + "word",
        "What is " + "9" * 4_000 + " * 9?",
        "say hi " + "9" * 5_000 + " times",
    ],
)
def test_every_rule_decides_in_linear_time(prompt: str) -> None:
    """Prompts that made the old patterns backtrack (40 KB of digits took minutes; 4 KB took
    2 s): each is decided in a few milliseconds, and never raises."""
    started = time.perf_counter()
    generate_reply([{"role": "user", "content": prompt}])
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize(
    ("prompt", "start"),
    [
        ("Count to " + "9" * 5000, "That is more than 10000 numbers"),
        ("What is " + "9" * 2200 + " * " + "9" * 2200 + "?", "Those numbers are too long"),
        ("What is 1" + "0" * 300 + " / 3?", "Those numbers are too long"),
        ("What is 999999999999999 * 999999999999999?", "999999999999999 * 999999999999999 = "),
    ],
)
def test_numbers_beyond_the_limits_get_a_sentence(prompt: str, start: str) -> None:
    assert ask(prompt).startswith(start)


def test_a_repeat_is_capped_by_count_and_by_length() -> None:
    assert ask("Say hi 5000 times").split() == ["hi"] * 1000
    words = " ".join(["word"] * 100)
    reply = ask(f"Say {words} 1000 times")
    assert len(reply) <= 65_536 and reply.startswith(words)
    assert ask("Say " + "a" * 2001).startswith("That is more than 2000 characters")


def test_wordings_repeat_every_six_variants_and_differ_within_them() -> None:
    """The planner writes each of a request's wordings once, relying on this period."""
    question = [{"role": "user", "content": "Tell me a story"}]
    texts = [generate_reply(question, variant=v).written for v in range(12)]
    assert texts[:6] == texts[6:]
    assert len(set(texts[:6])) == 6
