"""Sync and async JSON-RPC clients over httpx. Only the I/O lives here; the rest is in :mod:`._core`."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Sequence
from typing import Any, Generic, Literal, Self, TypeVar

import httpx

from sso_signer.exceptions import ErrorCode, InvalidRpcParams, RpcError, RpcHttpStatusError, RpcTransportError
from sso_signer.rpc._core import RetryPolicy, RpcCall, RpcCore

__all__ = ["AsyncJsonRpcClient", "CallLike", "Deadline", "JsonRpcClient", "safe_url"]

log = logging.getLogger("sso_signer.rpc")

T = TypeVar("T")

CallLike = RpcCall | tuple[str, Sequence[Any]]
_HEADERS = {"content-type": "application/json", "accept": "application/json"}
# Failures that happen before a byte of the request left this process: the node cannot have seen it.
_NOT_DELIVERED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Only a placeholder when a custom transport is given; the transport decides where bytes go.
_TRANSPORT_URL = "http://rpc.transport/"

#: A client's overall deadline per call: seconds, ``"auto"`` (derived from the timeout and the retry policy)
#: or ``None`` (no wall-clock bound: only the per-read timeouts).
Deadline = float | Literal["auto"] | None


class _DeadlineExceeded(httpx.TimeoutException):
    """Raised by the clients when a call's overall deadline passes (httpx only bounds each read)."""


def _check_deadline(deadline: object) -> Deadline:
    if deadline is None or deadline == "auto":
        return deadline
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) or not deadline > 0:
        raise InvalidRpcParams(f"deadline: expected seconds > 0, 'auto' or None, got {deadline!r}")
    return float(deadline)


