"""The transport: :class:`JsonRpcClient` / :class:`AsyncJsonRpcClient` answer the ``Post`` and ``Sleep`` steps
of :mod:`._core` with httpx; :class:`RpcShell` / :class:`AsyncRpcShell`, the chain clients' shells, answer
``RpcCall``, ``Batch`` and ``Sleep`` steps through such a client."""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from typing import Any, Generic, Self, TypeVar

import httpx

from sso_signer._shell import AsyncShell, SyncShell
from sso_signer.exceptions import InvalidRpcParams
from sso_signer.rpc._core import (
    Deadline,
    JsonRpcMethods,
    Post,
    PostFailure,
    RetryPolicy,
    RpcCore,
    Sleep,
    check_deadline,
)
from sso_signer.rpc._flow import Batch, Step

__all__ = ["AsyncJsonRpcClient", "AsyncRpcShell", "JsonRpcClient", "RpcShell", "safe_url", "web3_connection"]

H = TypeVar("H", httpx.Client, httpx.AsyncClient)
R = TypeVar("R", "JsonRpcClient", "AsyncJsonRpcClient")

_HEADERS = {"content-type": "application/json", "accept": "application/json"}
# Failures that happen before a byte of the request left this process: the node cannot have seen it.
_NOT_DELIVERED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Only a placeholder when a custom transport is given; the transport decides where bytes go.
_TRANSPORT_URL = "http://rpc.transport/"

#: Default connection pool size. httpcore scans its whole pool for every request, so 100 tasks on 100
#: connections spend their time in the pool (about 40 tx/s against anvil here) while 8 connections carry
#: the same load several times faster; a JSON-RPC node gains nothing from more parallel sockets.
DEFAULT_MAX_CONNECTIONS = 8


class _DeadlineExceeded(httpx.TimeoutException):
    """A post's overall deadline passed while its answer was still arriving (httpx only bounds each read)."""


def _failure(exc: httpx.HTTPError) -> PostFailure:
    if isinstance(exc, _DeadlineExceeded):
        kind = "deadline"
    elif isinstance(exc, httpx.TimeoutException):
        kind = "timeout"
    else:
        kind = "connection"
    return PostFailure(kind, not isinstance(exc, _NOT_DELIVERED), exc)  # type: ignore[arg-type]


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


def _check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise InvalidRpcParams(f"timeout: expected seconds > 0, got {timeout!r}")
    return float(timeout)


def _limits(max_connections: int) -> httpx.Limits:
    if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
        raise InvalidRpcParams(f"max_connections must be a positive int, got {max_connections!r}")
    # Keep every pooled connection alive: closing and reopening sockets under load costs more than it saves.
    return httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)


#: web3.py's own default per-request timeout (``web3._utils.http.DEFAULT_HTTP_TIMEOUT``).
_WEB3_DEFAULT_TIMEOUT = 30.0


def _web3_timeout(value: object) -> float:
    """A web3.py provider's ``request_kwargs["timeout"]`` as seconds per attempt."""
    if value is None:
        return _WEB3_DEFAULT_TIMEOUT
    if isinstance(value, tuple | list) and value:  # requests' (connect, read)
        value = max(value)
    total = getattr(value, "total", value)  # aiohttp.ClientTimeout
    if total is None:
        return _WEB3_DEFAULT_TIMEOUT
    return _check_timeout(total)


