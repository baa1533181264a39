"""Streaming Completions Lab helpers: backend choice, live view, measurement, plots.

Names load on first use, so `python -m helpers serve` starts without importing widgets or
matplotlib, and importing `helpers` never starts a server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from helpers.lazy import lazy_exports

if TYPE_CHECKING:
    from helpers.backend import (
        current_backend,
        get_async_client,
        get_client,
        with_responses_api,
    )
    from helpers.chunk_event import ChunkEvent
    from helpers.exercises import (
        check_converse,
        check_finished_texts,
        check_is_cut_off,
        check_join_deltas,
        check_pieces_until_blocked,
        check_reply_text,
        check_response_text_and_usage,
        check_text_and_usage,
        check_time_to_first_token,
    )
    from helpers.fault_injection import Traffic, inject_fault
    from helpers.live import LiveView
    from helpers.metrics import StreamMetrics
    from helpers.playground import Playground, race, side_by_side, whole_answer
    from helpers.plots import (
        plot_arrivals,
        plot_blocking_vs_streaming,
        plot_inter_arrival,
        plot_real_trace,
    )
    from helpers.recorder import Recorder
    from helpers.usage import show_usage

    MODEL: str

_HOMES = {
    "get_client": "helpers.backend",
    "get_async_client": "helpers.backend",
    "current_backend": "helpers.backend",
    "with_responses_api": "helpers.backend",
    "Recorder": "helpers.recorder",
    "ChunkEvent": "helpers.chunk_event",
    "StreamMetrics": "helpers.metrics",
    "LiveView": "helpers.live",
    "inject_fault": "helpers.fault_injection",
    "Traffic": "helpers.fault_injection",
    "plot_arrivals": "helpers.plots",
    "plot_real_trace": "helpers.plots",
    "plot_blocking_vs_streaming": "helpers.plots",
    "plot_inter_arrival": "helpers.plots",
    "show_usage": "helpers.usage",
    "Playground": "helpers.playground",
    "race": "helpers.playground",
    "side_by_side": "helpers.playground",
    "whole_answer": "helpers.playground",
    "check_reply_text": "helpers.exercises",
    "check_is_cut_off": "helpers.exercises",
    "check_converse": "helpers.exercises",
    "check_join_deltas": "helpers.exercises",
    "check_pieces_until_blocked": "helpers.exercises",
    "check_finished_texts": "helpers.exercises",
    "check_time_to_first_token": "helpers.exercises",
    "check_text_and_usage": "helpers.exercises",
    "check_response_text_and_usage": "helpers.exercises",
}

__all__ = [
    "MODEL",
    "ChunkEvent",
    "LiveView",
    "Playground",
    "Recorder",
    "StreamMetrics",
    "Traffic",
    "check_converse",
    "check_finished_texts",
    "check_is_cut_off",
    "check_join_deltas",
    "check_pieces_until_blocked",
    "check_reply_text",
    "check_response_text_and_usage",
    "check_text_and_usage",
    "check_time_to_first_token",
    "current_backend",
    "get_async_client",
    "get_client",
    "inject_fault",
    "plot_arrivals",
    "plot_blocking_vs_streaming",
    "plot_inter_arrival",
    "plot_real_trace",
    "race",
    "show_usage",
    "side_by_side",
    "whole_answer",
    "with_responses_api",
]


_exported, _listed = lazy_exports(__name__, _HOMES)


def __getattr__(name: str) -> Any:
    if name == "MODEL":
        # The model depends on the backend, which may have to be asked: resolved on first use.
        from helpers.backend import resolve_model

        return resolve_model()
    return _exported(name)


def __dir__() -> list[str]:
    return sorted(__all__)
