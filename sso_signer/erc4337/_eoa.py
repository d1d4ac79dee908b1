"""Signatures for the EOA key validator: ``validator(20) ‖ r ‖ s ‖ v`` over the raw 32-byte hash.

No EIP-191 prefix: the validator recovers the signer from the userOpHash (or the ERC-1271 digest) itself.
"""

from __future__ import annotations

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32

from sso_signer._codec import hex_decode
from sso_signer.erc4337._user_operation import _check_address
from sso_signer.exceptions import InvalidUserOperation

__all__ = ["eoa_owners_init_data", "eoa_validator_signature"]


def eoa_validator_signature(validator: str, owner: LocalAccount, digest: bytes) -> bytes:
    """Sign ``digest`` with an owner key for the EOA validator.

    Args:
        validator: The EOA validator address (the 20-byte prefix the account dispatches on).
        owner: The owner's key (eth-account ``LocalAccount``; the key never leaves it).
        digest: The 32-byte hash (a userOpHash, or an ERC-7739 digest for ERC-1271).

    Returns:
        ``validator ‖ r ‖ s ‖ v`` (85 bytes, low-s, v in {27, 28}).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``validator`` is not an address.
        InvalidUserOperation: If ``digest`` is not 32 bytes.
    """
    prefix = hex_decode(_check_address(validator, "validator"), length=20)
    if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
        raise InvalidUserOperation("digest: expected 32 bytes")
    signed = owner.unsafe_sign_hash(Hash32(bytes(digest)))
    return prefix + signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])


def eoa_owners_init_data(owners: list[str] | tuple[str, ...]) -> bytes:
    """The EOA validator's install data: ``abi.encode(address[] owners)``.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If an owner is not an address.
    """
    checked = [_check_address(o, f"owners[{i}]") for i, o in enumerate(owners)]
    return abi_encode(["address[]"], [checked])
