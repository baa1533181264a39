"""The real connection under a client that brings its own transport.

An `httpx2` client given a transport of its own ignores HTTPS_PROXY, NO_PROXY and the like,
and the connection limits the `openai` client sets for its default one. The transports made
here apply both, for the wrappers in helpers.token_limit and helpers.fault_injection.
"""

from __future__ import annotations

import urllib.request

import httpx2
import openai


def environment_proxy(url: httpx2.URL) -> str | None:
    """The proxy the environment names for `url`, or None (none set, or `url` bypasses it)."""
    if urllib.request.proxy_bypass(url.host):
        return None
    return urllib.request.getproxies().get(url.scheme)


def direct_transport(url: httpx2.URL) -> httpx2.HTTPTransport:
    """A transport to `url` with the client's connection limits and the environment's proxy."""
    return httpx2.HTTPTransport(
        limits=openai.DEFAULT_CONNECTION_LIMITS, proxy=environment_proxy(url)
    )


def async_direct_transport(url: httpx2.URL) -> httpx2.AsyncHTTPTransport:
    """The async twin of `direct_transport`."""
    return httpx2.AsyncHTTPTransport(
        limits=openai.DEFAULT_CONNECTION_LIMITS, proxy=environment_proxy(url)
    )
