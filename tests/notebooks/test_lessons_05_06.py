"""Notebooks 05 and 06: what they teach holds against the server, and their outputs show it.

The generic checks (shape, freshness, nbval replay) cover every lesson; these pin the claims
particular to the failure and concurrency lessons, so that a change in the server or the client
that silently makes a lesson wrong fails here with a named reason.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nbformat import NotebookNode
from openai.types.chat import ChatCompletionChunk

from helpers.exercises import check_finished_texts, check_pieces_until_blocked
from helpers.exercises.framework import Exercise
from helpers.fault_injection import inject_fault
from helpers.server.capacity import ServerStats
from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL
from helpers.tools.notebooks import NOTEBOOK_DIR, NOTEBOOKS, read

pytestmark = pytest.mark.timeout(60)

FAILURES = "05_when_streams_fail.ipynb"
MANY = "06_async_and_many_streams.ipynb"
COUNT = "Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ..."
COUNT_TO_100 = [{"role": "user", "content": COUNT}]
CLIENT_TIMEOUT = 10.0
SETTLE_SECONDS = 5.0


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    """A server of this module's own, so that other tests' streams never move its counters."""
    with EmbeddedServer(profile="fast") as running:
        yield running


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=server.base_url, api_key="k", timeout=CLIENT_TIMEOUT, max_retries=0
    ) as made:
        yield made


def simulate(**controls: Any) -> dict[str, Any]:
    return {"simulation": {"profile": "fast", **controls}}


def settled(server: EmbeddedServer, before: ServerStats, moved: str | None = None) -> ServerStats:
    """The server's counters once its streams have ended (and `moved` has changed)."""
    deadline = time.perf_counter() + SETTLE_SECONDS
    while True:
        now = server.stats()
        done = now.active <= before.active
        if done and (moved is None or getattr(now, moved) != getattr(before, moved)):
            return now
        assert time.perf_counter() < deadline, f"the server did not settle: {now}"
        time.sleep(0.02)


def texts(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


# --- what notebook 05 says about the server, which the notebook itself cannot see -----------
# The client's side of every fault is pinned in tests/helpers/test_fault_injection.py.


def test_break_inside_with_makes_the_server_stop(
    server: EmbeddedServer, client: openai.OpenAI
) -> None:
    before = server.stats()
    with client.chat.completions.create(
        model=SIMULATED_MODEL, messages=COUNT_TO_100, stream=True,
        extra_body={"simulation": {"profile": "realistic"}},
    ) as stream:
        for count, _ in enumerate(stream, start=1):
            if count == 20:
                break
    after = settled(server, before, moved="client_closed")
    assert after.client_closed - before.client_closed == 1
    assert after.completed == before.completed
    assert after.chunks_sent - before.chunks_sent < 100


def test_break_without_with_lets_the_server_generate_everything(
    server: EmbeddedServer, client: openai.OpenAI
) -> None:
    before = server.stats()
    stream = client.chat.completions.create(
        model=SIMULATED_MODEL, messages=COUNT_TO_100, stream=True, extra_body=simulate()
    )
    try:
        next(iter(stream))
        after = settled(server, before, moved="completed")
    finally:
        stream.close()
    assert after.completed - before.completed == 1
    assert after.chunks_sent - before.chunks_sent == 300
    assert after.client_closed == before.client_closed


# --- the moderation code as notebook 05 teaches it -----------------------------------------


def _lesson(name: str) -> NotebookNode:
    assert name in NOTEBOOKS, f"{name} is not in helpers.tools.notebooks.NOTEBOOKS"
    return read(NOTEBOOK_DIR / name)


def _cell(nb: NotebookNode, start: str) -> NotebookNode:
    found = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(start)]
    assert len(found) == 1, f"expected one code cell starting {start!r}, found {len(found)}"
    return found[0]


def _shown(cell: NotebookNode) -> str:
    return "".join(
        output.get("text", "") or output.get("data", {}).get("text/plain", "")
        for output in cell.outputs
    )


@pytest.fixture(scope="module")
def moderated() -> Callable[[list[str]], str]:
    """The notebook's own `moderated()` generator, fed made-up streams split into `pieces`."""
    nb = _lesson(FAILURES)
    namespace: dict[str, Any] = {"BLOCKED": ["Bluebird"]}
    exec(_cell(nb, "KEEP = ").source, namespace)
    exec(_cell(nb, "def moderated(").source, namespace)

    def run(pieces: list[str]) -> str:
        chunks = [_chunk(piece) for piece in pieces]
        return "".join(namespace["moderated"](chunks))

    return run


