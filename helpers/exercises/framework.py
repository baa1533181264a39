"""The lessons' exercises and their self-checks, in the manner of Kaggle's learntools.

Each exercise asks for one small function. `check_<name>(fn)` runs it on made-up responses or
streams (built offline from the `openai` types, so the checks give the same verdict on every
backend) and returns a `Feedback` that displays itself; `.hint()` and `.solution()` reveal help.
Messages name the function and show what it returned, never the expected value.
"""

from __future__ import annotations

import asyncio
import copy
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent, ResponseUsage
from pydantic import TypeAdapter

from helpers.server.responses_request import validate_responses_request
from helpers.server.responses_wire import ResponseHeader, response_events, response_usage

Outcome = Literal["correct", "incorrect", "not attempted"]
# Learners' functions take and return anything; the checks inspect what comes back.
LearnerFunction = Callable[..., Any]

_HEADINGS: dict[Outcome, tuple[str, str]] = {
    # (label, colour): learntools' green and red, and a neutral blue for "not yet".
    "correct": ("Correct", "#33a02c"),
    "incorrect": ("Incorrect", "#e31a1c"),
    "not attempted": ("Not attempted yet", "#1f78b4"),
}
_SHOWN_CHARS = 80


class NotAttempted(Exception):
    """The learner's function still returns the `...` placeholder."""


class Incorrect(Exception):
    """The learner's function gave a wrong answer, or raised, on one of the test inputs."""


@dataclass(frozen=True)
class Feedback:
    """A check's verdict; displays as coloured Markdown in Jupyter, one plain line elsewhere."""

    outcome: Outcome
    message: str

    @property
    def correct(self) -> bool:
        return self.outcome == "correct"

    def __repr__(self) -> str:
        return f"{_HEADINGS[self.outcome][0]}: {self.message}"

    def _repr_markdown_(self) -> str:
        label, colour = _HEADINGS[self.outcome]
        return f'<span style="color:{colour}">**{label}:**</span> {self.message}'


@dataclass(frozen=True)
class Note:
    """A hint or a solution: Markdown in Jupyter, plain text elsewhere."""

    title: str
    markdown: str

    def __repr__(self) -> str:
        return f"{self.title}: {self.markdown}"

    def _repr_markdown_(self) -> str:
        return f"**{self.title}:** {self.markdown}"


@dataclass(frozen=True)
class Case:
    """One test input: `label` describes it to the learner, `clue` says why it is tricky."""

    label: str
    args: tuple[Any, ...]
    expected: Any
    clue: str = ""


@dataclass(frozen=True, repr=False)
class Exercise:
    """One exercise: call it with the learner's function to check it."""

    name: str
    params: str
    expected_type: type
    cases: Sequence[Case]
    hint_text: str
    solution_code: str
    # Exception type name -> what usually causes it in this exercise.
    error_clues: dict[str, str] = field(default_factory=dict)
    same: Callable[[Any, Any], bool] = lambda got, expected: bool(got == expected)

    def __call__(self, fn: object) -> Feedback:
        try:
            self.verify(fn)
        except NotAttempted as exc:
            return Feedback("not attempted", str(exc))
        except Incorrect as exc:
            return Feedback("incorrect", str(exc))
        return Feedback("correct", f"`{self.name}` gives the right answer on every test input.")

    def verify(self, fn: object) -> None:
        """Raise NotAttempted or Incorrect unless `fn` answers every case right."""
        if fn is Ellipsis:
            raise NotAttempted(self._placeholder_message())
        if not callable(fn):
            raise Incorrect(
                f"pass the function itself, `check_{self.name}({self.name})`, without calling "
                f"it; this check received {_show(fn)}."
            )
        for case in self.cases:
            self._verify_case(fn, case)

    def _verify_case(self, fn: LearnerFunction, case: Case) -> None:
        call = f"`{self.name}({self.params})`"
        # A fresh copy per call, so a function that consumes or mutates its input cannot spoil
        # the next case.
        args = copy.deepcopy(case.args)
        try:
            got = fn(*args)
        except Exception as exc:
            clue = self.error_clues.get(type(exc).__name__, case.clue)
            raise Incorrect(
                f"{call} raised `{type(exc).__name__}: {exc}` for {case.label}. {clue}".rstrip()
            ) from exc
        if _is_placeholder(got):
            raise NotAttempted(self._placeholder_message())
        if got is None:
            raise Incorrect(
                f"{call} returned `None` for {case.label}. Did you forget to `return` the result?"
            )
        if not isinstance(got, self.expected_type):
            raise Incorrect(
                f"{call} returned a `{type(got).__name__}` ({_show(got)}) for {case.label}; "
                f"it should return a `{self.expected_type.__name__}`."
            )
        if not self.same(got, case.expected):
            raise Incorrect(f"{call} returned {_show(got)} for {case.label}. {case.clue}".rstrip())

    def _placeholder_message(self) -> str:
        return (
            f"`{self.name}` still returns the placeholder `...`. Write your code in its place, "
            f"then run `check_{self.name}({self.name})` again."
        )

    def __repr__(self) -> str:
        return f"<check for {self.name}({self.params}): call it with your function>"

    def hint(self) -> Note:
        return Note("Hint", self.hint_text)

    def solution(self) -> Note:
        return Note("Solution", f"\n\n```python\n{self.solution_code}```")

    def reference(self) -> LearnerFunction:
        """The solution's function, compiled from the very code `solution()` shows."""
        namespace: dict[str, Any] = {}
        exec(self.solution_code, namespace)
        function: LearnerFunction = namespace[self.name]
        return function


