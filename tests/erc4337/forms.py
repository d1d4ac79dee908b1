"""The JSON forms of a UserOperation that the tests write by hand (independently of ``to_rpc``)."""

from __future__ import annotations

from sso_signer.erc4337 import UserOperation


def packed_rpc(op: UserOperation) -> dict[str, str]:
    """The packed JSON form (``initCode``/``paymasterAndData``) some bundlers and tools still send."""
    return {
        "sender": op.sender,
        "nonce": hex(op.nonce),
        "initCode": "0x" + op.init_code.hex(),
        "callData": "0x" + op.call_data.hex(),
        "callGasLimit": hex(op.call_gas_limit),
        "verificationGasLimit": hex(op.verification_gas_limit),
        "preVerificationGas": hex(op.pre_verification_gas),
        "maxFeePerGas": hex(op.max_fee_per_gas),
        "maxPriorityFeePerGas": hex(op.max_priority_fee_per_gas),
        "paymasterAndData": "0x" + op.paymaster_and_data.hex(),
        "signature": "0x" + op.signature.hex(),
    }
