"""The I/O-free core of the JSON-RPC clients: request building, answer decoding, error mapping, retry policy.

The sync and async clients (``_client.py``) only move bytes; every decision about what a request looks like,
what an answer means and whether a failure may be retried is made here, once.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from sso_signer._json import JsonLimits, parse_json
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

__all__ = ["ANSWER_LIMITS", "IDEMPOTENT_METHODS", "RetryPolicy", "RpcCall", "RpcCore", "is_idempotent"]

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
_IDEMPOTENT_ZKS = frozenset({"zks_L1ChainId", "zks_L1BatchNumber"})


def is_idempotent(method: str) -> bool:
    """Tell whether a JSON-RPC method may be retried after a transport failure.

    Args:
        method: The JSON-RPC method name.

    Returns:
        ``True`` for reads and for re-sending already-signed bytes; ``False`` otherwise.
    """
    if method in IDEMPOTENT_METHODS or method in _IDEMPOTENT_ZKS:
        return True
    return method.startswith(_IDEMPOTENT_PREFIXES)


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


NO_RETRY = RetryPolicy(attempts=1)

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

    def next_id(self) -> int:
        """A fresh request id, unique within this client."""
        with self._lock:
            return next(self._ids)

    # -- building ---------------------------------------------------------------------------------------

    def encode_single(self, call: RpcCall) -> tuple[bytes, int]:
        """Encode one request. Returns the body and the id it carries."""
        request_id = self.next_id()
        return _dumps(_request_object(call, request_id)), request_id

    def encode_batch(self, calls: Sequence[RpcCall]) -> tuple[bytes, list[int]]:
        """Encode a batch. Returns the body and the ids, in call order."""
        ids = [self.next_id() for _ in calls]
        return _dumps([_request_object(c, i) for c, i in zip(calls, ids, strict=True)]), ids

    def attempts_for(self, calls: Iterable[RpcCall], retry: bool | None) -> int:
        """How many tries the retry policy allows for these calls (1 if any is not idempotent)."""
        if retry is None:
            retry = all(is_idempotent(c.method) for c in calls)
        return self.retry.attempts if retry else 1

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
        results: list[Any | RpcError] = []
        for call, request_id in zip(calls, ids, strict=True):
            response = by_id[request_id]
            if "error" in response:
                results.append(self.error_from(call.method, response["error"]))
            else:
                results.append(response["result"])
        return results

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
        except MalformedRpcResponse as exc:
            if status >= 400:
                raise RpcHttpStatusError(
                    f"{method}: HTTP {status} without a JSON-RPC body", status_code=status, method=method
                ) from exc
            raise
        if status >= 400 and not _looks_like_rpc(parsed):
            raise RpcHttpStatusError(
                f"{method}: HTTP {status} without a JSON-RPC body", status_code=status, method=method
            )
        if not isinstance(parsed, dict | list):
            raise MalformedRpcResponse(f"{method}: answer is neither an object nor an array")
        return parsed

    # -- transport failures -----------------------------------------------------------------------------

    def transport_error(self, method: str, exc: httpx.HTTPError, attempts: int) -> RpcTransportError:
        """Map an httpx exception to the room's transport error."""
        if isinstance(exc, httpx.TimeoutException):
            return RpcTransportError(
                f"{method}: timed out after {attempts} attempt(s)",
                method=method,
                attempts=attempts,
                rule=ErrorCode.RPC_TIMEOUT,
            )
        return RpcTransportError(
            f"{method}: transport failed after {attempts} attempt(s): {type(exc).__name__}: {exc}",
            method=method,
            attempts=attempts,
            rule=ErrorCode.RPC_CONNECTION,
        )

    def is_transient(self, error: Exception) -> bool:
        """Tell whether a failure is worth retrying (for idempotent requests)."""
        if isinstance(error, RpcHttpStatusError):
            return error.status_code in self.retry.retry_statuses
        return isinstance(error, RpcTransportError | httpx.TransportError)


def _request_object(call: RpcCall, request_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": call.method, "params": list(call.params)}


def _dumps(obj: object) -> bytes:
    try:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        # Only the type is named: the offending value could be a signed payload.
        raise InvalidRpcParams(
            f"request parameters are not JSON-serialisable: {type(exc).__name__}"
        ) from None


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