def _is_placeholder(value: object) -> bool:
    return value is Ellipsis or (isinstance(value, tuple) and Ellipsis in value)


def _show(value: object) -> str:
    text = repr(value)
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 1] + "…"
    return f"`{text}`"


def _close(got: float, expected: float) -> bool:
    # Learners subtract perf_counter readings; allow for float rounding, nothing more.
    return math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9)


def _same_text_and_usage(got: tuple[Any, ...], expected: tuple[Any, ...]) -> bool:
    return len(got) == 2 and got[0] == expected[0] and got[1] == expected[1]


# Made-up responses and streams: the shapes OpenAI sends (see docs/architecture.md), built from
# the client's own types so learners' code sees exactly what a real stream yields.
def _response(content: str) -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-exercise",
            "object": "chat.completion",
            "created": 0,
            "model": "exercise-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
        }
    )


def _chunk(
    delta: dict[str, Any] | None, finish: str | None = None, usage: CompletionUsage | None = None
) -> ChatCompletionChunk:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return ChatCompletionChunk.model_validate(
        {
            "id": "chatcmpl-exercise",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "exercise-model",
            "choices": choices,
            "usage": None if usage is None else usage.model_dump(),
        }
    )


def _stream(
    pieces: Sequence[str], usage: CompletionUsage | None = None
) -> list[ChatCompletionChunk]:
    """A stream as OpenAI sends it: role chunk, one chunk per piece, finish chunk, usage chunk."""
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"content": piece}) for piece in pieces]
    chunks.append(_chunk({}, finish="stop"))
    if usage is not None:
        chunks.append(_chunk(None, usage=usage))
    return chunks


def _usage(prompt: int, completion: int) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


check_reply_text = Exercise(
    name="reply_text",
    params="response",
    expected_type=str,
    cases=(
        Case("a test response whose reply is a one-word answer", (_response("Two."),), "Two."),
        Case("a test response that counts to three", (_response("1, 2, 3"),), "1, 2, 3"),
    ),
    hint_text=(
        "the reply sits in the response's first choice; the text is one attribute below "
        "the `message`."
    ),
    solution_code=textwrap.dedent(
        """\
        def reply_text(response):
            return response.choices[0].message.content
        """
    ),
    error_clues={"AttributeError": "A blocking response has a `message`, not a `delta`."},
)

check_join_deltas = Exercise(
    name="join_deltas",
    params="chunks",
    expected_type=str,
    cases=(
        Case("a test stream answering in one word", (_stream(["Two", "."]),), "Two."),
        Case(
            "a test stream that counts to three",
            (_stream(["1", ",", " ", "2", ",", " ", "3"]),),
            "1, 2, 3",
            "Keep every piece, spaces included, in the order they arrived.",
        ),
    ),
    hint_text=(
        "loop over the chunks and collect `chunk.choices[0].delta.content`; the last chunk's "
        "content is `None`, so leave it out before joining."
    ),
    solution_code=textwrap.dedent(
        """\
        def join_deltas(chunks):
            pieces = []
            for chunk in chunks:
                content = chunk.choices[0].delta.content
                if content is not None:
                    pieces.append(content)
            return "".join(pieces)
        """
    ),
    error_clues={
        "TypeError": "The finish chunk's delta carries no text: its `content` is `None`.",
        "AttributeError": "Stream chunks carry a `delta`, not a `message`.",
    },
)

