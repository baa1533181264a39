"""The command line: `python -m helpers serve` runs the simulated OpenAI API in the foreground;
`streaming-lab lab` opens the first notebook in JupyterLab, as `make lab` does."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SUBCOMMANDS", "Subcommand", "main"]

TOKEN_ENV = "TUTORIAL_SERVER_TOKEN"
# Faster than any engine streams one answer, slow enough that ten flat-out streams take a small
# share of a core.
ROOM_CHUNK_RATE = 2_000
FIRST_NOTEBOOK = Path("notebooks", "01_plain_response.ipynb")


@dataclass(frozen=True)
class Subcommand:
    """One `python -m helpers NAME`: its help line, its arguments and what it runs."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    # Arguments it does not know go on to the program it starts, in `args.passed_on`.
    passes_on: bool = False


def _configure_serve(parser: argparse.ArgumentParser) -> None:
    from helpers.server.timing import PROFILES
    from helpers.tools.arguments import non_negative_float, positive_int

    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"bearer token clients must send as their API key (default: ${TOKEN_ENV}); "
        "required to listen beyond loopback",
    )
    parser.add_argument("--profile", choices=PROFILES, default="realistic", help="latency profile")
    parser.add_argument(
        "--max-streams",
        type=positive_int,
        default=200,
        help="completions answered at once; one more gets a 429 asking to retry (200)",
    )
    parser.add_argument(
        "--max-chunk-rate",
        type=non_negative_float,
        default=ROOM_CHUNK_RATE,
        help="events a second one stream may send beyond a short burst, so that no learner's "
        f"stream can take the server's whole CPU; 0 for no limit ({ROOM_CHUNK_RATE:g})",
    )
    parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="print one line per request on stdout, without headers or query strings (on)",
    )


def _serve(args: argparse.Namespace) -> int:
    from helpers.server.bind import StartRefused
    from helpers.server.foreground import serve_forever
    from helpers.server.model import SIMULATED_MODEL

    def announce(base_url: str) -> None:
        guard = "; clients must send the token as their API key" if args.token else ""
        # The token itself is never printed: terminals end up in screenshots and logs.
        print(
            f"Simulated OpenAI API at {base_url} (model {SIMULATED_MODEL}, profile "
            f"{args.profile}{guard}). Ctrl-C stops it.",
            flush=True,
        )

    if args.access_log:
        _log_access_to_stdout()
    try:
        serve_forever(
            args.host,
            args.port,
            args.token,
            args.profile,
            max_streams=args.max_streams,
            max_chunk_rate=args.max_chunk_rate,
            access_log=args.access_log,
            on_ready=announce,
        )
    except StartRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    # Ctrl-C or SIGTERM: open streams have finished at once.
    print("Stopped.", flush=True)
    return 0


def _log_access_to_stdout() -> None:
    from helpers.server.access_log import ACCESS_LOGGER

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _configure_bench(parser: argparse.ArgumentParser) -> None:
    from helpers.tools.bench import configure

    configure(parser)


def _bench(args: argparse.Namespace) -> int:
    from helpers.tools.bench import run

    return run(args)


def _configure_notebooks(parser: argparse.ArgumentParser) -> None:
    from helpers.tools.notebooks import configure

    configure(parser)


def _notebooks(args: argparse.Namespace) -> int:
    from helpers.tools.notebooks import run

    return run(args)


def _configure_lab(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "Other arguments go to `jupyter lab`, for example --no-browser --port=8890."


def lab_command(
    lab_args: Sequence[str], environ: Mapping[str, str], is_root: bool
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of `make lab`: the first notebook, on the embedded backend."""
    env = dict(environ)
    # As in the Makefile: embedded unless the caller chose a backend (`TUTORIAL_BACKEND=auto`).
    env.setdefault("TUTORIAL_BACKEND", "embedded")
    # JupyterLab refuses to run as root (containers, CI) unless told it may.
    root = ["--allow-root"] if is_root else []
    command = [sys.executable, "-m", "jupyter", "lab", str(FIRST_NOTEBOOK), *root, *lab_args]
    return command, env


def _lab(args: argparse.Namespace) -> int:
    if not FIRST_NOTEBOOK.is_file():
        print(
            f"error: {FIRST_NOTEBOOK} is not here; run this in the tutorial's folder.",
            file=sys.stderr,
        )
        return 2
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    command, env = lab_command(args.passed_on, os.environ, is_root)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "serve": Subcommand(
        "run the simulated OpenAI-compatible API server", _configure_serve, _serve
    ),
    "bench": Subcommand(
        "measure TTFT, ITL, TPOT, E2E and throughput of an OpenAI-compatible endpoint",
        _configure_bench,
        _bench,
    ),
    "notebooks": Subcommand(
        "re-run the lesson notebooks on the embedded backend and save their outputs",
        _configure_notebooks,
        _notebooks,
    ),
    "lab": Subcommand(
        "open JupyterLab on the first notebook, on the embedded backend (as `make lab`)",
        _configure_lab,
        _lab,
        passes_on=True,
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv[1:]), run the chosen subcommand, return its exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, subcommand in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=subcommand.help, description=subcommand.help)
        # Only the chosen subcommand is configured: some import slow modules to do so (nbformat,
        # openai), and `serve` should start at once.
        if arguments[:1] == [name]:
            subcommand.configure(sub)
        sub.set_defaults(run=subcommand.run, passes_on=subcommand.passes_on)
    args, unknown = parser.parse_known_args(arguments)
    if unknown and not args.passes_on:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.passed_on = unknown
    status: int = args.run(args)
    return status

