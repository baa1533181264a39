"""`python -m helpers bench`: figures defined as vLLM's `bench serve` defines them, checked against
the embedded server, whose schedule gives the answers, and against engine-style streams."""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from openai.types import CompletionUsage

from helpers.chunk_event import ChunkEvent
from helpers.recorder import Recorder
from helpers.server.chat_request import validate_chat_request
from helpers.server.embedded import EmbeddedServer
from helpers.server.model import SIMULATED_MODEL
from helpers.server.planning import plan_completion, request_key
from helpers.tools.bench import (
    BenchConfig,
    BenchResult,
    RequestResult,
    format_report,
    request_body,
    request_result,
    result_dict,
    summarize,
)
from helpers.tools.cli import main
from tests.support.streams import ScriptedServer, chunk, mock_client, sse, usage, without_choices

pytestmark = pytest.mark.timeout(120)

PROMPT = "Count to 40."
TOKEN = "bench-token-4b1d"
# How late a measured time may be on loopback, on a busy shared two-core machine; the figures
# it tells apart (TTFT and E2E of the realistic count to 40) are 0.9 s apart.
SLACK = 0.150


def recorded(*arrivals: tuple[float, int | None, str, str | None]) -> Recorder:
    """A Recorder holding one event per (seconds, choice index, text, finish reason)."""
    recorder = Recorder()
    for position, (seconds, index, text, finish) in enumerate(arrivals):
        recorder.events.append(ChunkEvent(seconds, position, index, text, None, finish, None))
    recorder.end()
    return recorder


def test_request_figures_follow_vllm() -> None:
    """TTFT is the first chunk with a choice (even role only); the usage chunk is not E2E; ITL
    counts every gap between choice chunks; TPOT is (E2E - TTFT) / (tokens - 1)."""
    recorder = recorded(
        (0.10, 0, "", None),  # role
        (0.30, 0, "Hello", None),
        (0.35, 0, " there", None),
        (0.50, 0, "", "stop"),
        (0.90, None, "", None),  # usage, no choices
    )
    recorder.usage = CompletionUsage(prompt_tokens=5, completion_tokens=3, total_tokens=8)
    result = request_result(0, 0.0, recorder)
    assert result.ok
    assert result.ttft == pytest.approx(0.10)
    assert result.e2e == pytest.approx(0.50)
    assert result.itl == pytest.approx((0.20, 0.05, 0.15))
    assert result.output_tokens == 3 and not result.tokens_estimated
    assert result.tpot == pytest.approx((0.50 - 0.10) / 2)


def test_summaries_pool_itl_and_leave_out_single_token_tpot() -> None:
    config = BenchConfig("http://127.0.0.1:1/v1", "m", 3, 1)
    results = (
        RequestResult(0, 0.0, True, ttft=0.1, e2e=0.4, itl=(0.1, 0.2), output_tokens=4),
        RequestResult(1, 0.0, True, ttft=0.3, e2e=0.3, itl=(), output_tokens=1),
        RequestResult(2, 0.0, False, error="HTTP 500"),
    )
    figures = summarize(BenchResult(config, 2.0, results))
    assert figures["ttft"].mean == pytest.approx(200.0)
    assert figures["ttft"].p50 == pytest.approx(200.0)
    assert figures["ttft"].p90 == pytest.approx(280.0)  # linear interpolation, as numpy
    assert figures["itl"].mean == pytest.approx(150.0)
    assert figures["tpot"].mean == pytest.approx(100.0)  # only the 4-token request
    assert figures["e2e"].p99 == pytest.approx(399.0)
    assert BenchResult(config, 2.0, results).output_throughput == pytest.approx(2.5)


