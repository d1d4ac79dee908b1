"""ERC-4337 v0.8 for the SSO modular account: UserOperations, their hash, ERC-7579 execute calldata, the
EntryPoint and a bundler client.

This room knows nothing of passkeys: it builds and hashes what an account signs and moves it to a bundler. The
passkey signature itself is made in :mod:`sso_signer.sso`.
"""

from __future__ import annotations

from sso_signer.erc4337._bundler import (
    AsyncBundlerClient,
    BundlerClient,
    GasEstimate,
    GasPrice,
    GasPriceCache,
    GasPrices,
    UserOperationReceipt,
    bundler_error_from,
    bundler_flows,
    describe_revert,
)
from sso_signer.erc4337._entry_point import (
    DETERMINISTIC_DEPLOYER,
    ENTRY_POINT_V08_INITCODE_HASH,
    ENTRY_POINT_V08_SALT,
    AsyncEntryPoint,
    EntryPoint,
    deploy_entry_point_v08,
    entry_point_flows,
    load_entry_point_v08_initcode,
)
from sso_signer.erc4337._eoa import eoa_owners_init_data, eoa_validator_signature
from sso_signer.erc4337._execute import (
    EXECUTE_SELECTOR,
    Call,
    CallType,
    ExecType,
    ExecuteCall,
    decode_execute,
    encode_execute,
    encode_execute_batch,
    encode_execute_delegatecall,
    encode_execute_single,
    execution_mode,
)
from sso_signer.erc4337._user_operation import (
    ENTRY_POINT_V08,
    PACKED_USEROP_TYPEHASH,
    SENDER_CREATOR_V08,
    UserOperation,
    decode_nonce,
    encode_nonce,
    entry_point_domain_separator,
    pack_uint128_pair,
    user_operation_hash,
)

__all__ = [
    "DETERMINISTIC_DEPLOYER",
    "ENTRY_POINT_V08",
    "ENTRY_POINT_V08_INITCODE_HASH",
    "ENTRY_POINT_V08_SALT",
    "EXECUTE_SELECTOR",
    "PACKED_USEROP_TYPEHASH",
    "SENDER_CREATOR_V08",
    "AsyncBundlerClient",
    "AsyncEntryPoint",
    "BundlerClient",
    "Call",
    "CallType",
    "EntryPoint",
    "ExecType",
    "ExecuteCall",
    "GasEstimate",
    "GasPrice",
    "GasPriceCache",
    "GasPrices",
    "UserOperation",
    "UserOperationReceipt",
    "bundler_error_from",
    "bundler_flows",
    "decode_execute",
    "decode_nonce",
    "deploy_entry_point_v08",
    "describe_revert",
    "encode_execute",
    "encode_execute_batch",
    "encode_execute_delegatecall",
    "encode_execute_single",
    "encode_nonce",
    "entry_point_domain_separator",
    "entry_point_flows",
    "eoa_owners_init_data",
    "eoa_validator_signature",
    "execution_mode",
    "load_entry_point_v08_initcode",
    "pack_uint128_pair",
    "user_operation_hash",
]
