"""ZKsync Era transactions: EIP-712 (type 0x71) transactions, EraVM bytecode hashes, CREATE2, paymasters,
and the ZKsync JSON-RPC client (``zks_`` methods on top of :mod:`sso_signer.rpc`).

This room knows nothing of passkeys: it builds, hashes, serialises and parses transactions whose
``custom_signature`` some other layer (``sso_signer.sso``) produces.
"""

from __future__ import annotations

from sso_signer.zksync._bytecode import (
    MAX_BYTECODE_WORDS,
    bytecode_hash,
    bytecode_word_count,
    validate_bytecode_hash,
)
from sso_signer.zksync._client import (
    AsyncZkSyncClient,
    Fee,
    SupportsRpcRequest,
    TransactionDetails,
    ZkSyncClient,
)
from sso_signer.zksync._create2 import CREATE2_PREFIX, CREATE_PREFIX, create2_address, create_address
from sso_signer.zksync._paymaster import (
    APPROVAL_BASED_SELECTOR,
    GENERAL_SELECTOR,
    ApprovalBasedFlow,
    GeneralFlow,
    PaymasterParams,
    approval_based_paymaster_input,
    decode_paymaster_input,
    general_paymaster_input,
)
from sso_signer.zksync._transaction import (
    DEFAULT_GAS_PER_PUBDATA,
    EIP712_DOMAIN_NAME,
    EIP712_DOMAIN_VERSION,
    EIP712_TRANSACTION_TYPES,
    EIP712_TX_TYPE,
    Eip712Transaction,
)

__all__ = [
    "APPROVAL_BASED_SELECTOR",
    "CREATE2_PREFIX",
    "CREATE_PREFIX",
    "DEFAULT_GAS_PER_PUBDATA",
    "EIP712_DOMAIN_NAME",
    "EIP712_DOMAIN_VERSION",
    "EIP712_TRANSACTION_TYPES",
    "EIP712_TX_TYPE",
    "GENERAL_SELECTOR",
    "MAX_BYTECODE_WORDS",
    "ApprovalBasedFlow",
    "AsyncZkSyncClient",
    "Eip712Transaction",
    "Fee",
    "GeneralFlow",
    "PaymasterParams",
    "SupportsRpcRequest",
    "TransactionDetails",
    "ZkSyncClient",
    "approval_based_paymaster_input",
    "bytecode_hash",
    "bytecode_word_count",
    "create2_address",
    "create_address",
    "decode_paymaster_input",
    "general_paymaster_input",
    "validate_bytecode_hash",
]
