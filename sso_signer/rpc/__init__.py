"""JSON-RPC core over httpx: sync and async clients, Ethereum clients, typed errors and revert decoding.

:class:`JsonRpcClient` / :class:`AsyncJsonRpcClient` move JSON-RPC requests (single or batched) with
connection reuse, timeouts and retries of idempotent calls. :class:`EthClient` / :class:`AsyncEthClient` add
the ``eth_`` methods, local EIP-1559 signing of plain EOA transactions, receipts and revert reasons. Both
client pairs share one I/O-free core: requests and flows are built and decoded once, only the I/O differs.
"""

from __future__ import annotations

from sso_signer.rpc._client import AsyncJsonRpcClient, CallLike, Deadline, JsonRpcClient, safe_url
from sso_signer.rpc._core import IDEMPOTENT_METHODS, RetryPolicy, RpcCall, is_idempotent
from sso_signer.rpc._eth import AsyncEthClient, EthClient, eth_flows
from sso_signer.rpc._flow import (
    Batch,
    Flow,
    Sleep,
    after_send,
    answer,
    answer_async,
    drive,
    drive_async,
    gather,
    relay,
    run_flow,
    run_flow_async,
)
from sso_signer.rpc._revert import (
    ERROR_SELECTOR,
    PANIC_SELECTOR,
    RevertData,
    RevertKind,
    describe_revert_in_text,
)
from sso_signer.rpc._types import (
    BlockId,
    Log,
    Receipt,
    SendOutcome,
    SendStatus,
    encode_block_id,
    encode_quantity,
    encode_tx_request,
    local_tx_hash,
    parse_address,
    parse_data,
    parse_hash,
    parse_quantity,
    to_address,
)

__all__ = [
    "ERROR_SELECTOR",
    "IDEMPOTENT_METHODS",
    "PANIC_SELECTOR",
    "AsyncEthClient",
    "AsyncJsonRpcClient",
    "Batch",
    "BlockId",
    "CallLike",
    "Deadline",
    "EthClient",
    "Flow",
    "JsonRpcClient",
    "Log",
    "Receipt",
    "RetryPolicy",
    "RevertData",
    "RevertKind",
    "RpcCall",
    "SendOutcome",
    "SendStatus",
    "Sleep",
    "after_send",
    "answer",
    "answer_async",
    "describe_revert_in_text",
    "drive",
    "drive_async",
    "encode_block_id",
    "encode_quantity",
    "encode_tx_request",
    "eth_flows",
    "gather",
    "is_idempotent",
    "local_tx_hash",
    "parse_address",
    "parse_data",
    "parse_hash",
    "parse_quantity",
    "relay",
    "run_flow",
    "run_flow_async",
    "safe_url",
    "to_address",
]
