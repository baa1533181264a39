"""Streaming Completions Lab helpers: backend choice, live view, measurement, plots."""

from __future__ import annotations

__all__: list[str] = []