def expected_schedule(profile: str) -> tuple[float, float, list[float], int]:
    """TTFT, E2E, ITL gaps and tokens the embedded server's plan gives the bench's request."""
    body = {
        "messages": [{"role": "user", "content": PROMPT}],
        "model": SIMULATED_MODEL,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    plan = plan_completion(validate_chat_request(body), profile, request_key(body))  # type: ignore[arg-type]
    offsets = list(plan.offsets)
    # Role chunk, one chunk per token, then the finish chunk with the last token.
    arrivals = [offsets[0], *offsets, offsets[-1]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    return offsets[0], offsets[-1], gaps, len(plan.replies[0].tokens)


def run_cli(
    capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str, dict[str, Any], Path]:
    status = main(["bench", *args])
    out, err = capsys.readouterr()
    out_dir = Path(args[args.index("--out") + 1])
    (json_path,) = out_dir.glob("bench-*.json")
    (png_path,) = out_dir.glob("bench-*.png")
    return status, out, err, json.loads(json_path.read_text()), png_path


def test_against_the_embedded_server_the_figures_are_its_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROOM_KEY", TOKEN)
    ttft, e2e, gaps, tokens = expected_schedule("realistic")
    with EmbeddedServer(profile="realistic", token=TOKEN) as server:
        status, out, err, result, png = run_cli(
            capsys, "--base-url", server.base_url, "--model", SIMULATED_MODEL, "--requests", "4",
            "--concurrency", "4", "--prompt", PROMPT, "--api-key-env", "ROOM_KEY",
            "--out", str(tmp_path),
        )
    assert status == 0
    assert (result["completed"], result["failed"]) == (4, 0)
    assert result["output_tokens"] == 4 * tokens and not result["tokens_estimated"]
    # Same request, same schedule: every figure sits on it, a little late at most.
    for name, planned in (("ttft_ms", ttft), ("e2e_ms", e2e)):
        for field in ("mean", "p50", "p90", "p99"):
            assert 0 <= result[name][field] / 1000 - planned < SLACK, (name, field)
    assert result["itl_ms"]["mean"] / 1000 == pytest.approx(sum(gaps) / len(gaps), abs=0.002)
    assert result["tpot_ms"]["mean"] / 1000 == pytest.approx((e2e - ttft) / (tokens - 1), abs=0.002)
    for request in result["requests"]:
        assert len(request["itl"]) == len(gaps)
    # All four at once: the run lasts one E2E.
    assert e2e <= result["duration_s"] < e2e + SLACK
    assert result["output_throughput"] == pytest.approx(4 * tokens / result["duration_s"])
    for label in ("TTFT", "ITL", "TPOT", "E2E", "output throughput (tok/s)", "4 of 4"):
        assert label in out
    assert "bench: 4/4 requests done, 0 failed" in err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png.read_bytes()[16:24])
    assert (width, height) == (1100, 400)
    saved = json.dumps(result) + out + err
    assert TOKEN not in saved
    assert result["config"]["base_url"] == server.base_url


def test_a_refused_key_stops_before_measuring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRONG_KEY", "not-the-token")
    with EmbeddedServer(profile="instant", token=TOKEN) as server:
        status = main([
            "bench", "--base-url", server.base_url, "--model", SIMULATED_MODEL, "--requests", "2",
            "--api-key-env", "WRONG_KEY", "--out", str(tmp_path),
        ])
    err = capsys.readouterr().err
    assert status == 1
    assert "The first request to" in err and "HTTP 401" in err
    assert "not-the-token" not in err
    assert list(tmp_path.iterdir()) == []


def test_requests_refused_under_load_are_counted_as_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four at once on a server that takes two: two answers, two 429s, figures from the two."""
    with EmbeddedServer(profile="fast", max_streams=2) as server:
        status, out, err, result, _ = run_cli(
            capsys, "--base-url", server.base_url, "--model", SIMULATED_MODEL, "--requests", "4",
            "--concurrency", "4", "--prompt", PROMPT, "--out", str(tmp_path),
        )
    assert status == 0
    assert (result["completed"], result["failed"]) == (2, 2)
    failures = [r["error"] for r in result["requests"] if not r["ok"]]
    assert all(error.startswith("HTTP 429: RateLimitError") for error in failures)
    assert "2 of 4" in out and "failed: HTTP 429" in out
    assert "bench: 4/4 requests done, 2 failed" in err
    assert result["output_tokens"] == 2 * expected_schedule("fast")[3]


def engine_parts(style: str) -> list[bytes]:
    """A stream in the style of vLLM, llama.cpp or Ollama, one SSE part per chunk."""
    pieces = ["1", ",", " ", "2", ",", " ", "3"]
    if style == "vllm":
        events = [chunk("", role="assistant"), *[chunk(p) for p in pieces],
                  chunk("", finish_reason="stop", stop_reason=None),
                  without_choices(choices=[], usage=usage(9, len(pieces)))]
    elif style == "llama.cpp":
        timings = {"prompt_n": 9, "predicted_n": len(pieces), "predicted_ms": 80.0}
        events = [chunk(None, role="assistant"), *[chunk(p) for p in pieces],
                  chunk(finish_reason="stop", usage=usage(9, len(pieces)), timings=timings)]
    else:  # Ollama: role on every chunk, text in the finish chunk, no usage
        events = [*[chunk(p, role="assistant") for p in pieces[:-1]],
                  chunk(pieces[-1], role="assistant", finish_reason="stop")]
    return [*(sse(event, done=False) for event in events), b"data: [DONE]\n\n"]


@pytest.mark.parametrize("style", ["vllm", "llama.cpp", "ollama"])
def test_engine_styles_are_measured_alike(
    style: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """First chunk after 200 ms, then one every 30 ms: the same figures from every engine; only
    Ollama's token count is an estimate, as it sends no usage."""
    parts = engine_parts(style)
    with ScriptedServer(parts, delays=[0.2] + [0.03] * (len(parts) - 1)) as engine:
        status, out, _, result, _ = run_cli(
            capsys, "--base-url", engine.base_url, "--model", "some-model", "--requests", "2",
            "--concurrency", "1", "--out", str(tmp_path),
        )
    assert status == 0 and result["completed"] == 2
    choice_chunks = len(parts) - 1 - (style == "vllm")  # [DONE] and the usage chunk carry none
    assert 0 <= result["ttft_ms"]["mean"] / 1000 - 0.2 < SLACK
    assert result["e2e_ms"]["mean"] / 1000 == pytest.approx(
        0.2 + 0.03 * (choice_chunks - 1), abs=SLACK
    )
    assert result["itl_ms"]["p50"] / 1000 == pytest.approx(0.03, abs=0.01)
    assert result["tokens_estimated"] is (style == "ollama")
    assert result["output_tokens"] == 2 * 7 if style != "ollama" else result["output_tokens"] > 0
    assert ("estimated" in out) is (style == "ollama")


def streamed(body: bytes) -> Recorder:
    recorder = Recorder()
    recorder.start()
    with mock_client(body) as client, client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    ) as stream:
        for _ in recorder.record(stream):
            pass
    return recorder


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # An engine that cut the stream off after its role chunk: no text, no finish, no [DONE].
        (sse(chunk("", role="assistant"), done=False),
         "cut off: the stream ended without a finish_reason and without any text"),
        (sse(chunk("", role="assistant"), chunk("1, 2"), done=False),
         "cut off: the stream ended without a finish_reason"),
        (sse(chunk("1", index=0), chunk("2", index=1), chunk(index=0, finish_reason="stop")),
         "cut off: the stream ended without a finish_reason"),
        (sse(chunk("1, 2"), chunk(finish_reason="stop"), done=False),
         "cut off: the stream ended without data: [DONE]"),
    ],
)
def test_a_stream_that_did_not_finish_is_not_a_success(body: bytes, reason: str) -> None:
    result = request_result(0, 0.0, streamed(body))
    assert (result.ok, result.cut_off, result.error) == (False, True, reason)
    whole = request_result(0, 0.0, streamed(sse(chunk("1, 2"), chunk(finish_reason="stop"))))
    assert (whole.ok, whole.cut_off) == (True, False)


