"""ZKsync Era transactions: EIP-712 (type 0x71) transactions, EraVM bytecode hashes, CREATE2, paymasters,
and the ZKsync JSON-RPC client (``zks_`` methods on top of :mod:`sso_signer.rpc`).

This room knows nothing of passkeys: it builds, hashes, serialises and parses transactions whose
``custom_signature`` some other layer (``sso_signer.sso``) produces.
"""

from __future__ import annotations

from sso_signer.zksync._client import AsyncZkSyncClient, ZkSyncClient
from sso_signer.zksync._paymaster import PaymasterParams
from sso_signer.zksync._transaction import Eip712Transaction

__all__ = [
    "AsyncZkSyncClient",
    "Eip712Transaction",
    "PaymasterParams",
    "ZkSyncClient",
]
