"""JSON-RPC over httpx: sync and async clients, Ethereum clients, typed errors and revert decoding.

:class:`JsonRpcClient` / :class:`AsyncJsonRpcClient` move JSON-RPC requests (single or batched) with
connection reuse, timeouts and retries of idempotent calls. :class:`EthClient` / :class:`AsyncEthClient` add
the ``eth_`` methods, local EIP-1559 signing of plain EOA transactions, receipts and revert reasons. Every
method is written once, as an I/O-free flow; the sync and async classes only differ in how they drive it.
"""

from __future__ import annotations

from sso_signer.rpc._client import AsyncJsonRpcClient, JsonRpcClient
from sso_signer.rpc._core import Deadline, RetryPolicy
from sso_signer.rpc._eth import AsyncEthClient, EthClient
from sso_signer.rpc._revert import RevertData
from sso_signer.rpc._types import Receipt, SendStatus

__all__ = [
    "AsyncEthClient",
    "AsyncJsonRpcClient",
    "Deadline",
    "EthClient",
    "JsonRpcClient",
    "Receipt",
    "RetryPolicy",
    "RevertData",
    "SendStatus",
]