_ROLE_FIRST = [
    (0.40, _chunk({"role": "assistant", "content": ""})),
    (0.52, _chunk({"content": "Hello"})),
    (0.61, _chunk({"content": "!"})),
    (0.70, _chunk({}, finish="stop")),
]
# Some engines put the first words in the role chunk itself.
_TEXT_FIRST = [
    (0.25, _chunk({"role": "assistant", "content": "Hi"})),
    (0.33, _chunk({"content": "."})),
    (0.41, _chunk({}, finish="stop")),
]

check_time_to_first_token = Exercise(
    name="time_to_first_token",
    params="arrivals",
    expected_type=float,
    cases=(
        Case(
            "a test stream whose first chunk carries only the role",
            (_ROLE_FIRST,),
            0.52,
            "The first chunk to arrive is not always the first one with text in it.",
        ),
        Case(
            "a test stream whose very first chunk already carries text",
            (_TEXT_FIRST,),
            0.25,
            "Look for the first chunk with text rather than skipping a fixed number of chunks.",
        ),
    ),
    hint_text=(
        "go through `arrivals` in order and stop at the first `(seconds, chunk)` pair whose "
        "`chunk.choices[0].delta.content` is a non-empty string; return its `seconds`."
    ),
    solution_code=textwrap.dedent(
        """\
        def time_to_first_token(arrivals):
            for seconds, chunk in arrivals:
                if chunk.choices and chunk.choices[0].delta.content:
                    return seconds
        """
    ),
    error_clues={"TypeError": "Each item of `arrivals` is a `(seconds, chunk)` pair."},
    same=_close,
)

check_text_and_usage = Exercise(
    name="text_and_usage",
    params="chunks",
    expected_type=tuple,
    cases=(
        Case(
            "a test stream sent with include_usage",
            (_stream(["Two", "."], _usage(18, 2)),),
            ("Two.", _usage(18, 2)),
            "Return a pair: the joined text, then the `usage` of the last chunk.",
        ),
        Case(
            "another test stream sent with include_usage",
            (_stream(["Hello", " there"], _usage(12, 2)),),
            ("Hello there", _usage(12, 2)),
            "Return a pair: the joined text, then the `usage` of the last chunk.",
        ),
        Case(
            "a test stream sent without include_usage",
            (_stream(["Yes"]),),
            ("Yes", None),
            "Without include_usage no chunk carries usage, so the second item should say so.",
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
        "IndexError": "The usage chunk at the end of the stream has `choices == []`.",
        "TypeError": "The finish chunk's delta carries no text: its `content` is `None`.",
    },
    same=_same_text_and_usage,
)


# Notebook 05: a blocked phrase may arrive split over several pieces, or never.
check_pieces_until_blocked = Exercise(
    name="pieces_until_blocked",
    params="pieces, phrase",
    expected_type=int,
    cases=(
        Case(
            "test pieces where the phrase arrives inside one piece",
            (["The ", "code name is Bluebird", "."], "Bluebird"),
            2,
        ),
        Case(
            "test pieces where the phrase is split over two pieces",
            (["The code ", "name is Blue", "bird", ", so", " hush"], "Bluebird"),
            3,
            "A phrase can start in one piece and end in the next: check the recent text, "
            "not each piece alone.",
        ),
        Case(
            "test pieces where the phrase is split over three pieces",
            (["It is ", "Blu", "eb", "ird", " today"], "Bluebird"),
            4,
            "Keep enough of the earlier pieces to hold the whole phrase.",
        ),
        Case(
            "test pieces without the phrase",
            (["Nothing", " to", " hide", "."], "Bluebird"),
            4,
            "When the phrase never appears the loop reads every piece.",
        ),
    ),
    hint_text=(
        "keep a string `window`: add each piece to it, stop as soon as `phrase in window`, and "
        "otherwise keep only its last `len(phrase) - 1` characters before the next piece."
    ),
    solution_code=textwrap.dedent(
        """\
        def pieces_until_blocked(pieces, phrase):
            window = ""
            for count, piece in enumerate(pieces, start=1):
                window += piece
                if phrase in window:
                    return count
                window = window[max(0, len(window) - len(phrase) + 1) :]
            return len(pieces)
        """
    ),
    error_clues={"TypeError": "`pieces` is a list of strings and `phrase` one string."},
)


def _same_texts(got: dict[Any, Any], expected: dict[Any, Any]) -> bool:
    return got == expected


# Notebook 06: what `asyncio.gather(..., return_exceptions=True)` returns.
check_finished_texts = Exercise(
    name="finished_texts",
    params="prompts, results",
    expected_type=dict,
    cases=(
        Case(
            "test results where every stream finished",
            (["Count to 3", "Say hi"], ["1, 2, 3", "hi"]),
            {"Count to 3": "1, 2, 3", "Say hi": "hi"},
            "Pair each prompt with the result in the same position.",
        ),
        Case(
            "test results where one stream failed with a TimeoutError",
            (["a", "b", "c"], ["A", TimeoutError("the stream stalled"), "C"]),
            {"a": "A", "c": "C"},
            "Leave out the prompts whose result is an exception.",
        ),
        Case(
            "test results where one stream was cancelled",
            (["p", "q"], [asyncio.CancelledError(), "Q"]),
            {"q": "Q"},
            "`asyncio.CancelledError` is a `BaseException` but not an `Exception`.",
        ),
    ),
    hint_text=(
        "walk through `zip(prompts, results)` and keep the pairs whose result is a `str`; a "
        "cancelled stream's result is an `asyncio.CancelledError`, which is not an `Exception`."
    ),
    solution_code=textwrap.dedent(
        """\
        def finished_texts(prompts, results):
            return {
                prompt: result
                for prompt, result in zip(prompts, results)
                if isinstance(result, str)
            }
        """
    ),
    error_clues={"TypeError": "`prompts` is a list of strings and `results` a list as long."},
    same=_same_texts,
)


# Notebook 07: made-up Responses streams, built by the simulated server's own encoders and read
# back through the client's types.
_EVENTS: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)