def _loop_time(expires: float) -> float:
    """A ``time.monotonic()`` instant on the running event loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (expires - time.monotonic())


def _check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise InvalidRpcParams(f"timeout: expected seconds > 0, got {timeout!r}")
    return float(timeout)


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


def _single_call(method: object, params: object, deadline: float | None = None) -> RpcCall:
    if not isinstance(method, str) or not method:
        raise InvalidRpcParams("method: expected a non-empty string")
    if not isinstance(params, Sequence) or isinstance(params, str | bytes | bytearray):
        raise InvalidRpcParams(f"params: expected a list or tuple, got {type(params).__name__}")
    if deadline is not None and (
        isinstance(deadline, bool) or not isinstance(deadline, int | float) or not deadline > 0
    ):
        raise InvalidRpcParams(f"deadline: expected seconds > 0 or None, got {deadline!r}")
    return RpcCall(method, tuple(params), deadline=deadline)


def _as_call(call: CallLike) -> RpcCall:
    if isinstance(call, RpcCall):
        return call
    if isinstance(call, tuple) and len(call) == 2:
        return _single_call(call[0], call[1])
    raise InvalidRpcParams(f"batch member must be an RpcCall or (method, params), got {type(call).__name__}")


class _Exchange(Generic[T]):
    """One logical request (a single call or a batch) across its HTTP attempts, without the I/O.

    Both clients run the same loop over it: :meth:`begin` encodes the next attempt, :meth:`decode` turns the
    HTTP answer into the result, :meth:`failed` books a failure and returns the delay before the next attempt
    (or raises the typed error), :meth:`done` logs the success. Only posting and sleeping differ between them.
    """

    def __init__(
        self,
        core: RpcCore,
        method: str,
        calls: Sequence[RpcCall],
        retry: bool | None,
        timeout: float,
        deadline: Deadline,
        call_deadline: float | None = None,
    ) -> None:
        self.core = core
        self.method = method
        self.attempts = core.attempts_for(calls, retry)
        self.attempt = 0
        self.maybe_delivered = False
        self.started = time.monotonic()
        self.timeout = timeout
        limit = core.retry.deadline(timeout, self.attempts) if deadline == "auto" else deadline
        if call_deadline is not None:
            limit = call_deadline if limit is None else min(limit, call_deadline)
        self.limit = limit
        #: When the call must be over (``time.monotonic()``), or ``None`` for no wall-clock bound.
        self.expires = None if limit is None else self.started + limit

    def attempt_timeout(self) -> float | None:
        """The per-read timeout of the next attempt when the deadline is nearer than the client's timeout
        (``None``: keep the client's)."""
        if self.expires is None:
            return None
        remaining = self.expires - time.monotonic()
        return max(remaining, 0.001) if remaining < self.timeout else None

    def check_deadline(self) -> None:
        """Raise if the overall deadline has passed (called between chunks of a streamed answer)."""
        if self.expires is not None and time.monotonic() >= self.expires:
            raise _DeadlineExceeded(f"overall deadline of {self.limit:g} s passed")

    def begin(self) -> bytes:
        """Start the next attempt; return its request body (each attempt carries fresh ids)."""
        body = self._encode()
        self.attempt += 1
        return body

    def _encode(self) -> bytes:
        raise NotImplementedError

    def decode(self, status: int, content: bytes) -> T:
        """The result of the current attempt, from the node's HTTP status and body."""
        raise NotImplementedError

    def failed(self, exc: Exception) -> float:
        """Record a failure; return the delay before the next try or raise the typed error."""
        if not isinstance(exc, _NOT_DELIVERED):
            self.maybe_delivered = True
        remaining = None if self.expires is None else self.expires - time.monotonic()
        if isinstance(exc, RpcHttpStatusError):
            error: RpcTransportError = exc
            error.attempts = self.attempt
        elif isinstance(exc, _DeadlineExceeded) or (
            isinstance(exc, httpx.TimeoutException) and remaining is not None and remaining <= 0
        ):
            error = RpcTransportError(
                f"{self.method}: no answer within the overall deadline of {self.limit:g} s "
                f"({self.attempt} attempt(s))",
                method=self.method,
                attempts=self.attempt,
                rule=ErrorCode.RPC_TIMEOUT,
            )
        elif isinstance(exc, httpx.HTTPError):
            error = self.core.transport_error(self.method, exc, self.attempt)
        else:  # pragma: no cover - callers only pass the two kinds above
            raise exc
        error.maybe_delivered = self.maybe_delivered
        delay = self.core.retry.delay(self.attempt)
        out_of_time = remaining is not None and remaining <= delay
        if self.attempt >= self.attempts or not self.core.is_transient(error) or out_of_time:
            log.debug("rpc %s failed for good after %d attempt(s): %s", self.method, self.attempt, error)
            if error is exc:
                raise error
            raise error from exc
        log.debug("rpc %s attempt %d failed (%s); retrying in %.2fs", self.method, self.attempt, error, delay)
        return delay

    def done(self) -> None:
        log.debug("rpc %s ok in %.1f ms", self.method, (time.monotonic() - self.started) * 1000)


class _SingleExchange(_Exchange[Any]):
    """One call: the answer must carry the id of the current attempt (see :meth:`RpcCore.decode_single`)."""

    def __init__(
        self, core: RpcCore, call: RpcCall, retry: bool | None, timeout: float, deadline: Deadline
    ) -> None:
        super().__init__(core, call.method, [call], retry, timeout, deadline, call.deadline)
        self.call = call
        self.request_id = 0

    def _encode(self) -> bytes:
        body, self.request_id = self.core.encode_single(self.call)
        return body

    def decode(self, status: int, content: bytes) -> Any:
        return self.core.decode_single(self.call, self.request_id, status, content)


class _BatchExchange(_Exchange[list[Any]]):
    """A batch: results come back in call order, failed members as errors in place (see
    :meth:`RpcCore.decode_batch`)."""

    def __init__(
        self, core: RpcCore, calls: Sequence[RpcCall], retry: bool | None, timeout: float, deadline: Deadline
    ) -> None:
        super().__init__(core, "batch", calls, retry, timeout, deadline)
        self.calls = calls
        self.ids: list[int] = []

    def _encode(self) -> bytes:
        body, self.ids = self.core.encode_batch(self.calls)
        return body

    def decode(self, status: int, content: bytes) -> list[Any]:
        return self.core.decode_batch(self.calls, self.ids, status, content)


def _finish_batch(results: list[Any], return_errors: bool) -> list[Any]:
    if not return_errors:
        for item in results:
            if isinstance(item, RpcError):
                raise item
    return results


#: Default connection pool size. httpcore scans its whole pool for every request, so 100 tasks on 100
#: connections spend their time in the pool (about 40 tx/s against anvil here) while 8 connections carry
#: the same load several times faster; a JSON-RPC node gains nothing from more parallel sockets.
DEFAULT_MAX_CONNECTIONS = 8


def _limits(max_connections: int) -> httpx.Limits:
    if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
        raise InvalidRpcParams(f"max_connections must be a positive int, got {max_connections!r}")
    # Keep every pooled connection alive: closing and reopening sockets under load costs more than it saves.
    return httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)


def _endpoint(url: str | None, transport: object, client_name: str) -> str:
    if url is None and transport is None:
        raise InvalidRpcParams(f"{client_name} needs a url or a transport")
    return _check_url(url) if url is not None else _TRANSPORT_URL


def _pool_options(timeout: float, headers: dict[str, str] | None, max_connections: int) -> dict[str, Any]:
    """The httpx client options both clients share (everything but the transport)."""
    return {
        "timeout": timeout,
        "headers": {**_HEADERS, **(headers or {})},
        "verify": _ssl_context(),
        "limits": _limits(max_connections),
    }


