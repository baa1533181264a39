"""How an exercise checks a learner's function, in the manner of Kaggle's learntools.

Each exercise asks for one small function. `check_<name>(fn)` runs it on made-up inputs and
returns a `Feedback` that displays itself; `.hint()` and `.solution()` reveal help. Messages name
the function and show what it returned, never the expected value.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["correct", "incorrect", "not attempted"]
# Learners' functions take and return anything; the checks inspect what comes back.
LearnerFunction = Callable[..., Any]

_HEADINGS: dict[Verdict, tuple[str, str]] = {
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

    outcome: Verdict
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
        # A solution may name the notebook's MODEL, which a made-up client ignores.
        namespace: dict[str, Any] = {"MODEL": "exercise-model"}
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


def close_enough(got: float, expected: float) -> bool:
    """Equal but for float rounding: learners subtract perf_counter readings."""
    return math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9)


def same_text_and_usage(got: tuple[Any, ...], expected: tuple[Any, ...]) -> bool:
    """A (text, usage) pair equal to the expected one."""
    return len(got) == 2 and got[0] == expected[0] and got[1] == expected[1]
