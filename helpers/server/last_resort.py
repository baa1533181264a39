"""The last resort: an exception the app did not expect still gets OpenAI's 500, in JSON, and
one line in the server's log without the body or a header; the server goes on serving."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpers.server.faults import SimulatedDisconnect
from helpers.server.wire import error_body, json_bytes

__all__ = ["ERROR_LOGGER", "LastResort", "server_error"]

ERROR_LOGGER = "helpers.server"
_MESSAGE = "The server had an error while processing your request. Sorry about that!"


async def server_error(request: Request, exc: Exception) -> Response:
    """Starlette's handler for any exception: OpenAI's 500 (which its clients retry)."""
    return Response(json_bytes(error_body(_MESSAGE, "server_error")), 500, None, "application/json")


class LastResort:
    """ASGI middleware outside Starlette, which answers an unexpected exception with
    `server_error` and then raises it again for the server to log with its traceback: here it
    is logged in one line instead, and a stream it broke is closed quietly."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._logger = logging.getLogger(ERROR_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = complete = False

        async def watched_send(message: Message) -> None:
            nonlocal started, complete
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        try:
            await self._app(scope, receive, watched_send)
        except SimulatedDisconnect:
            raise
        except Exception as exc:
            self._logger.error(
                "%s while answering %s %s: answered 500",
                type(exc).__name__,
                scope["method"],
                (scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
            )
            if not started:
                response = await server_error(Request(scope), exc)
                await response(scope, receive, send)
            elif not complete:
                raise SimulatedDisconnect() from None