def _response_stream(pieces: Sequence[str], complete: bool = True, ended: bool = True) -> list[Any]:
    """Events of a test response; `complete=False` ends it as cut by max_output_tokens, and
    `ended=False` drops the final event, as when a connection breaks."""
    request = validate_responses_request({"model": "gpt-4o-mini", "input": "exercise"})
    header = ResponseHeader("resp_exercise", "msg_exercise", 0, request)
    usage = response_usage(12, len(pieces))
    timed = response_events(header, pieces, complete, [0.0] * max(1, len(pieces)), usage)
    events = [_EVENTS.validate_python(event) for _, event in timed]
    return events if ended else events[:-1]


def _response_usage(pieces: Sequence[str]) -> ResponseUsage:
    return ResponseUsage.model_validate(
        {
            "input_tokens": 12,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": len(pieces),
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 12 + len(pieces),
        }
    )


_ONE_WORD = ["Two", "."]
_CUT = ["1", ",", " ", "2", ","]

check_response_text_and_usage = Exercise(
    name="response_text_and_usage",
    params="events",
    expected_type=tuple,
    cases=(
        Case(
            "a test stream that answers in one word",
            (_response_stream(_ONE_WORD),),
            ("Two.", _response_usage(_ONE_WORD)),
            "Return a pair: the text of the `response.output_text.delta` events joined, then "
            "the usage of the final response.",
        ),
        Case(
            "a test stream cut short by max_output_tokens",
            (_response_stream(_CUT, complete=False),),
            ("1, 2,", _response_usage(_CUT)),
            "A response cut short ends with `response.incomplete` rather than "
            "`response.completed`, and its response carries usage too.",
        ),
        Case(
            "a test stream that broke off before its final event",
            (_response_stream(_ONE_WORD, ended=False),),
            ("Two.", None),
            "Without a final `response.completed` or `response.incomplete` event there is no "
            "usage, so the second item should say so with `None`.",
        ),
    ),
    hint_text=(
        "check `event.type` for each event: `response.output_text.delta` events carry the text "
        "in `event.delta`; `response.completed` and `response.incomplete` carry the finished "
        "response, whose `usage` you want."
    ),
    solution_code=textwrap.dedent(
        """\
        def response_text_and_usage(events):
            pieces, usage = [], None
            for event in events:
                if event.type == "response.output_text.delta":
                    pieces.append(event.delta)
                elif event.type in ("response.completed", "response.incomplete"):
                    usage = event.response.usage
            return "".join(pieces), usage
        """
    ),
    error_clues={
        "AttributeError": "Only some event types have a `delta` or a `response`: check "
        "`event.type` first.",
    },
    same=_same_text_and_usage,
)
