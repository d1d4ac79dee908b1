"""ERC-1271 message signing through ERC-7739 (the defensive rehashing both SSO account generations require).

The SSO accounts never verify a bare message hash on-chain (their "safe caller" path is disabled), so a
passkey signs one of two nested EIP-712 digests bound to the account's own domain:

* PersonalSign: ``hashTypedData(accountDomain, PersonalSign(bytes prefixed))`` of an EIP-191 message; the blob
  passed to ``isValidSignature`` is the passkey signature unchanged;
* TypedDataSign: ``hashTypedData(appDomain, TypedDataSign(<contents>, name, version, chainId,
  verifyingContract, salt))`` where the trailing fields are the account's domain; the blob is the passkey
  signature followed by ``appDomainSeparator ‖ hashStruct(contents) ‖ contentsDescr ‖
  uint16(len(contentsDescr))``, the description implicit (``contentsType``) or, when a struct of the contents
  sorts before their name, explicit (see :func:`wrap_typed_data_signature`).

Account domains: Era ``SsoAccount`` = ``("SSO1271", "1.0.0")``; ERC-4337 ``ModularSmartAccount`` =
``("zksync-sso-1271", "1.0.0")``; ``chainId`` = the chain, ``verifyingContract`` = the account, salt zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import EncodingError
from eth_account._utils.encode_typed_data.encoding_and_hashing import encode_type, hash_domain, hash_struct
from eth_utils.crypto import keccak

from sso_signer.exceptions import ErrorCode, SsoEncodingError
from sso_signer.sso._signature import checksum_address

ERA_ACCOUNT_DOMAIN_NAME = "SSO1271"
ERC4337_ACCOUNT_DOMAIN_NAME = "zksync-sso-1271"
ACCOUNT_DOMAIN_VERSION = "1.0.0"
PERSONAL_SIGN_TYPEHASH = bytes(keccak(b"PersonalSign(bytes prefixed)"))
_TYPE_NAME = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
# eth-account's encoder signals bad typed data with these.
_ENCODER_ERRORS = (EncodingError, ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError)


@dataclass(frozen=True, slots=True)
class AccountDomain:
    """The EIP-712 domain an SSO account uses for ERC-1271 (``eip712Domain()`` fields 0x0f, salt zero).

    Attributes:
        name: ``"SSO1271"`` (Era) or ``"zksync-sso-1271"`` (ERC-4337).
        version: ``"1.0.0"``.
        chain_id: The chain id.
        verifying_contract: The account address.
        salt: Always zero for SSO accounts; part of the TypedDataSign struct, not of the separator type.
    """

    name: str
    version: str
    chain_id: int
    verifying_contract: str
    salt: bytes = b"\x00" * 32

    @classmethod
    def era(cls, account: str, chain_id: int) -> AccountDomain:
        """The domain of an Era ``SsoAccount``."""
        return cls(ERA_ACCOUNT_DOMAIN_NAME, ACCOUNT_DOMAIN_VERSION, chain_id, checksum_address(account))

    @classmethod
    def erc4337(cls, account: str, chain_id: int) -> AccountDomain:
        """The domain of an ERC-4337 ``ModularSmartAccount``."""
        return cls(ERC4337_ACCOUNT_DOMAIN_NAME, ACCOUNT_DOMAIN_VERSION, chain_id, checksum_address(account))

    def separator(self) -> bytes:
        """The account's EIP-712 domain separator (its type has no salt)."""
        address = checksum_address(self.verifying_contract)
        domain = {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": address,
        }
        return bytes(hash_domain(domain))


def _invalid(message: str) -> SsoEncodingError:
    return SsoEncodingError(message, rule=ErrorCode.INVALID_TYPED_DATA)


def eip191_hash(message: bytes | str) -> bytes:
    """``keccak256("\\x19Ethereum Signed Message:\\n" ‖ len ‖ message)``; text is UTF-8 encoded.

    Raises:
        SsoEncodingError (``INVALID_TYPED_DATA``): If ``message`` is neither bytes nor text.
    """
    if isinstance(message, str):
        data = message.encode("utf-8")
    elif isinstance(message, bytes | bytearray):
        data = bytes(message)
    else:
        raise _invalid(f"message: expected bytes or text, got {type(message).__name__}")
    return bytes(keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode("ascii") + data))


def personal_sign_hash(message: bytes | str, domain: AccountDomain) -> bytes:
    """The digest a passkey signs for ERC-1271 over an EIP-191 message (ERC-7739 PersonalSign).

    Args:
        message: The message (bytes, or text encoded as UTF-8), as a dapp would pass to ``personal_sign``.
        domain: The verifying account's domain.

    Returns:
        ``keccak256(0x1901 ‖ accountSeparator ‖ keccak256(abi.encode(PERSONAL_SIGN_TYPEHASH,
        eip191(message))))``.
    """
    inner = keccak(abi_encode(["bytes32", "bytes32"], [PERSONAL_SIGN_TYPEHASH, eip191_hash(message)]))
    return bytes(keccak(b"\x19\x01" + domain.separator() + inner))


