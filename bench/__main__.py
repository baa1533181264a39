"""Run every benchmark and print its figures, with the machine and versions they were taken on."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from datetime import date
from importlib import metadata

from bench import bench_abuse, bench_live, bench_load, bench_server

# Each benchmark module offers `run() -> list[str]`: its report lines.
BENCHMARKS: list[tuple[str, Callable[[], list[str]]]] = [
    ("Live view and recorder", bench_live.run),
    ("Embedded server throughput", bench_server.run),
    ("A room on one server", bench_load.run),
    ("A room under abuse", bench_abuse.run),
]
_VERSIONS = ("openai", "httpx2", "ipywidgets", "ipykernel", "starlette", "uvicorn")


def describe_machine() -> str:
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in _VERSIONS)
    # The machine may be shared: its load at the start says how quiet the figures could be.
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{date.today().isoformat()} · {platform.platform()} · {os.cpu_count()} cores "
        f"(load average {load}) · Python {sys.version.split()[0]} · {versions}"
    )


def main() -> None:
    print(describe_machine())
    for title, run in BENCHMARKS:
        print(f"\n## {title}")
        for line in run():
            print(f"- {line}")


if __name__ == "__main__":
    main()
