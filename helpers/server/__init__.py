"""The simulated OpenAI server: chat completions and Responses, streamed as OpenAI streams them,
from a rule-based model, with latency profiles and injectable faults.

It never imports the learner's modules (helpers.backend, helpers.live, ...): they use it, not
the other way round. Its names load on first use, so a module that needs only the simulated
model or the tokenizer does not load uvicorn and Starlette with it.
"""

from typing import TYPE_CHECKING

from helpers.lazy import lazy_exports

if TYPE_CHECKING:
    from helpers.server.access_log import ACCESS_LOGGER, AccessLog
    from helpers.server.app import ServerConfig, create_app
    from helpers.server.bind import UnsafeBindError, check_bind, is_loopback
    from helpers.server.capacity import ServerStats
    from helpers.server.embedded import EmbeddedServer, EmbeddedServerError, ensure_embedded_server
    from helpers.server.errors import OpenAIError
    from helpers.server.foreground import serve_forever
    from helpers.server.model import SIMULATED_MODEL

_HOMES = {
    "ACCESS_LOGGER": "helpers.server.access_log",
    "AccessLog": "helpers.server.access_log",
    "EmbeddedServer": "helpers.server.embedded",
    "EmbeddedServerError": "helpers.server.embedded",
    "OpenAIError": "helpers.server.errors",
    "SIMULATED_MODEL": "helpers.server.model",
    "ServerConfig": "helpers.server.app",
    "ServerStats": "helpers.server.capacity",
    "UnsafeBindError": "helpers.server.bind",
    "check_bind": "helpers.server.bind",
    "create_app": "helpers.server.app",
    "ensure_embedded_server": "helpers.server.embedded",
    "is_loopback": "helpers.server.bind",
    "serve_forever": "helpers.server.foreground",
}

__all__ = [
    "ACCESS_LOGGER",
    "SIMULATED_MODEL",
    "AccessLog",
    "EmbeddedServer",
    "EmbeddedServerError",
    "OpenAIError",
    "ServerConfig",
    "ServerStats",
    "UnsafeBindError",
    "check_bind",
    "create_app",
    "ensure_embedded_server",
    "is_loopback",
    "serve_forever",
]

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