class JsonRpcClient:
    """A synchronous JSON-RPC 2.0 client over HTTP with connection reuse, timeouts, retries and batching.

    Transport failures of idempotent requests (reads; re-sending the same signed bytes) are retried with
    exponential backoff; nothing else is. Parameters are never logged (they may hold signed transactions).

    Args:
        url: The node's HTTP endpoint. Optional when ``transport`` is given.
        transport: An httpx transport to send through instead of the network (fault injection in tests).
        timeout: Seconds allowed per attempt (connect, read and write each).
        retry: The retry policy; ``RetryPolicy(attempts=1)`` disables retries.
        deadline: Wall-clock seconds a call may take in all, attempts and back-off included, however the
            server paces its answer. ``"auto"`` (default): ``timeout`` per attempt plus the back-off delays;
            ``None``: no overall bound (only the per-read ``timeout``).
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
        deadline: Deadline = "auto",
    ) -> None:
        self.url = _endpoint(url, transport, "JsonRpcClient")
        self.core = RpcCore(retry)
        self.timeout = _check_timeout(timeout)
        self.deadline = _check_deadline(deadline)
        options = _pool_options(timeout, headers, max_connections)
        self._http = httpx.Client(transport=transport, **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({safe_url(self.url)!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _exchange(self, exchange: _Exchange[T]) -> T:
        """Post the exchange's attempts, sleeping between them, until one is answered or it gives up."""
        while True:
            body = exchange.begin()
            try:
                status, content = self._post(body, exchange)
                result = exchange.decode(status, content)
            except (httpx.HTTPError, RpcHttpStatusError) as exc:
                time.sleep(exchange.failed(exc))
                continue
            exchange.done()
            return result

    def _post(self, body: bytes, exchange: _Exchange[Any]) -> tuple[int, bytes]:
        """One attempt: the status and the whole body, read within the exchange's deadline."""
        if exchange.expires is None:
            response = self._http.post(self.url, content=body)
            return response.status_code, response.content
        timeout = exchange.attempt_timeout()
        request = self._http.build_request(
            "POST", self.url, content=body, timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        )
        # Streamed so the deadline is checked as each chunk arrives: httpx's timeout bounds each read only,
        # and a server that drips a byte at a time would otherwise hold the call open indefinitely.
        response = self._http.send(request, stream=True)
        try:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                exchange.check_deadline()
        finally:
            response.close()
        return response.status_code, b"".join(chunks)

    def request(
        self,
        method: str,
        params: Sequence[Any] = (),
        *,
        retry: bool | None = None,
        deadline: float | None = None,
    ) -> Any:
        """Send one request and return its ``result``.

        Args:
            method: The JSON-RPC method.
            params: Positional parameters (JSON-serialisable).
            retry: Force retrying on (``True``) or off (``False``); by default only idempotent methods retry.
            deadline: Seconds this call may take in all, if tighter than the client's deadline.

        Returns:
            The decoded JSON ``result``.

        Raises:
            RpcError: The node answered with an error (``ExecutionReverted`` for reverts).
            RpcTransportError: Timeout (``RpcTransportError`` (``ErrorCode.RPC_TIMEOUT``), also when the
                overall deadline passes), connection
                failure or HTTP error status, after retries.
            MalformedRpcResponse: The answer is not well-formed JSON-RPC.
        """
        call = _single_call(method, params, deadline)
        return self._exchange(_SingleExchange(self.core, call, retry, self.timeout, self.deadline))

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
            MalformedRpcResponse (``BATCH_RESPONSE_MISMATCH``): The answer does not hold one response per
                request.
        """
        normalized = [_as_call(c) for c in calls]
        if not normalized:
            return []
        results = self._exchange(_BatchExchange(self.core, normalized, retry, self.timeout, self.deadline))
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
        deadline: Deadline = "auto",
    ) -> None:
        self.url = _endpoint(url, transport, "AsyncJsonRpcClient")
        self.core = RpcCore(retry)
        self.timeout = _check_timeout(timeout)
        self.deadline = _check_deadline(deadline)
        options = _pool_options(timeout, headers, max_connections)
        self._http = httpx.AsyncClient(transport=transport, **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({safe_url(self.url)!r})"

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _exchange(self, exchange: _Exchange[T]) -> T:
        """The awaiting twin of :meth:`JsonRpcClient._exchange`."""
        while True:
            body = exchange.begin()
            try:
                if exchange.expires is None:
                    response = await self._http.post(self.url, content=body)
                else:
                    try:
                        # A wall-clock bound on the whole attempt, body included (httpx bounds each read).
                        async with asyncio.timeout_at(_loop_time(exchange.expires)):
                            response = await self._http.post(self.url, content=body)
                    except TimeoutError:
                        raise _DeadlineExceeded(f"overall deadline of {exchange.limit:g} s passed") from None
                result = exchange.decode(response.status_code, response.content)
            except (httpx.HTTPError, RpcHttpStatusError) as exc:
                await asyncio.sleep(exchange.failed(exc))
                continue
            exchange.done()
            return result

    async def request(
        self,
        method: str,
        params: Sequence[Any] = (),
        *,
        retry: bool | None = None,
        deadline: float | None = None,
    ) -> Any:
        """Send one request and return its ``result`` (see :meth:`JsonRpcClient.request`)."""
        call = _single_call(method, params, deadline)
        return await self._exchange(_SingleExchange(self.core, call, retry, self.timeout, self.deadline))

    async def batch(
        self, calls: Sequence[CallLike], *, return_errors: bool = False, retry: bool | None = None
    ) -> list[Any]:
        """Send several requests in one round trip (see :meth:`JsonRpcClient.batch`)."""
        normalized = [_as_call(c) for c in calls]
        if not normalized:
            return []
        results = await self._exchange(
            _BatchExchange(self.core, normalized, retry, self.timeout, self.deadline)
        )
        return _finish_batch(results, return_errors)