def web3_connection(w3: Any) -> dict[str, Any]:
    """The connection settings of a web3.py ``Web3`` / ``AsyncWeb3`` (or its HTTP provider), as the SDK's
    JSON-RPC clients take them: ``url``, ``headers`` (the ones the user set), ``timeout`` and ``retry``.

    The endpoint, the headers the user gave in ``request_kwargs`` (API keys), the per-request timeout (a
    ``requests`` ``(connect, read)`` pair counts as its larger member, an ``aiohttp.ClientTimeout`` as its
    ``total``) and ``exception_retry_configuration`` (``retries`` tries, ``backoff_factor × 2^i`` apart; none
    when it is ``None``) carry over; web3.py's middleware does not (the SDK's clients do not run it).

    Raises:
        InvalidRpcParams: If ``w3`` is no ``Web3`` / ``AsyncWeb3`` / provider, or its provider is not
            ``HTTPProvider`` / ``AsyncHTTPProvider`` (IPC and WebSocket endpoints are not JSON-RPC over HTTP).
    """
    from web3.providers.rpc import AsyncHTTPProvider, HTTPProvider  # web3 is heavy: only when asked

    provider = getattr(w3, "provider", w3)
    if not isinstance(provider, HTTPProvider | AsyncHTTPProvider):
        raise InvalidRpcParams(
            f"from_web3: expected a Web3/AsyncWeb3 on an HTTPProvider or AsyncHTTPProvider, got "
            f"{type(provider).__name__}"
        )
    kwargs = dict(getattr(provider, "_request_kwargs", None) or {})
    headers = kwargs.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise InvalidRpcParams("from_web3: the provider's request_kwargs['headers'] must map text to text")
    config = provider.exception_retry_configuration
    retry = RetryPolicy(attempts=1)
    if config is not None and config.retries > 1:
        retry = RetryPolicy(
            attempts=config.retries,
            backoff=float(config.backoff_factor),
            multiplier=2.0,
            max_backoff=max(float(config.backoff_factor) * 2 ** (config.retries - 2), 0.0),
        )
    return {
        "url": _check_url(str(provider.endpoint_uri)),
        # The JSON-RPC content headers are the SDK's own (the same values, in one spelling).
        "headers": {name: value for name, value in headers.items() if name.lower() not in _HEADERS},
        "timeout": _web3_timeout(kwargs.get("timeout")),
        "retry": retry,
    }


