"""Which API the notebooks talk to: an engine at OPENAI_BASE_URL, OpenAI, or the simulation.

Rules, first match wins (TUTORIAL_BACKEND=embedded|openai|compatible forces one; auto or unset
applies them):
1. OPENAI_BASE_URL set: an OpenAI-compatible engine (vLLM, llama.cpp, Ollama, LM Studio); the key is
   optional.
2. OPENAI_API_KEY set: OpenAI itself.
3. Otherwise the embedded simulation, started in this process on first use.
TUTORIAL_MODEL overrides the model; an engine given none is asked for its first model.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx2
import openai

from helpers.connection import async_direct_transport, direct_transport
from helpers.server.model import SIMULATED_MODEL
from helpers.token_limit import AsyncLegacyLimitTransport, LegacyLimitTransport

BackendKind = Literal["embedded", "openai", "compatible"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
# The pinned client lists this model without a shutdown date (tests/helpers/test_backend.py
# checks). It is a reasoning model: the lessons send it no sampling parameters.
OPENAI_MODEL = "gpt-5.4-mini"
# The client refuses to start without a key; engines that need none get this, which no one could
# mistake for a real key.
PLACEHOLDER_KEY = "no-key-needed"
# Connecting fails fast so an unreachable engine is reported in seconds; reading stays long enough
# for a slow local engine to write a whole blocking answer.
CLIENT_TIMEOUT = openai.Timeout(120.0, connect=3.0)
PROBE_TIMEOUT = openai.Timeout(5.0, connect=3.0)

LABELS: dict[BackendKind, str] = {
    "embedded": "embedded simulation (offline, no key needed)",
    "openai": "OpenAI API (key from OPENAI_API_KEY)",
    "compatible": "OpenAI-compatible engine (OPENAI_BASE_URL)",
}
CHOICES = ("auto", "embedded", "openai", "compatible")


class BackendError(RuntimeError):
    """The environment does not describe a backend that can be used."""


class EngineUnreachableError(BackendError):
    """The engine at OPENAI_BASE_URL did not answer."""


@dataclass(frozen=True, repr=False)
class Backend:
    """One backend: `base_url` is empty until the embedded server starts, `model` until an
    engine that was given none names its own."""

    kind: BackendKind
    base_url: str
    model: str
    label: str
    api_key: str

    def __repr__(self) -> str:
        key = "placeholder" if self.api_key == PLACEHOLDER_KEY else "hidden"
        return (
            f"Backend(kind={self.kind!r}, base_url={public_url(self.base_url)!r}, "
            f"model={self.model!r}, label={self.label!r}, api_key=<{key}>)"
        )

    def describe(self) -> str:
        """The one line shown when a client is made; never the key."""
        return f"Backend: {self.label} · model {self.model} · {public_url(self.base_url)}"


def public_url(url: str) -> str:
    """`url` without user name, password, query string and fragment: where some proxies and
    gateways carry a key (`https://user:key@host/v1`, `...?api-key=...`)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))


def _setting(environ: Mapping[str, str], name: str) -> str:
    # An exported but empty variable counts as unset, as in most shells' `VAR= cmd` idiom.
    return environ.get(name, "").strip()


def select_backend(environ: Mapping[str, str]) -> Backend:
    """The backend `environ` describes; pure: no network, no server start."""
    base_url = _setting(environ, "OPENAI_BASE_URL")
    key = _setting(environ, "OPENAI_API_KEY")
    model = _setting(environ, "TUTORIAL_MODEL")
    forced = _setting(environ, "TUTORIAL_BACKEND").lower() or "auto"
    if forced not in CHOICES:
        raise BackendError(
            f"TUTORIAL_BACKEND={forced!r} is not a backend: use one of {', '.join(CHOICES)}."
        )
    if forced == "auto":
        forced = "compatible" if base_url else "openai" if key else "embedded"
    if forced == "compatible":
        if not base_url:
            raise BackendError(
                "TUTORIAL_BACKEND=compatible needs OPENAI_BASE_URL, the engine's address ending "
                "in /v1 (for example http://localhost:11434/v1 for Ollama)."
            )
        return Backend(
            "compatible", base_url.rstrip("/"), model, LABELS["compatible"], key or PLACEHOLDER_KEY
        )
    if forced == "openai":
        if not key:
            raise BackendError(
                "TUTORIAL_BACKEND=openai needs OPENAI_API_KEY: set it to your OpenAI key, or unset "
                "TUTORIAL_BACKEND to use the embedded simulation."
            )
        return Backend("openai", OPENAI_BASE_URL, model or OPENAI_MODEL, LABELS["openai"], key)
    # The simulation never receives a real key, even when one is set.
    return Backend("embedded", "", model or SIMULATED_MODEL, LABELS["embedded"], PLACEHOLDER_KEY)


