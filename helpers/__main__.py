"""The command line: `python -m helpers serve` runs the simulated OpenAI API in the foreground."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["SUBCOMMANDS", "Subcommand", "main"]

TOKEN_ENV = "TUTORIAL_SERVER_TOKEN"


@dataclass(frozen=True)
class Subcommand:
    """One `python -m helpers NAME`: its help line, its arguments and what it runs."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _configure_serve(parser: argparse.ArgumentParser) -> None:
    from ._timing import PROFILES

    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"bearer token clients must send as their API key (default: ${TOKEN_ENV}); "
        "required to listen beyond loopback",
    )
    parser.add_argument("--profile", choices=PROFILES, default="realistic", help="latency profile")


def _serve(args: argparse.Namespace) -> int:
    from ._embedded import EmbeddedServer, UnsafeBindError
    from ._model import SIMULATED_MODEL

    try:
        server = EmbeddedServer(args.host, args.port, token=args.token, profile=args.profile)
    except UnsafeBindError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def announce(base_url: str) -> None:
        guard = "; clients must send the token as their API key" if args.token else ""
        # The token itself is never printed: terminals end up in screenshots and logs.
        print(
            f"Simulated OpenAI API at {base_url} (model {SIMULATED_MODEL}, profile "
            f"{args.profile}{guard}). Ctrl-C stops it.",
            flush=True,
        )

    try:
        server.serve_forever(announce)
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # uvicorn has already shut down gracefully and re-raised the Ctrl-C.
        pass
    print("Stopped.", flush=True)
    return 0


def _configure_notebooks(parser: argparse.ArgumentParser) -> None:
    from ._notebooks import configure

    configure(parser)


def _notebooks(args: argparse.Namespace) -> int:
    from ._notebooks import run

    return run(args)


SUBCOMMANDS: dict[str, Subcommand] = {
    "serve": Subcommand(
        "run the simulated OpenAI-compatible API server", _configure_serve, _serve
    ),
    "notebooks": Subcommand(
        "re-run the lesson notebooks on the embedded backend and save their outputs",
        _configure_notebooks,
        _notebooks,
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv[1:]), run the chosen subcommand, return its exit status."""
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, subcommand in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=subcommand.help, description=subcommand.help)
        subcommand.configure(sub)
        sub.set_defaults(run=subcommand.run)
    args = parser.parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
