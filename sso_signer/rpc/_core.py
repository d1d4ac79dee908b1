"""The I/O-free core of the JSON-RPC clients: request building, answer decoding, error mapping, retries.

A request is a flow (:meth:`RpcCore.exchange`) of :class:`Post` and :class:`Sleep` steps, which the clients of
``_client.py`` answer with httpx. Nothing here imports an HTTP library.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from sso_signer._json import JsonLimits, parse_json
from sso_signer._shell import flow_method
from sso_signer.exceptions import (
    ErrorCode,
    ExecutionReverted,
    InvalidRpcParams,
    MalformedRpcResponse,
    RpcError,
    RpcHttpStatusError,
    RpcTransportError,
    TransactionRejected,
)
from sso_signer.rpc._revert import revert_data_from_rpc_error

__all__ = [
    "ANSWER_LIMITS",
    "CallLike",
    "Deadline",
    "JsonRpcMethods",
    "Post",
    "PostFailure",
    "RetryPolicy",
    "RpcCall",
    "RpcCore",
    "Sleep",
    "is_idempotent",
]

log = logging.getLogger("sso_signer.rpc")

#: A client's overall deadline per call: seconds, ``"auto"`` (derived from the timeout and the retry policy)
#: or ``None`` (no wall-clock bound: only the per-read timeouts).
Deadline = float | Literal["auto"] | None

#: Bounds of a node's or bundler's answer. 64 MiB holds a block with thousands of full transactions or a
#: large log query; 512 levels hold any call trace a real transaction produces (two per call frame, well
#: under the EVM's 1024 frames in practice); quantities are hex text, so no integer needs 128 digits.
ANSWER_LIMITS = JsonLimits(max_bytes=64 * 1024 * 1024, max_depth=512, max_int_digits=128)

# Methods that may be sent twice without changing the outcome. Reads are obviously safe; sending the SAME
# signed bytes again is safe too (the node dedups by hash or rejects the nonce). Methods where the node signs
# or mutates state (eth_sendTransaction, evm_mine, anvil_*) are not: a retry could act twice.
IDEMPOTENT_METHODS: frozenset[str] = frozenset(
    {
        "web3_clientVersion",
        "net_version",
        "net_listening",
        "eth_chainId",
        "eth_blockNumber",
        "eth_call",
        "eth_estimateGas",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_feeHistory",
        "eth_syncing",
        "eth_sendRawTransaction",
        "eth_supportedEntryPoints",
        "eth_estimateUserOperationGas",
        "eth_sendUserOperation",
        "pimlico_getUserOperationGasPrice",
        "zks_sendRawTransactionWithDetailedOutput",
    }
)
_IDEMPOTENT_PREFIXES = ("eth_get", "zks_get", "zks_estimate", "zks_L1", "debug_trace")


def is_idempotent(method: str) -> bool:
    """Tell whether a JSON-RPC method may be retried after a transport failure.

    Args:
        method: The JSON-RPC method name.

    Returns:
        ``True`` for reads and for re-sending already-signed bytes; ``False`` otherwise.
    """
    return method in IDEMPOTENT_METHODS or method.startswith(_IDEMPOTENT_PREFIXES)


@dataclass(frozen=True, slots=True)
class RpcCall:
    """One JSON-RPC request: a method and its positional parameters.

    ``retry`` overrides the client's choice (``None``: retry transport failures only if the method is
    idempotent); it applies when the call is sent on its own, a batch decides for all its members.
    ``deadline`` (seconds) tightens the client's overall deadline for this call, attempts included (a
    receipt poll is bounded by what is left of its wait); it cannot loosen it.
    """

    method: str
    params: tuple[Any, ...] = ()
    retry: bool | None = None
    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transport failures of idempotent requests are retried.

    Attributes:
        attempts: Total tries, including the first (1 disables retrying).
        backoff: Delay before the first retry, in seconds.
        multiplier: Factor applied to the delay after each retry.
        max_backoff: Upper bound of a single delay.
        retry_statuses: HTTP statuses (without a JSON-RPC body) treated as transient.
    """

    attempts: int = 3
    backoff: float = 0.1
    multiplier: float = 2.0
    max_backoff: float = 2.0
    retry_statuses: frozenset[int] = field(default=frozenset({429, 500, 502, 503, 504}))

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return float(min(self.max_backoff, self.backoff * self.multiplier ** (attempt - 1)))

    def deadline(self, timeout: float, attempts: int) -> float:
        """The default overall deadline of a call tried ``attempts`` times: each attempt's ``timeout`` plus
        the back-off delays between them."""
        return attempts * timeout + sum(self.delay(i) for i in range(1, attempts))