def _engine_models(backend: Backend) -> list[str]:
    """The model ids the engine lists, asked with a short timeout and no retries."""
    url = public_url(backend.base_url)
    client = openai.OpenAI(
        base_url=backend.base_url, api_key=backend.api_key, timeout=PROBE_TIMEOUT, max_retries=0
    )
    with client:
        try:
            return [model.id for model in client.models.list().data]
        except openai.APIConnectionError as exc:
            reason = exc.__cause__ or exc
            raise EngineUnreachableError(
                f"Could not reach the engine at {url} ({reason}): check that it is running, and "
                "that OPENAI_BASE_URL has its host, port and /v1 suffix (for example "
                "http://localhost:11434/v1 for Ollama, http://localhost:8000/v1 for vLLM)."
            ) from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise BackendError(
                f"The engine at {url} refused the key (HTTP {exc.status_code}): check "
                "OPENAI_API_KEY, or unset it if the engine needs no key."
            ) from None
        except openai.NotFoundError:
            if not urlsplit(backend.base_url).path.rstrip("/").endswith("/v1"):
                raise BackendError(
                    f"The engine at {url} has no API there (HTTP 404): OpenAI-compatible "
                    f"engines serve it under /v1, so set OPENAI_BASE_URL={url.rstrip('/')}/v1."
                ) from None
            if backend.model:
                return []
            raise BackendError(
                f"The engine at {url} did not list its models (HTTP 404): set TUTORIAL_MODEL "
                "to the name of the model it serves."
            ) from None
        except openai.APIStatusError as exc:
            if backend.model:
                # Some engines list nothing but still serve the model they were given.
                return []
            raise BackendError(
                f"The engine at {url} did not list its models (HTTP {exc.status_code}): set "
                "TUTORIAL_MODEL to the name of the model it serves."
            ) from None


def _connect(backend: Backend) -> Backend:
    """Fill in what only a running server knows: the embedded URL, an engine's model."""
    if backend.kind == "embedded":
        # Imported here: importing helpers must never start a server.
        from helpers.server.embedded import ensure_embedded_server

        return replace(backend, base_url=ensure_embedded_server())
    if backend.kind == "compatible":
        # Asked even when the model is given, so a wrong address fails now, in seconds.
        models = _engine_models(backend)
        if backend.model:
            return backend
        if not models:
            raise BackendError(
                f"The engine at {public_url(backend.base_url)} serves no model yet: load one "
                "(for example `ollama pull llama3.2`), or set TUTORIAL_MODEL."
            )
        return replace(backend, model=models[0])
    return backend


_current: Backend | None = None
_warned: set[str] = set()


def _warn_of_clear_text(backend: Backend) -> None:
    """Say once per host when the key would cross the network unencrypted."""
    from helpers.server.bind import is_loopback

    parts = urlsplit(backend.base_url)
    host = parts.hostname or ""
    if (
        backend.api_key == PLACEHOLDER_KEY
        or parts.scheme != "http"
        or is_loopback(host)
        or host in _warned
    ):
        return
    _warned.add(host)
    print(
        f"Warning: OPENAI_API_KEY travels unencrypted to {host} (http://): fine for a room's "
        "token, never for an OpenAI key; use https:// for anything else.",
        file=sys.stderr,
    )


