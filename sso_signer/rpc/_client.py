"""Sync and async JSON-RPC clients over httpx. Only the I/O lives here; the rest is in :mod:`._core`."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Sequence
from typing import Any, Self

import httpx

from sso_signer.rpc._core import RetryPolicy, RpcCall, RpcCore
from sso_signer.rpc._errors import InvalidRpcParams, RpcError, RpcHttpStatusError, RpcTransportError

__all__ = ["AsyncJsonRpcClient", "CallLike", "JsonRpcClient", "safe_url"]

log = logging.getLogger("sso_signer.rpc")

CallLike = RpcCall | tuple[str, Sequence[Any]]
_HEADERS = {"content-type": "application/json", "accept": "application/json"}
# Failures that happen before a byte of the request left this process: the node cannot have seen it.
_NOT_DELIVERED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Only a placeholder when a custom transport is given; the transport decides where bytes go.
_TRANSPORT_URL = "http://rpc.transport/"


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Building the default context costs ~50 ms (loading the CA bundle); one shared context serves every
    # client, which matters when tests create many clients against local nodes.
    return httpx.create_ssl_context()


def safe_url(url: str) -> str:
    """The URL without path, query or credentials: hosted endpoints often carry an API key there."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<invalid url>"
    port = f":{parsed.port}" if parsed.port else ""
    hidden = "/…" if (parsed.path not in ("", "/") or parsed.query or parsed.userinfo) else ""
    return f"{parsed.scheme}://{parsed.host}{port}{hidden}"


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise InvalidRpcParams(f"url: expected text, got {type(url).__name__}")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise InvalidRpcParams("url: not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidRpcParams(f"url: expected an http(s) URL with a host, got {safe_url(url)!r}")
    return url


def _single_call(method: object, params: object) -> RpcCall:
    if not isinstance(method, str) or not method:
        raise InvalidRpcParams("method: expected a non-empty string")
    if not isinstance(params, Sequence) or isinstance(params, str | bytes | bytearray):
        raise InvalidRpcParams(f"params: expected a list or tuple, got {type(params).__name__}")
    return RpcCall(method, tuple(params))


def _as_call(call: CallLike) -> RpcCall:
    if isinstance(call, RpcCall):
        return call
    if isinstance(call, tuple) and len(call) == 2:
        return _single_call(call[0], call[1])
    raise InvalidRpcParams(f"batch member must be an RpcCall or (method, params), got {type(call).__name__}")


class _Attempts:
    """Book-keeping of one logical request across retries (shared by both clients)."""

    def __init__(self, core: RpcCore, method: str, attempts: int) -> None:
        self.core = core
        self.method = method
        self.attempts = attempts
        self.attempt = 0
        self.maybe_delivered = False
        self.started = time.monotonic()

    def begin(self) -> None:
        self.attempt += 1

    def failed(self, exc: Exception) -> float:
        """Record a failure; return the delay before the next try or raise the typed error."""
        if not isinstance(exc, _NOT_DELIVERED):
            self.maybe_delivered = True
        if isinstance(exc, RpcHttpStatusError):
            error: RpcTransportError = exc
            error.attempts = self.attempt
        elif isinstance(exc, httpx.HTTPError):
            error = self.core.transport_error(self.method, exc, self.attempt)
        else:  # pragma: no cover - callers only pass the two kinds above
            raise exc
        error.maybe_delivered = self.maybe_delivered
        if self.attempt >= self.attempts or not self.core.is_transient(error):
            log.debug("rpc %s failed for good after %d attempt(s): %s", self.method, self.attempt, error)
            if error is exc:
                raise error
            raise error from exc
        delay = self.core.retry.delay(self.attempt)
        log.debug("rpc %s attempt %d failed (%s); retrying in %.2fs", self.method, self.attempt, error, delay)
        return delay

    def done(self) -> None:
        log.debug("rpc %s ok in %.1f ms", self.method, (time.monotonic() - self.started) * 1000)


#: Default connection pool size. httpcore scans its whole pool for every request, so 100 tasks on 100
#: connections spend their time in the pool (about 40 tx/s against anvil here) while 8 connections carry
#: the same load several times faster; a JSON-RPC node gains nothing from more parallel sockets.
DEFAULT_MAX_CONNECTIONS = 8


def _limits(max_connections: int) -> httpx.Limits:
    if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
        raise InvalidRpcParams(f"max_connections must be a positive int, got {max_connections!r}")
    # Keep every pooled connection alive: closing and reopening sockets under load costs more than it saves.
    return httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)


