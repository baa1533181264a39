"""Streaming Completions Lab helpers: backend choice, live view, measurement, plots.

Names load on first use, so `python -m helpers serve` starts without importing widgets or
matplotlib, and importing `helpers` never starts a server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helpers._backend import current_backend, get_async_client, get_client
    from helpers._exercises import (
        check_finished_texts,
        check_join_deltas,
        check_pieces_until_blocked,
        check_reply_text,
        check_response_text_and_usage,
        check_text_and_usage,
        check_time_to_first_token,
    )
    from helpers._live import LiveView
    from helpers._metrics import StreamMetrics
    from helpers._playground import Playground, side_by_side, whole_answer
    from helpers._plots import plot_arrivals, plot_blocking_vs_streaming, plot_inter_arrival
    from helpers._recorder import ChunkEvent, Recorder
    from helpers._usage import show_usage

    MODEL: str

_HOMES = {
    "get_client": "helpers._backend",
    "get_async_client": "helpers._backend",
    "current_backend": "helpers._backend",
    "Recorder": "helpers._recorder",
    "ChunkEvent": "helpers._recorder",
    "StreamMetrics": "helpers._metrics",
    "LiveView": "helpers._live",
    "plot_arrivals": "helpers._plots",
    "plot_blocking_vs_streaming": "helpers._plots",
    "plot_inter_arrival": "helpers._plots",
    "show_usage": "helpers._usage",
    "Playground": "helpers._playground",
    "side_by_side": "helpers._playground",
    "whole_answer": "helpers._playground",
    "check_reply_text": "helpers._exercises",
    "check_join_deltas": "helpers._exercises",
    "check_pieces_until_blocked": "helpers._exercises",
    "check_finished_texts": "helpers._exercises",
    "check_time_to_first_token": "helpers._exercises",
    "check_text_and_usage": "helpers._exercises",
    "check_response_text_and_usage": "helpers._exercises",
}

__all__ = [
    "MODEL",
    "ChunkEvent",
    "LiveView",
    "Playground",
    "Recorder",
    "StreamMetrics",
    "check_finished_texts",
    "check_join_deltas",
    "check_pieces_until_blocked",
    "check_reply_text",
    "check_response_text_and_usage",
    "check_text_and_usage",
    "check_time_to_first_token",
    "current_backend",
    "get_async_client",
    "get_client",
    "plot_arrivals",
    "plot_blocking_vs_streaming",
    "plot_inter_arrival",
    "show_usage",
    "side_by_side",
    "whole_answer",
]


def __getattr__(name: str) -> Any:
    if name == "MODEL":
        # The model depends on the backend, which may have to be asked: resolved on first use.
        from helpers._backend import resolve_model

        return resolve_model()
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'helpers' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted(__all__)