def _client_options(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    assert not {"base_url", "api_key"} & kwargs.keys(), (
        "choose the backend with OPENAI_BASE_URL / OPENAI_API_KEY / TUTORIAL_BACKEND, "
        "not with get_client(base_url=..., api_key=...)"
    )
    return {**_adopt(select_backend(os.environ)), **kwargs}


def _adopt(chosen: Backend) -> dict[str, Any]:
    """Connect to `chosen`, make it the current backend, name it in one line; its client's
    options."""
    global _current
    backend = _current = _connect(chosen)
    print(backend.describe())
    _warn_of_clear_text(backend)
    return {"base_url": backend.base_url, "api_key": backend.api_key, "timeout": CLIENT_TIMEOUT}


def connection(url: httpx2.URL) -> httpx2.BaseTransport:
    """The real connection to `url` for a client of the current backend that brings its own
    transport: to an engine, the length limit goes under both names (helpers.token_limit)."""
    transport = direct_transport(url)
    return LegacyLimitTransport(transport) if current_backend().kind == "compatible" else transport


def async_connection(url: httpx2.URL) -> httpx2.AsyncBaseTransport:
    """The async twin of `connection`."""
    transport = async_direct_transport(url)
    if current_backend().kind == "compatible":
        return AsyncLegacyLimitTransport(transport)
    return transport


def _for_engines(options: dict[str, Any], asynchronous: bool) -> dict[str, Any]:
    # Engines that read only `max_tokens` get the lessons' `max_completion_tokens` under both
    # names; OpenAI and the simulation read the current name, through the client's own default.
    if current_backend().kind != "compatible" or "http_client" in options:
        return options
    url = httpx2.URL(options["base_url"])
    if asynchronous:
        options["http_client"] = openai.DefaultAsyncHttpxClient(transport=async_connection(url))
    else:
        options["http_client"] = openai.DefaultHttpxClient(transport=connection(url))
    return options


def get_client(**kwargs: Any) -> openai.OpenAI:
    """An `openai.OpenAI` client for the chosen backend; `kwargs` go to the client."""
    return openai.OpenAI(**_for_engines(_client_options(kwargs), asynchronous=False))


def get_async_client(**kwargs: Any) -> openai.AsyncOpenAI:
    """An `openai.AsyncOpenAI` client for the chosen backend; `kwargs` go to the client."""
    options = _for_engines(_client_options(kwargs), asynchronous=True)
    return openai.AsyncOpenAI(**options)


def _serves_responses(client: openai.OpenAI, model: str) -> bool:
    """Whether the backend answers `POST /responses` with anything but 404 or 405."""
    probe = client.with_options(max_retries=0, timeout=PROBE_TIMEOUT)
    try:
        probe.responses.create(model=model, input="Hi", max_output_tokens=16)
    except openai.APIStatusError as error:
        return error.status_code not in (404, 405)
    return True


def with_responses_api(client: openai.OpenAI, model: str) -> tuple[openai.OpenAI, str]:
    """`client` and `model` if their backend has the Responses API; else, said in one sentence,
    a client of the embedded simulation, which has it, and the simulation's model."""
    backend = current_backend()
    if backend.kind != "compatible" or _serves_responses(client, model):
        return client, model
    print(
        f"The engine at {public_url(backend.base_url)} has no Responses API (POST /responses "
        "answered 404), so this notebook uses the embedded simulation instead:"
    )
    simulation = openai.OpenAI(**_adopt(select_backend({"TUTORIAL_BACKEND": "embedded"})))
    return simulation, current_backend().model


def current_backend() -> Backend:
    """The backend the last get_client chose, or, before any, the one the environment names."""
    return _current if _current is not None else select_backend(os.environ)


def resolve_model() -> str:
    """The model the notebooks should ask for (`helpers.MODEL`)."""
    backend = current_backend()
    return backend.model or _connect(backend).model


def status_label() -> str:
    """The backend's name, short enough for a status line, or what is wrong with the setting."""
    try:
        label = current_backend().label
    except BackendError:
        return "backend not configured"
    # "embedded simulation (offline, no key needed)" is too long for a status line.
    return label.split(" (")[0]