@dataclass(frozen=True, slots=True)
class Sleep:
    """A flow step: pause for ``seconds`` (polling, backing off); the flow receives ``None``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Post:
    """A transport step: POST ``body`` to the endpoint; the flow receives ``(status, body)`` or a
    :class:`PostFailure`.

    Attributes:
        body: The JSON-RPC request body.
        expires: The ``time.monotonic()`` instant by which the whole call must be over (``None``: no bound);
            the driver stops reading the answer then, however the server paces it.
        timeout: The per-read timeout of this attempt when tighter than the client's (``None``: the client's).
    """

    body: bytes
    expires: float | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class PostFailure:
    """What a driver tells the flow when a post failed, in terms free of its HTTP library.

    Attributes:
        kind: ``"deadline"`` (the post's ``expires`` passed), ``"timeout"`` (a read timed out) or
            ``"connection"`` (any other transport failure).
        delivered: Whether the request may have reached the server (``False`` only when it cannot have).
        cause: The library's exception, kept as ``__cause__`` of the typed error.
    """

    kind: Literal["deadline", "timeout", "connection"]
    delivered: bool
    cause: BaseException


# Phrases nodes use when a transaction is rejected because it is already in the pool; after a retry of the
# same bytes this means the first attempt did reach the node.
_ALREADY_KNOWN = re.compile(r"already known|known transaction|already imported|already exists", re.IGNORECASE)


def is_already_known(error: RpcError) -> bool:
    """Tell whether a send error means the node already holds these exact transaction bytes."""
    return bool(_ALREADY_KNOWN.search(error.rpc_message))


_NONCE_USED = re.compile(
    r"nonce too low|nonce is too low|nonce has already been used|nonce already used|invalid nonce",
    re.IGNORECASE,
)


def is_nonce_used(error: RpcError) -> bool:
    """Tell whether a send error says the transaction's nonce is already used (possibly by these very bytes,
    mined after an earlier send whose answer was lost)."""
    return bool(_NONCE_USED.search(error.rpc_message))


class RpcCore:
    """Builds request bodies and decodes answers; shared by :class:`JsonRpcClient` and its async twin.

    Args:
        retry: The retry policy (default :class:`RetryPolicy`).
        answer_limits: Bounds every answer must stay within: size, nesting depth (checked before the JSON
            parser recurses) and integer digits. An answer beyond them is a :class:`MalformedRpcResponse`.
    """

    def __init__(self, retry: RetryPolicy | None = None, answer_limits: JsonLimits = ANSWER_LIMITS) -> None:
        self.retry = retry if retry is not None else RetryPolicy()
        self.answer_limits = answer_limits
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def encode(self, calls: Sequence[RpcCall], single: bool) -> tuple[bytes, list[int]]:
        """The body of one request (``calls[0]`` alone) or of a batch, and the fresh ids it carries."""
        with self._lock:
            ids = [next(self._ids) for _ in calls]
        objects = [
            {"jsonrpc": "2.0", "id": i, "method": c.method, "params": list(c.params)}
            for c, i in zip(calls, ids, strict=True)
        ]
        try:
            return json.dumps(
                objects[0] if single else objects, separators=(",", ":"), allow_nan=False
            ).encode(), ids
        except (TypeError, ValueError) as exc:
            # Only the type is named: the offending value could be a signed payload.
            raise InvalidRpcParams(
                f"request parameters are not JSON-serialisable: {type(exc).__name__}"
            ) from None

    # -- decoding ---------------------------------------------------------------------------------------

    def decode_single(self, call: RpcCall, request_id: int, status: int, body: bytes) -> Any:
        """Turn the HTTP answer to a single request into its result, or raise the matching error.

        Raises:
            RpcError: (or a subclass) if the node sent a JSON-RPC error.
            RpcHttpStatusError: If the status is an error and the body is not a JSON-RPC response.
            MalformedRpcResponse: If the body is not a well-formed JSON-RPC response for this id, or exceeds
                :attr:`answer_limits`.
        """
        parsed = self._parse_body(call.method, status, body)
        if isinstance(parsed, list):
            raise MalformedRpcResponse(f"{call.method}: node answered a single request with a batch")
        response = _check_response(parsed, call.method)
        if response.get("id") != request_id:
            if "error" in response and response.get("id") is None:
                # Some servers answer a request they could not parse with id null; the error is still ours.
                raise self.error_from(call.method, response["error"])
            raise MalformedRpcResponse(f"{call.method}: answer id {response.get('id')!r} != {request_id}")
        if "error" in response:
            raise self.error_from(call.method, response["error"])
        return response["result"]

    def decode_batch(
        self, calls: Sequence[RpcCall], ids: Sequence[int], status: int, body: bytes
    ) -> list[Any | RpcError]:
        """Turn the HTTP answer to a batch into per-call results (in call order), errors in place.

        Members are matched by id, since servers may answer in any order.

        Raises:
            RpcError: If the node answered the whole batch with one error object.
            RpcHttpStatusError: If the status is an error and the body is not JSON-RPC.
            MalformedRpcResponse (``BATCH_RESPONSE_MISMATCH``): If ids are missing, unknown or duplicated.
            MalformedRpcResponse: If a member is not a well-formed JSON-RPC response.
        """
        parsed = self._parse_body("batch", status, body)
        if isinstance(parsed, dict):
            response = _check_response(parsed, "batch")
            if "error" in response:
                raise self.error_from("batch", response["error"])
            raise MalformedRpcResponse(
                "batch: node answered a batch with a single result", rule=ErrorCode.BATCH_RESPONSE_MISMATCH
            )
        by_id: dict[int, dict[str, Any]] = {}
        for member in parsed:
            response = _check_response(member, "batch")
            member_id = response.get("id")
            if not isinstance(member_id, int) or isinstance(member_id, bool) or member_id not in ids:
                raise MalformedRpcResponse(
                    f"batch: answer with unknown id {member_id!r}", rule=ErrorCode.BATCH_RESPONSE_MISMATCH
                )
            if member_id in by_id:
                raise MalformedRpcResponse(
                    f"batch: two answers for id {member_id}", rule=ErrorCode.BATCH_RESPONSE_MISMATCH
                )
            by_id[member_id] = response
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise MalformedRpcResponse(
                f"batch: no answer for ids {missing}", rule=ErrorCode.BATCH_RESPONSE_MISMATCH
            )
        answers = [by_id[i] for i in ids]
        return [
            self.error_from(call.method, answer["error"]) if "error" in answer else answer["result"]
            for call, answer in zip(calls, answers, strict=True)
        ]

    def error_from(self, method: str, error: object) -> RpcError:
        """Build the typed error for a JSON-RPC error object."""
        if not isinstance(error, dict):
            return RpcError(-32603, f"malformed error object {error!r:.200}", None, method=method)
        code = error.get("code")
        message = error.get("message")
        if not isinstance(code, int) or isinstance(code, bool):
            code = -32603
        if not isinstance(message, str):
            message = repr(message)
        data = error.get("data")
        revert = revert_data_from_rpc_error(data)
        if method == "eth_sendRawTransaction":
            return TransactionRejected(code, message, data, method=method, revert=revert)
        # Code 3 is the standard "execution reverted" code; older nodes use -32000 with the word in the text.
        if code == 3 or revert is not None or "revert" in message.lower():
            return ExecutionReverted(code, message, data, method=method, revert=revert)
        return RpcError(code, message, data, method=method, revert=revert)

    def _parse_body(self, method: str, status: int, body: bytes) -> Any:
        try:
            parsed = parse_json(
                body, limits=self.answer_limits, error=MalformedRpcResponse, what=f"{method}: answer"
            )
        except MalformedRpcResponse:
            if status < 400:
                raise
            parsed = None
        if status >= 400 and not _looks_like_rpc(parsed):
            raise RpcHttpStatusError(
                f"{method}: HTTP {status} without a JSON-RPC body", status_code=status, method=method
            )
        if not isinstance(parsed, dict | list):
            raise MalformedRpcResponse(f"{method}: answer is neither an object nor an array")
        return parsed

    # -- one request across its attempts -----------------------------------------------------------------

    def exchange(
        self, calls: Sequence[RpcCall], single: bool, retry: bool | None, timeout: float, deadline: Deadline
    ) -> Generator[Post | Sleep, Any, Any]:
        """The flow of one request (``calls[0]`` if ``single``, else a batch) across its HTTP attempts.

        Each attempt carries fresh ids; transport failures and transient HTTP statuses are retried (for
        idempotent requests, or as ``retry`` forces) with the policy's back-off while the overall deadline
        allows. ``timeout`` per attempt and the policy make the ``"auto"`` deadline; a single call's own
        ``deadline`` can only tighten the client's. A batch's value lists failed members as their
        :class:`RpcError` in place.

        Raises:
            RpcTransportError: Timeout (``RpcTransportError`` (``ErrorCode.RPC_TIMEOUT``), also when the
                overall deadline passes), connection failure or HTTP error status, after the allowed attempts.
            RpcError: The node answered with an error (a single call), or the whole batch failed.
            MalformedRpcResponse: The answer is not well-formed JSON-RPC.
        """
        method = calls[0].method if single else "batch"
        if retry is None:
            retry = all(is_idempotent(c.method) for c in calls)
        attempts = self.retry.attempts if retry else 1
        limit = self.retry.deadline(timeout, attempts) if deadline == "auto" else deadline
        if single and calls[0].deadline is not None:
            limit = calls[0].deadline if limit is None else min(limit, calls[0].deadline)
        started = time.monotonic()
        expires = None if limit is None else started + limit
        maybe_delivered = False
        for attempt in itertools.count(1):
            body, ids = self.encode(calls, single)
            remaining = None if expires is None else expires - time.monotonic()
            read = max(remaining, 0.001) if remaining is not None and remaining < timeout else None
            answer = yield Post(body, expires, read)
            cause: BaseException | None = None
            remaining = None if expires is None else expires - time.monotonic()
            if isinstance(answer, PostFailure):
                maybe_delivered = maybe_delivered or answer.delivered
                cause = answer.cause
                error: RpcTransportError = self._transport_error(method, answer, attempt, limit, remaining)
            else:
                status, content = answer
                try:
                    if single:
                        result = self.decode_single(calls[0], ids[0], status, content)
                    else:
                        result = self.decode_batch(calls, ids, status, content)
                except RpcHttpStatusError as exc:
                    maybe_delivered = True
                    error = exc
                    error.attempts = attempt
                else:
                    log.debug("rpc %s ok in %.1f ms", method, (time.monotonic() - started) * 1000)
                    return result
            error.maybe_delivered = maybe_delivered
            delay = self.retry.delay(attempt)
            out_of_time = remaining is not None and remaining <= delay
            # An HTTP status is worth retrying only if the policy lists it; a transport failure always is.
            transient = (
                not isinstance(error, RpcHttpStatusError) or error.status_code in self.retry.retry_statuses
            )
            if attempt >= attempts or not transient or out_of_time:
                log.debug("rpc %s failed for good after %d attempt(s): %s", method, attempt, error)
                if cause is None:
                    raise error
                raise error from cause
            log.debug("rpc %s attempt %d failed (%s); retrying in %.2fs", method, attempt, error, delay)
            yield Sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _transport_error(
        self, method: str, failure: PostFailure, attempt: int, limit: float | None, remaining: float | None
    ) -> RpcTransportError:
        rule = ErrorCode.RPC_TIMEOUT
        if failure.kind == "deadline" or (
            failure.kind == "timeout" and remaining is not None and remaining <= 0
        ):
            what = f"no answer within the overall deadline of {limit:g} s ({attempt} attempt(s))"
        elif failure.kind == "timeout":
            what = f"timed out after {attempt} attempt(s)"
        else:
            rule, cause = ErrorCode.RPC_CONNECTION, failure.cause
            what = f"transport failed after {attempt} attempt(s): {type(cause).__name__}: {cause}"
        return RpcTransportError(f"{method}: {what}", method=method, attempts=attempt, rule=rule)


CallLike = RpcCall | tuple[str, Sequence[Any]]


def _is_seconds(value: object) -> TypeGuard[int | float]:
    return not isinstance(value, bool) and isinstance(value, int | float) and value > 0


def check_deadline(deadline: object) -> Deadline:
    """Validate a client's ``deadline`` argument."""
    if deadline is None or deadline == "auto":
        return deadline
    if not _is_seconds(deadline):
        raise InvalidRpcParams(f"deadline: expected seconds > 0, 'auto' or None, got {deadline!r}")
    return float(deadline)