class JsonRpcClient:
    """A synchronous JSON-RPC 2.0 client over HTTP with connection reuse, timeouts, retries and batching.

    Transport failures of idempotent requests (reads; re-sending the same signed bytes) are retried with
    exponential backoff; nothing else is. Parameters are never logged (they may hold signed transactions).

    Args:
        url: The node's HTTP endpoint. Optional when ``transport`` is given.
        transport: An httpx transport to send through instead of the network (fault injection in tests).
        timeout: Seconds allowed per attempt (connect, read and write each).
        retry: The retry policy; ``RetryPolicy(attempts=1)`` disables retries.
        headers: Extra HTTP headers (e.g. an API key header).
        max_connections: Size of the keep-alive connection pool (8 by default; see the async client).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        if url is None and transport is None:
            raise InvalidRpcParams("JsonRpcClient needs a url or a transport")
        self.url = _check_url(url) if url is not None else _TRANSPORT_URL
        self.core = RpcCore(retry)
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={**_HEADERS, **(headers or {})},
            verify=_ssl_context(),
            limits=_limits(max_connections),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({safe_url(self.url)!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, params: Sequence[Any] = (), *, retry: bool | None = None) -> Any:
        """Send one request and return its ``result``.

        Args:
            method: The JSON-RPC method.
            params: Positional parameters (JSON-serialisable).
            retry: Force retrying on (``True``) or off (``False``); by default only idempotent methods retry.

        Returns:
            The decoded JSON ``result``.

        Raises:
            RpcError: The node answered with an error (``ExecutionReverted`` for reverts).
            RpcTransportError: Timeout, connection failure or HTTP error status, after retries.
            MalformedRpcResponse: The answer is not well-formed JSON-RPC.
        """
        call = _single_call(method, params)
        book = _Attempts(self.core, method, self.core.attempts_for([call], retry))
        while True:
            body, request_id = self.core.encode_single(call)
            book.begin()
            try:
                response = self._http.post(self.url, content=body)
                result = self.core.decode_single(call, request_id, response.status_code, response.content)
            except (httpx.HTTPError, RpcHttpStatusError) as exc:
                time.sleep(book.failed(exc))
                continue
            book.done()
            return result

    def batch(
        self, calls: Sequence[CallLike], *, return_errors: bool = False, retry: bool | None = None
    ) -> list[Any]:
        """Send several requests in one HTTP round trip.

        Args:
            calls: The requests, as :class:`RpcCall` or ``(method, params)`` pairs.
            return_errors: If true, a failed member's slot holds its :class:`RpcError` instead of raising.
            retry: As for :meth:`request`; by default the batch retries only if every member is idempotent.

        Returns:
            The results in the order of ``calls`` (whatever order the node answered in).

        Raises:
            RpcError: The first failed member (unless ``return_errors``), or a whole-batch error.
            RpcTransportError: As for :meth:`request`.
            BatchResponseMismatch: The answer does not hold one response per request.
        """
        normalized = [_as_call(c) for c in calls]
        if not normalized:
            return []
        book = _Attempts(self.core, "batch", self.core.attempts_for(normalized, retry))
        while True:
            body, ids = self.core.encode_batch(normalized)
            book.begin()
            try:
                response = self._http.post(self.url, content=body)
                results = self.core.decode_batch(normalized, ids, response.status_code, response.content)
            except (httpx.HTTPError, RpcHttpStatusError) as exc:
                time.sleep(book.failed(exc))
                continue
            book.done()
            return _finish_batch(results, return_errors)


class AsyncJsonRpcClient:
    """The asyncio twin of :class:`JsonRpcClient` (same arguments, same behaviour, awaitable methods).

    Concurrent requests beyond ``max_connections`` wait for a pooled connection: with many tasks sending at
    once a small pool is several times faster than one connection per task (benchmarks/concurrency.py).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        if url is None and transport is None:
            raise InvalidRpcParams("AsyncJsonRpcClient needs a url or a transport")
        self.url = _check_url(url) if url is not None else _TRANSPORT_URL
        self.core = RpcCore(retry)
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            headers={**_HEADERS, **(headers or {})},
            verify=_ssl_context(),
            limits=_limits(max_connections),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({safe_url(self.url)!r})"

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(self, method: str, params: Sequence[Any] = (), *, retry: bool | None = None) -> Any:
        """Send one request and return its ``result`` (see :meth:`JsonRpcClient.request`)."""
        call = _single_call(method, params)
        book = _Attempts(self.core, method, self.core.attempts_for([call], retry))
        while True:
            body, request_id = self.core.encode_single(call)
            book.begin()
            try:
                response = await self._http.post(self.url, content=body)
                result = self.core.decode_single(call, request_id, response.status_code, response.content)
            except (httpx.HTTPError, RpcHttpStatusError) as exc:
                await asyncio.sleep(book.failed(exc))
                continue
            book.done()
            return result

    async def batch(
        self, calls: Sequence[CallLike], *, return_errors: bool = False, retry: bool | None = None
    ) -> list[Any]:
        """Send several requests in one round trip (see :meth:`JsonRpcClient.batch`)."""
        normalized = [_as_call(c) for c in calls]
        if not normalized:
            return []
        book = _Attempts(self.core, "batch", self.core.attempts_for(normalized, retry))
        while True:
            body, ids = self.core.encode_batch(normalized)
            book.begin()
            try:
                response = await self._http.post(self.url, content=body)
                results = self.core.decode_batch(normalized, ids, response.status_code, response.content)
            except (httpx.HTTPError, RpcHttpStatusError) as exc:
                await asyncio.sleep(book.failed(exc))
                continue
            book.done()
            return _finish_batch(results, return_errors)


def _finish_batch(results: list[Any], return_errors: bool) -> list[Any]:
    if not return_errors:
        for item in results:
            if isinstance(item, RpcError):
                raise item
    return results