def _parse_typed_data(
    typed_data: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]], str, Any]:
    if not isinstance(typed_data, Mapping):
        raise _invalid("typed data: expected a mapping with types, primaryType, domain, message")
    try:
        types = {name: [dict(field) for field in fields] for name, fields in typed_data["types"].items()}
        primary = typed_data["primaryType"]
        domain = dict(typed_data["domain"])
        message = typed_data["message"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _invalid(f"typed data: missing or malformed {exc}") from exc
    types.pop("EIP712Domain", None)
    if not isinstance(primary, str) or primary not in types:
        raise _invalid(f"typed data: primaryType {primary!r} is not defined in types")
    if not _TYPE_NAME.match(primary) or primary == "TypedDataSign":
        raise _invalid(f"typed data: primaryType {primary!r} cannot be nested in TypedDataSign")
    for name, fields in types.items():
        for field in fields:
            if set(field) != {"name", "type"}:
                raise _invalid(f"typed data: field of {name} must have exactly name and type")
    if not isinstance(message, Mapping):
        raise _invalid("typed data: message must be a mapping")
    return domain, types, primary, dict(message)


def _app_separator(domain: dict[str, Any]) -> bytes:
    try:
        return bytes(hash_domain(domain))
    except _ENCODER_ERRORS as exc:
        raise _invalid(f"typed data domain: {exc}") from exc


def _typed_data_sign_types(types: dict[str, Any], primary: str) -> dict[str, Any]:
    nested_types = dict(types)
    nested_types["TypedDataSign"] = [
        {"name": "contents", "type": primary},
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
        {"name": "salt", "type": "bytes32"},
    ]
    return nested_types


def typed_data_sign_hash(typed_data: Mapping[str, Any], domain: AccountDomain) -> bytes:
    """The digest a passkey signs for ERC-1271 over EIP-712 typed data (ERC-7739 TypedDataSign).

    Args:
        typed_data: The dapp's typed data (``types``, ``primaryType``, ``domain``, ``message``), the shape
            ``eth_signTypedData_v4`` takes.
        domain: The verifying account's domain.

    Returns:
        ``keccak256(0x1901 ‖ appSeparator ‖ hashStruct(TypedDataSign{contents, account domain fields}))``.

    Raises:
        SsoEncodingError (``INVALID_TYPED_DATA``): If the typed data is malformed.
    """
    app_domain, types, primary, message = _parse_typed_data(typed_data)
    nested_types = _typed_data_sign_types(types, primary)
    nested_message = {
        "contents": message,
        "name": domain.name,
        "version": domain.version,
        "chainId": domain.chain_id,
        "verifyingContract": checksum_address(domain.verifying_contract),
        "salt": domain.salt,
    }
    try:
        struct = hash_struct("TypedDataSign", nested_types, nested_message)
    except _ENCODER_ERRORS as exc:
        raise _invalid(f"typed data: {exc}") from exc
    return bytes(keccak(b"\x19\x01" + _app_separator(app_domain) + struct))


def wrap_typed_data_signature(signature: bytes, typed_data: Mapping[str, Any]) -> bytes:
    """Append the ERC-7739 TypedDataSign suffix to a signature.

    The contents description is implicit (``contentsType``, as viem sends it) when the TypedDataSign type
    string the digest used ends with ``contentsType``; when a struct the contents use sorts before the
    contents' own name, EIP-712 lists it first there, and only explicit mode (``sortedTypes ‖ contentsName``)
    lets the account rebuild that string.

    Args:
        signature: The account-level signature blob (Era custom signature, or ``validator ‖ fat`` on
            ERC-4337).
        typed_data: The same typed data that was hashed with :func:`typed_data_sign_hash`.

    Returns:
        ``signature ‖ appSeparator ‖ hashStruct(contents) ‖ contentsDescr ‖ uint16(len(contentsDescr))``.

    Raises:
        SsoEncodingError (``INVALID_TYPED_DATA``): If the typed data is malformed or its type string exceeds
            65535 bytes.
    """
    app_domain, types, primary, message = _parse_typed_data(typed_data)
    try:
        contents_hash = bytes(hash_struct(primary, types, message))
        contents_type = encode_type(primary, types)
        nested = encode_type("TypedDataSign", _typed_data_sign_types(types, primary))
    except _ENCODER_ERRORS as exc:
        raise _invalid(f"typed data: {exc}") from exc
    sorted_types = nested[nested.index(")") + 1 :]  # what follows TypedDataSign's own fields
    explicit = "" if sorted_types == contents_type else primary
    description = (sorted_types + explicit).encode("utf-8")
    if len(description) > 0xFFFF:
        raise _invalid("typed data: contents type longer than 65535 bytes")
    return (
        bytes(signature)
        + _app_separator(app_domain)
        + contents_hash
        + description
        + len(description).to_bytes(2, "big")
    )
