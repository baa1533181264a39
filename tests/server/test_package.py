"""The server package stands alone: its public API, and none of the learner's modules."""

from __future__ import annotations

import json
import subprocess
import sys

import helpers.server

LEARNER_MODULES = (
    "helpers.backend",
    "helpers.recorder",
    "helpers.live",
    "helpers.metrics",
    "helpers.plots",
    "helpers.usage",
    "helpers.playground",
    "helpers.exercises",
    "helpers.tools",
)


def test_importing_the_server_loads_none_of_the_learners_modules() -> None:
    code = (
        "import json, sys, helpers.server, helpers.server.testing.process, "
        "helpers.server.testing.sse_probe; "
        f"print(json.dumps([m for m in {LEARNER_MODULES!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_the_public_api_is_importable_from_the_package() -> None:
    for name in (
        "create_app", "ServerConfig", "EmbeddedServer", "ensure_embedded_server",
        "SIMULATED_MODEL", "OpenAIError", "UnsafeBindError", "check_bind", "is_loopback",
        "ACCESS_LOGGER",
    ):
        assert name in helpers.server.__all__
    for name in helpers.server.__all__:
        assert getattr(helpers.server, name) is not None


def test_the_model_and_tokenizer_load_without_the_http_stack() -> None:
    """A learner's kernel on OpenAI needs the tokenizer (for estimates), not uvicorn."""
    code = (
        "import json, sys, helpers.server.model, helpers.server.tokens; "
        "print(json.dumps([m for m in ('uvicorn', 'starlette') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
