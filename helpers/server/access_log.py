"""One log line per request, with nothing secret in it."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ACCESS_LOGGER", "AccessLog"]

ACCESS_LOGGER = "helpers.access"


class AccessLog:
    """ASGI middleware logging one line per request once its answer is over, at INFO on the
    `helpers.access` logger: client, method, path, status, bytes, seconds.

    Never a header or the query string, which is where keys and tokens travel; the path is taken
    still percent-encoded, so it cannot break a line of the log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._logger = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status, size = 0, 0

        async def counting_send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        ending = ""
        try:
            await self._app(scope, receive, counting_send)
        except BaseException:
            ending = " (connection dropped)"
            raise
        finally:
            client = scope.get("client")
            path = scope.get("raw_path") or scope["path"].encode()
            self._logger.info(
                '%s "%s %s" %d %d bytes %.3f s%s',
                f"{client[0]}:{client[1]}" if client else "-",
                scope["method"],
                path.decode("latin-1"),
                status,
                size,
                time.perf_counter() - started,
                ending,
            )