def _chunk(content: str) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": SIMULATED_MODEL,
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
        }
    )


def _split(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *sorted(set(cuts)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


SECRET = "Our launch is on Friday. The code name is Bluebird, so keep it quiet."


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(SECRET)), max_size=12))
def test_held_back_moderation_never_shows_any_of_the_phrase(
    moderated: Callable[[list[str]], str], cuts: list[int]
) -> None:
    """However the reply is split into chunks, what the moderated stream shows stops before the
    blocked phrase begins: not even its first letters reach the screen."""
    shown = moderated(_split(SECRET, cuts))
    assert SECRET.startswith(shown)
    assert len(shown) <= SECRET.index("Bluebird")


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(SECRET)), max_size=12))
def test_moderation_passes_an_innocent_text_whole(
    moderated: Callable[[list[str]], str], cuts: list[int]
) -> None:
    innocent = SECRET.replace("Bluebird", "Redwing")
    assert moderated(_split(innocent, cuts)) == innocent


# --- the exercises ---------------------------------------------------------------------------

WRONG: list[tuple[Exercise, Callable[..., Any], str]] = [
    (
        check_pieces_until_blocked,
        lambda pieces, phrase: next(
            (n for n, piece in enumerate(pieces, 1) if phrase in piece), len(pieces)
        ),
        "split over two pieces",
    ),
    (
        check_pieces_until_blocked,
        lambda pieces, phrase: next(
            (n for n, piece in enumerate(pieces, 1) if phrase in piece), None
        ),
        "split over two pieces",
    ),
    (
        check_finished_texts,
        lambda prompts, results: {
            p: r for p, r in zip(prompts, results, strict=True) if not isinstance(r, Exception)
        },
        "`asyncio.CancelledError` is a `BaseException`",
    ),
    (
        check_finished_texts,
        lambda prompts, results: dict(zip(prompts, results, strict=True)),
        "Leave out the prompts whose result is an exception",
    ),
]


@pytest.mark.parametrize("exercise", [check_pieces_until_blocked, check_finished_texts])
def test_reference_answers_pass(exercise: Exercise) -> None:
    assert exercise(exercise.reference()).correct


@pytest.mark.parametrize(("exercise", "answer", "clue"), WRONG)
def test_wrong_answers_fail_with_a_clue(
    exercise: Exercise, answer: Callable[..., Any], clue: str
) -> None:
    feedback = exercise(answer)
    assert feedback.outcome == "incorrect"
    assert clue in feedback.message


def test_finished_texts_cases_hold_a_real_cancellation() -> None:
    """The exercise's point is that a cancelled task's result is no Exception: keep it true."""
    results = [case.args[1] for case in check_finished_texts.cases]
    cancelled = [r for rs in results for r in rs if isinstance(r, asyncio.CancelledError)]
    assert cancelled and not any(isinstance(r, Exception) for r in cancelled)


# --- the lessons run on any backend, and their outputs show what the prose says ------------


@pytest.mark.parametrize("name", [FAILURES, MANY])
def test_lessons_use_no_simulation_controls_and_no_server_counters(name: str) -> None:
    """Every figure must be the learner's own request's, from the client's side, on any backend:
    no `simulation` field (real engines ignore it), no /health (a room's server counts everyone's
    traffic, and real engines have none), no `temperature` (reasoning models refuse it)."""
    code = "\n".join(c.source for c in _lesson(name).cells if c.cell_type == "code")
    for banned in ("simulation", "extra_body", "/health", "urllib", "temperature"):
        assert banned not in code, f"{name} uses {banned!r}"
    assert "inject_fault(" in code


def test_05_shows_each_fault_from_the_clients_side() -> None:
    nb = _lesson(FAILURES)
    slow = _shown(_cell(nb, "impatient = client.with_options("))
    assert slow.startswith("APITimeoutError after") and "no answer within the read timeout" in slow
    stalled = _shown(_cell(nb, 'faulty, traffic = inject_fault(impatient, "stall"'))
    assert "APITimeoutError after 20 chunks: '1, 2, 3, 4, 5, 6, 7'" in stalled
    assert stalled.endswith("1. 200, 20 events, then a stall; closed by the client")
    error = _shown(_cell(nb, 'faulty, traffic = inject_fault(client, "error_event"'))
    assert error.endswith("1. 200, 12 events, then an error event")
    dropped = _shown(_cell(nb, 'faulty, traffic = inject_fault(client, "disconnect"'))
    assert "caused by RemoteProtocolError('peer closed connection" in dropped
    assert dropped.endswith("1. 200, 12 events, then a dropped connection")
    quiet = _shown(_cell(nb, 'faulty, traffic = inject_fault(client, "quiet_end"'))
    assert "No finish_reason arrived for choice 0" in quiet