def test_the_report_counts_cut_off_streams_apart_from_errors() -> None:
    config = BenchConfig(base_url="http://x/v1", model="m", requests=3, concurrency=1)
    results = (
        RequestResult(0, 0.0, True, ttft=0.1, e2e=0.2, output_tokens=2),
        RequestResult(1, 0.1, False, "cut off: the stream ended without data: [DONE]",
                      cut_off=True),
        RequestResult(2, 0.2, False, "HTTP 500: InternalServerError: boom"),
    )
    bench = BenchResult(config, 1.0, results)
    report = format_report(bench)
    assert "successful requests         1 of 3" in report
    assert "cut off or empty            1" in report
    assert "failed with an error        1" in report
    assert (result_dict(bench)["completed"], result_dict(bench)["cut_off"]) == (1, 1)


def test_a_first_request_cut_off_stops_the_run_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ScriptedServer([sse(chunk("", role="assistant"), done=False)]) as engine:
        status = main(["bench", "--base-url", engine.base_url, "--model", "m",
                       "--requests", "2", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 1
    assert "The first request" in err and "cut off" in err


@pytest.mark.parametrize(
    ("base_url", "limit"),
    [
        ("https://api.openai.com/v1", {"max_completion_tokens": 9}),
        ("http://127.0.0.1:8000/v1", {"max_completion_tokens": 9, "max_tokens": 9}),
        ("https://engine.example/v1", {"max_completion_tokens": 9, "max_tokens": 9}),
    ],
)
def test_the_token_limit_reaches_engines_that_read_only_max_tokens(
    base_url: str, limit: dict[str, int]
) -> None:
    config = BenchConfig(base_url, "m", requests=1, concurrency=1, max_tokens=9)
    body = request_body(config)
    assert {k: v for k, v in body.items() if k.startswith("max_")} == limit
    assert "max_tokens" not in request_body(BenchConfig(base_url, "m", 1, 1))
