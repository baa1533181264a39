"""The error the server answers in OpenAI's format, raised wherever a request goes wrong."""

from __future__ import annotations

from collections.abc import Mapping

from helpers.server.wire import JSON, error_body

__all__ = ["OpenAIError"]


class OpenAIError(Exception):
    """A condition the API answers with an HTTP status and OpenAI's error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> JSON:
        return error_body(self.message, self.type, self.param, self.code)
