"""``sign-message`` and ``verify-message``: ERC-1271 signatures (ERC-7739 PersonalSign) of the account."""

from __future__ import annotations

import argparse

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from sso_signer.cli._accounts import open_account
from sso_signer.cli._context import ChainContext, load_passkey, parse_data
from sso_signer.cli._output import Reporter
from sso_signer.exceptions import CliUsageError, ErrorCode, ExecutionReverted, NotFound, VerificationError
from sso_signer.sso import eip191_hash
from sso_signer.sso._signature import checksum_address

__all__ = ["sign", "verify"]

_IS_VALID_SIGNATURE = bytes(keccak(text="isValidSignature(bytes32,bytes)"))[:4]
_ERC1271_MAGIC = bytes.fromhex("1626ba7e")


def _message(args: argparse.Namespace) -> bytes:
    if args.message_hex is not None:
        return parse_data(args.message_hex)
    if args.message is None:
        raise CliUsageError("give --message TEXT or --message-hex HEX")
    return str(args.message).encode("utf-8")


def sign(args: argparse.Namespace, out: Reporter) -> None:
    """ERC-1271 signature of a message (ERC-7739 PersonalSign), from the passkey's account."""
    message = _message(args)
    passkey = load_passkey(args)
    with ChainContext.from_args(args) as ctx:
        kind, account = open_account(args, ctx, passkey, executes=False)
        signature = account.sign_message(message)
        out.result(
            {
                "kind": kind,
                "account": account.address,
                "hash": eip191_hash(message),
                "signature": signature,
            },
            summary=f"signed for {account.address} (ERC-7739 PersonalSign; check: isValidSignature(hash, "
            "signature))",
        )


def verify(args: argparse.Namespace, out: Reporter) -> None:
    """Ask an account (ERC-1271 ``isValidSignature`` through ``eth_call``) whether a signature is valid."""
    account = checksum_address(args.account, field="--account")
    message = _message(args)
    signature = parse_data(args.signature)
    digest = eip191_hash(message)
    with ChainContext.from_args(args) as ctx:
        if not ctx.client.get_code(account):
            raise NotFound(
                f"{account} has no code: ERC-1271 needs a deployed account", rule=ErrorCode.ACCOUNT_NOT_FOUND
            )
        data = _IS_VALID_SIGNATURE + bytes(abi_encode(["bytes32", "bytes"], [digest, signature]))
        try:
            answer = ctx.client.call({"to": account, "data": data})
        except ExecutionReverted:
            answer = b""  # solady's off-chain path reverts on invalid signatures
        if answer[:4] != _ERC1271_MAGIC:
            raise VerificationError(
                f"{account} rejected the signature (answer 0x{answer[:4].hex() or 'revert'})",
                rule=ErrorCode.ERC1271_SIGNATURE_INVALID,
            )
        out.result(
            {"account": account, "hash": digest, "valid": True}, summary=f"valid signature for {account}"
        )