def test_05_shows_the_retries_and_the_error_without_status() -> None:
    nb = _lesson(FAILURES)
    retried = _shown(_cell(nb, "patient = client.with_options(max_retries=2)"))
    assert "RateLimitError 429 after" in retried
    refused = [f"  {n}. 429 from the injector, never sent" for n in (1, 2, 3)]
    assert retried.endswith("\n".join(["3 attempts, 0 reached the server", *refused])), retried
    passed = _shown(_cell(nb, 'faulty, traffic = inject_fault(patient, "rate_limit"'))
    let_through = [*refused[:2], "  3. 200, 0 events; closed by the client"]
    assert passed.endswith("1 reached the server\n" + "\n".join(let_through)), passed
    assert "{'retry-after': '1', 'retry-after-ms': '500'}" in retried
    error = _shown(_cell(nb, 'faulty, traffic = inject_fault(client, "error_event"'))
    assert error.startswith("APIError, with a status_code: False\n{'message': 'The server had")


def test_05_shows_the_client_closing_the_stream_only_with_with() -> None:
    nb = _lesson(FAILURES)
    closed = _cell(nb, "pieces = []\nwith client.")
    assert _shown(closed) == "('1, 2, 3, 4, 5, 6, 7', True)"
    assert _shown(_cell(nb, "stream = client.chat.completions.create(")) == "False"
    assert _shown(_cell(nb, "stream.close()")) == "True"


def test_05_moderation_outputs_keep_the_name_off_the_screen() -> None:
    nb = _lesson(FAILURES)
    caught = _shown(_cell(nb, '"".join(shown), found'))
    assert caught.endswith("The code name is Blue', 'Bluebird', True)"), caught
    opening = "with client.chat.completions.create(\n    model=MODEL, messages=SECRET_MESSAGES"
    held_back = _shown(_cell(nb, opening + ", stream=True\n) as stream:\n    safe"))
    assert "Blue" not in held_back and held_back.startswith("'Our launch")


def test_06_stream_text_refuses_an_answer_cut_short(embedded_base_url: str) -> None:
    """Section 3 compares the times of whole answers: the notebook's own `stream_text` raises
    for a stream that ends without finish_reason "stop" instead of timing it."""
    source = _cell(_lesson(MANY), "async def stream_text(prompt):").source

    async def run(cut: bool) -> str:
        async with openai.AsyncOpenAI(base_url=embedded_base_url, api_key="k") as aclient:
            used = inject_fault(aclient, "quiet_end", after_events=5)[0] if cut else aclient
            async with used:
                namespace: dict[str, Any] = {"MODEL": SIMULATED_MODEL, "aclient": used}
                exec(source, namespace)
                text: str = await namespace["stream_text"]("Count to 20")
                return text

    assert asyncio.run(run(cut=False)).startswith("1, 2, 3")
    with pytest.raises(RuntimeError, match="finish_reason=None"):
        asyncio.run(run(cut=True))


def test_06_plots_both_runs_and_cancels_only_the_stalled_stream() -> None:
    nb = _lesson(MANY)
    figure = _cell(nb, "fig, axes = plt.subplots(")
    assert "figsize=" in figure.source
    assert [sorted(output.data) for output in figure.outputs] == [["image/png", "text/plain"]]
    cancelled = _cell(nb, "tasks = [")
    finals = [output.data["text/plain"] for output in cancelled.outputs]
    # In the order the streams ended: the stalled one is cancelled once the count to 50 is done.
    assert [text.endswith("Stopped: the text above is what had arrived.") for text in finals] == [
        False, False, True, False,
    ]
    kinds = _shown(_cell(nb, "[type(result).__name__ for result in results]"))
    assert kinds == "['str', 'CancelledError', 'str', 'str']"
    stalled = _shown(_cell(nb, "traffic"))
    assert stalled.endswith("1. 200, 10 events, then a stall; closed by the client")


def test_lessons_link_on_in_order() -> None:
    def next_link(name: str) -> str:
        (cell,) = [
            c for c in _lesson(name).cells
            if c.cell_type == "markdown" and c.source.startswith("## What's next")
        ]
        return str(cell.source)

    assert "](05_when_streams_fail.ipynb)" in next_link("04_usage.ipynb")
    assert "](06_async_and_many_streams.ipynb)" in next_link(FAILURES)
    assert "](07_responses_api.ipynb)" in next_link(MANY)