class _HttpEndpoint(JsonRpcMethods, Generic[H]):
    """A JSON-RPC 2.0 client over HTTP with connection reuse, timeouts, retries and batching.

    Transport failures of idempotent requests (reads; re-sending the same signed bytes) are retried with
    exponential backoff; nothing else is. Parameters are never logged (they may hold signed transactions).
    Concurrent requests beyond ``max_connections`` wait for a pooled connection: with many tasks sending at
    once a small pool is several times faster than one connection per task (benchmarks/concurrency.py).

    Args:
        url: The node's HTTP endpoint. Optional when ``transport`` is given.
        transport: An httpx transport to send through instead of the network (fault injection in tests);
            an ``httpx.AsyncBaseTransport`` for the async client.
        timeout: Seconds allowed per attempt (connect, read and write each).
        retry: The retry policy; ``RetryPolicy(attempts=1)`` disables retries.
        deadline: Wall-clock seconds a call may take in all, attempts and back-off included, however the
            server paces its answer. ``"auto"`` (default): ``timeout`` per attempt plus the back-off delays;
            ``None``: no overall bound (only the per-read ``timeout``).
        headers: Extra HTTP headers (e.g. an API key header).
        max_connections: Size of the keep-alive connection pool (8 by default).
    """

    _pool: type[H]

    def __init__(
        self,
        url: str | None = None,
        *,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        deadline: Deadline = "auto",
    ) -> None:
        if url is None and transport is None:
            raise InvalidRpcParams(f"{type(self).__name__} needs a url or a transport")
        self.url = _check_url(url) if url is not None else _TRANSPORT_URL
        self.core = RpcCore(retry)
        self.timeout = _check_timeout(timeout)
        self.deadline = check_deadline(deadline)
        self._http: H = self._pool(
            transport=transport,  # type: ignore[arg-type]
            timeout=timeout,
            headers={**_HEADERS, **(headers or {})},
            verify=_ssl_context(),
            limits=_limits(max_connections),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({safe_url(self.url)!r})"


class JsonRpcClient(_HttpEndpoint[httpx.Client], SyncShell):
    __doc__ = _HttpEndpoint.__doc__
    _pool = httpx.Client

    def answer(self, step: Post | Sleep) -> Any:
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
            return None
        try:
            timeout = httpx.USE_CLIENT_DEFAULT if step.timeout is None else step.timeout
            request = self._http.build_request("POST", self.url, content=step.body, timeout=timeout)
            # Streamed so the deadline is checked as each chunk arrives: httpx's timeout bounds each read
            # only, and a server that drips a byte at a time would otherwise hold the call open indefinitely.
            response = self._http.send(request, stream=True)
            try:
                chunks = []
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    if step.expires is not None and time.monotonic() >= step.expires:
                        raise _DeadlineExceeded("overall deadline passed")
            finally:
                response.close()
            return response.status_code, b"".join(chunks)
        except httpx.HTTPError as exc:
            return _failure(exc)

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()


class AsyncJsonRpcClient(_HttpEndpoint[httpx.AsyncClient], AsyncShell):
    __doc__ = _HttpEndpoint.__doc__
    _pool = httpx.AsyncClient

    async def answer(self, step: Post | Sleep) -> Any:
        if isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
            return None
        loop = asyncio.get_running_loop()
        # A wall-clock bound on the whole attempt, body included (httpx bounds each read).
        when = None if step.expires is None else loop.time() + (step.expires - time.monotonic())
        try:
            async with asyncio.timeout_at(when):
                response = await self._http.post(self.url, content=step.body)
        except TimeoutError:
            return _failure(_DeadlineExceeded("overall deadline passed"))
        except httpx.HTTPError as exc:
            return _failure(exc)
        return response.status_code, response.content

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()


class _Connected(Generic[R]):
    """What every chain client shares: the JSON-RPC client it sends through, built from its arguments
    (documented on :class:`~sso_signer.rpc.EthClient`)."""

    _rpc_type: type[R]

    def __init__(
        self,
        url: str | None = None,
        *,
        rpc: R | None = None,
        transport: Any = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        deadline: Deadline = "auto",
    ) -> None:
        if rpc is None:
            rpc = self._rpc_type(url, transport=transport, timeout=timeout, retry=retry, deadline=deadline)
        self.rpc: R = rpc

    @classmethod
    def from_web3(cls, w3: Any, **options: Any) -> Self:
        """A client on the same endpoint as a web3.py ``Web3`` / ``AsyncWeb3``, with its headers, timeout
        and retry settings (see :func:`web3_connection`); e.g. ``EthClient.from_web3(w3)``,
        ``BundlerClient.from_web3(Web3(HTTPProvider(bundler_url)), entry_point=...)``.

        The client keeps its own connection pool (httpx: batching, deadlines; docs/rpc.md says why); the
        ``Web3`` object is only read.

        Args:
            w3: A ``Web3`` or ``AsyncWeb3`` on an HTTP provider (or the provider itself).
            options: The class's other constructor options (``deadline``, ``entry_point``...).

        Raises:
            InvalidRpcParams: See :func:`web3_connection`.
        """
        return cls(rpc=cls._rpc_type(**web3_connection(w3)), **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({safe_url(self.rpc.url)!r})"


class RpcShell(_Connected[JsonRpcClient], SyncShell):
    """A sync shell whose steps are JSON-RPC calls, batches and sleeps, sent through ``rpc``."""

    _rpc_type = JsonRpcClient

    def answer(self, step: Step) -> Any:
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
            return None
        if isinstance(step, Batch):
            return self.rpc.batch(step.calls, return_errors=step.return_errors)
        return self.rpc.request(step.method, step.params, retry=step.retry, deadline=step.deadline)

    def close(self) -> None:
        """Close the underlying connection pool."""
        self.rpc.close()


class AsyncRpcShell(_Connected[AsyncJsonRpcClient], AsyncShell):
    """The asyncio counterpart of :class:`RpcShell`."""

    _rpc_type = AsyncJsonRpcClient

    async def answer(self, step: Step) -> Any:
        if isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
            return None
        if isinstance(step, Batch):
            return await self.rpc.batch(step.calls, return_errors=step.return_errors)
        return await self.rpc.request(step.method, step.params, retry=step.retry, deadline=step.deadline)

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        await self.rpc.aclose()