def _single_call(method: object, params: object, deadline: float | None = None) -> RpcCall:
    if not isinstance(method, str) or not method:
        raise InvalidRpcParams("method: expected a non-empty string")
    if not isinstance(params, Sequence) or isinstance(params, str | bytes | bytearray):
        raise InvalidRpcParams(f"params: expected a list or tuple, got {type(params).__name__}")
    if deadline is not None and not _is_seconds(deadline):
        raise InvalidRpcParams(f"deadline: expected seconds > 0 or None, got {deadline!r}")
    return RpcCall(method, tuple(params), deadline=deadline)


def _as_call(call: CallLike) -> RpcCall:
    if isinstance(call, RpcCall):
        return call
    if isinstance(call, tuple) and len(call) == 2:
        return _single_call(call[0], call[1])
    raise InvalidRpcParams(f"batch member must be an RpcCall or (method, params), got {type(call).__name__}")


class JsonRpcMethods:
    """The JSON-RPC client methods, written once for the sync and the async client."""

    __slots__ = ()
    core: RpcCore
    timeout: float
    deadline: Deadline

    @flow_method
    def request(
        self,
        method: str,
        params: Sequence[Any] = (),
        *,
        retry: bool | None = None,
        deadline: float | None = None,
    ) -> Generator[Post | Sleep, Any, Any]:
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
                overall deadline passes), connection failure or HTTP error status, after retries.
            MalformedRpcResponse: The answer is not well-formed JSON-RPC.
        """
        call = _single_call(method, params, deadline)
        return (yield from self.core.exchange([call], True, retry, self.timeout, self.deadline))

    @flow_method
    def batch(
        self, calls: Sequence[CallLike], *, return_errors: bool = False, retry: bool | None = None
    ) -> Generator[Post | Sleep, Any, list[Any]]:
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
        results: list[Any] = yield from self.core.exchange(
            normalized, False, retry, self.timeout, self.deadline
        )
        if not return_errors:
            for item in results:
                if isinstance(item, RpcError):
                    raise item
        return results


def _looks_like_rpc(parsed: object) -> bool:
    if isinstance(parsed, list):
        return bool(parsed) and all(isinstance(m, dict) and "jsonrpc" in m for m in parsed)
    return isinstance(parsed, dict) and "jsonrpc" in parsed and ("result" in parsed or "error" in parsed)


def _check_response(response: object, method: str) -> dict[str, Any]:
    if not isinstance(response, dict):
        raise MalformedRpcResponse(f"{method}: response member is not an object")
    has_result, has_error = "result" in response, "error" in response
    if has_result == has_error:
        raise MalformedRpcResponse(f"{method}: response must hold exactly one of result/error")
    return response
