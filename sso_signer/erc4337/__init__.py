"""ERC-4337 v0.8 for the SSO modular account: UserOperations, their hash, ERC-7579 execute calldata, the
EntryPoint, a bundler client and an ERC-7677 paymaster service client.

This room knows nothing of passkeys: it builds and hashes what an account signs and moves it to a bundler. The
passkey signature itself is made in :mod:`sso_signer.sso`.
"""

from __future__ import annotations

from sso_signer.erc4337._bundler import (
    AsyncBundlerClient,
    BundlerClient,
    GasEstimate,
    GasPrices,
    UserOperationReceipt,
)
from sso_signer.erc4337._entry_point import AsyncEntryPoint, EntryPoint, deploy_entry_point_v08
from sso_signer.erc4337._eoa import eoa_owners_init_data, eoa_validator_signature
from sso_signer.erc4337._execute import Call, encode_execute
from sso_signer.erc4337._paymaster import AsyncPaymasterClient, PaymasterClient
from sso_signer.erc4337._user_operation import ENTRY_POINT_V08, UserOperation, user_operation_hash

__all__ = [
    "ENTRY_POINT_V08",
    "AsyncBundlerClient",
    "AsyncEntryPoint",
    "AsyncPaymasterClient",
    "BundlerClient",
    "Call",
    "EntryPoint",
    "GasEstimate",
    "GasPrices",
    "PaymasterClient",
    "UserOperation",
    "UserOperationReceipt",
    "deploy_entry_point_v08",
    "encode_execute",
    "eoa_owners_init_data",
    "eoa_validator_signature",
    "user_operation_hash",
]
