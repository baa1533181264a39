"""Notebook 04's exercises: a stream's text and usage; optionally, a conversation that streams."""

from __future__ import annotations

import textwrap

from helpers.exercises import made_up
from helpers.exercises.framework import Case, Exercise, same_text_and_usage

__all__ = ["check_converse", "check_text_and_usage"]

check_text_and_usage = Exercise(
    name="text_and_usage",
    params="chunks",
    expected_type=tuple,
    cases=(
        Case(
            "a test stream sent with include_usage",
            (made_up.stream(["Two", "."], made_up.usage(18, 2)),),
            ("Two.", made_up.usage(18, 2)),
            "Return a pair: the joined text, then the `usage` of the last chunk.",
        ),
        Case(
            "another test stream sent with include_usage",
            (made_up.stream(["Hello", " there"], made_up.usage(12, 2)),),
            ("Hello there", made_up.usage(12, 2)),
            "Return a pair: the joined text, then the `usage` of the last chunk.",
        ),
        Case(
            "a test stream from an engine that puts the usage on the finish chunk",
            (made_up.stream(["Two", "."], made_up.usage(18, 2), usage_on_finish=True),),
            ("Two.", made_up.usage(18, 2)),
            "Some engines send the usage on the chunk that carries the `finish_reason`: look "
            "for the chunk whose `usage` is set, not for the last one.",
        ),
        Case(
            "a test stream sent without include_usage",
            (made_up.stream(["Yes"]),),
            ("Yes", None),
            "Without include_usage no chunk carries usage, so the second item should say so.",
        ),
        Case(
            "a test stream that broke off before its first chunk",
            ([],),
            ("", None),
            "An interrupted stream never sends its usage chunk, and may send no chunk at all.",
        ),
    ),
    hint_text=(
        "the usage chunk arrives last and has `choices == []`, so test `if chunk.choices:` "
        "before reading `chunk.choices[0]`; keep the `chunk.usage` that is not `None`."
    ),
    solution_code=textwrap.dedent(
        """\
        def text_and_usage(chunks):
            pieces, usage = [], None
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
                if chunk.usage is not None:
                    usage = chunk.usage
            return "".join(pieces), usage
        """
    ),
    error_clues={
        "IndexError": (
            "The usage chunk at the end of the stream has `choices == []`, and a stream that "
            "broke off may have no chunks at all: check before you index."
        ),
        "TypeError": "The finish chunk's delta carries no text: its `content` is `None`.",
    },
    same=same_text_and_usage,
)


def _conversation(*turns: tuple[str, str]) -> list[dict[str, str]]:
    messages = []
    for question, answer in turns:
        messages += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    return messages


_FORGETS = (
    "The model remembers nothing between requests: send the whole conversation so far, "
    "with its replies, every time."
)

check_converse = Exercise(
    name="converse",
    params="client, questions",
    expected_type=list,
    cases=(
        Case(
            "one question to a test client",
            (made_up.ChatClient(), ["Hi"]),
            _conversation(("Hi", "You have asked 1 question.")),
            "Append the question, stream the reply, then append the reply as an assistant message.",
        ),
        Case(
            "three questions to a test client that counts the questions it is sent",
            (made_up.ChatClient(), ["Hi", "Count to 3.", "And to 5?"]),
            _conversation(
                ("Hi", "You have asked 1 question."),
                ("Count to 3.", "You have asked 2 questions."),
                ("And to 5?", "You have asked 3 questions."),
            ),
            _FORGETS,
        ),
    ),
    hint_text=(
        "start with `messages = []`; for each question append `{'role': 'user', 'content': "
        "question}`, call `client.chat.completions.create(model=MODEL, messages=messages, "
        "stream=True)`, join the pieces of text as they arrive (print them with `end=''` to "
        "watch), then append `{'role': 'assistant', 'content': reply}`."
    ),
    solution_code=textwrap.dedent(
        """\
        def converse(client, questions):
            messages = []
            for question in questions:
                messages.append({"role": "user", "content": question})
                pieces = []
                with client.chat.completions.create(
                    model=MODEL, messages=messages, stream=True
                ) as stream:
                    for chunk in stream:
                        if chunk.choices and chunk.choices[0].delta.content:
                            print(chunk.choices[0].delta.content, end="")
                            pieces.append(chunk.choices[0].delta.content)
                print()
                messages.append({"role": "assistant", "content": "".join(pieces)})
            return messages
        """
    ),
    error_clues={
        "ValueError": "Ask for a stream: pass `stream=True` to `create()`.",
        "IndexError": "A chunk may have `choices == []`: check before you index.",
        "TypeError": "The last chunks' deltas carry no text: their `content` is `None`.",
    },
)
