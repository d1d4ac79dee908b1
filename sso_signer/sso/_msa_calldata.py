"""ERC-4337 passkey account creation, as bytes: init data, factory calldata, the account salt and the
gas-estimation stub signature (the accounts room builds and sends the UserOperations).

An account is ``MSAFactory.deployAccount(salt, initializeAccount([webauthnValidator, ...], [passkey, ...]))``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Final

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from sso_signer.exceptions import ErrorCode, SsoEncodingError
from sso_signer.sso._owner import ERC4337_MAX_ORIGIN_LENGTH, PasskeyOwner, validator_init_data
from sso_signer.sso._signature import FatSignature, checksum_address, erc4337_passkey_signature
from sso_signer.webauthn import HeadlessPasskey

# Covers the extra member some browsers append to clientDataJSON (see passkey_stub_signature).
STUB_CLIENT_DATA_PADDING: Final = 96

INITIALIZE_ACCOUNT_SELECTOR: Final = keccak(b"initializeAccount(address[],bytes[])")[:4]
DEPLOY_ACCOUNT_SELECTOR: Final = keccak(b"deployAccount(bytes32,bytes)")[:4]
ACCOUNT_CREATED_TOPIC: Final = keccak(b"AccountCreated(address,address)")


def initialize_account_calldata(modules: Sequence[str], data: Sequence[bytes]) -> bytes:
    """``initializeAccount(address[] modules, bytes[] data)`` calldata (the beacon proxy's init call).

    Args:
        modules: Module addresses, installed in this order.
        data: Each module's ``onInstall`` data.

    Returns:
        The calldata (selector ``0xf0efd465``).

    Raises:
        SsoEncodingError (``INVALID_INIT_DATA``): If the lists differ in length or are empty.
        InvalidEncoding (``INVALID_ADDRESS``): If a module is not an address.
    """
    if len(modules) != len(data) or not modules:
        raise SsoEncodingError(
            f"modules ({len(modules)}) and data ({len(data)}): equal, non-empty lists",
            rule=ErrorCode.INVALID_INIT_DATA,
        )
    checked = [checksum_address(m, field=f"modules[{i}]") for i, m in enumerate(modules)]
    encoded = abi_encode(["address[]", "bytes[]"], [checked, [bytes(d) for d in data]])
    return INITIALIZE_ACCOUNT_SELECTOR + encoded


def passkey_account_init_data(
    owner: PasskeyOwner, *, webauthn_validator: str, extra_modules: Sequence[tuple[str, bytes]] = ()
) -> bytes:
    """The ``initData`` of a passkey account: the WebAuthn validator with the passkey, then extra modules.

    Args:
        owner: The passkey (credential id, public key, origin as clientDataJSON will carry it).
        webauthn_validator: The ``WebAuthnValidator`` address.
        extra_modules: ``(module, onInstall data)`` pairs installed after the validator (executors,
            other validators).

    Returns:
        ``initializeAccount([validator, ...], [abi.encode(credentialId, [x, y], origin), ...])`` calldata.

    Raises:
        SsoEncodingError (``BAD_CREDENTIAL_ID_LENGTH``, ``BAD_DOMAIN_LENGTH``, ``EMPTY_PUBLIC_KEY``): If the
            passkey breaks a validator rule.
        InvalidEncoding (``INVALID_ADDRESS``): If an address is malformed.
    """
    init = validator_init_data(
        owner.credential_id, owner.public_key, owner.origin, max_origin_length=ERC4337_MAX_ORIGIN_LENGTH
    )
    modules = [webauthn_validator, *(m for m, _ in extra_modules)]
    data = [init, *(d for _, d in extra_modules)]
    return initialize_account_calldata(modules, data)


def deploy_account_calldata(salt: bytes, init_data: bytes) -> bytes:
    """``MSAFactory.deployAccount(bytes32 salt, bytes initData)`` calldata (selector ``0x574caef3``).

    Raises:
        SsoEncodingError (``INVALID_INIT_DATA``): If ``salt`` is not 32 bytes.
    """
    if not isinstance(salt, bytes | bytearray) or len(salt) != 32:
        raise SsoEncodingError("salt: expected 32 bytes", rule=ErrorCode.INVALID_INIT_DATA)
    return DEPLOY_ACCOUNT_SELECTOR + abi_encode(["bytes32", "bytes"], [bytes(salt), bytes(init_data)])


def account_salt(user_id: str | None = None) -> bytes:
    """The account salt the official SDK derives: ``keccak256(ascii(hex(utf8(userId))))``, or 32 random bytes.

    Args:
        user_id: An application user id, or ``None`` for a random salt.

    Returns:
        32 bytes.
    """
    if user_id is None:
        return secrets.token_bytes(32)
    return keccak(user_id.encode("utf-8").hex().encode("ascii"))


def passkey_stub_signature(
    validator: str, owner: PasskeyOwner, *, rp_id: str, client_data_padding: int = STUB_CLIENT_DATA_PADDING
) -> bytes:
    """A gas-estimation stub: ``validator ‖ fat`` of a real assertion over 32 zero bytes by a throw-away key.

    It is well-formed for the ``WebAuthnValidator`` (UP+UV, ``webauthn.get``, the owner's origin and
    credential id, low-s), so validation *returns* failure without reverting. Its clientDataJSON carries one
    extra member so that it is at least as long as a browser's (Chrome sometimes appends a ~100-byte member):
    ``preVerificationGas`` grows with the signature's length and must cover the real one.

    Args:
        validator: The WebAuthn validator address (the 20-byte prefix).
        owner: The real passkey (its credential id and origin are copied).
        rp_id: The relying party id hashed into authenticatorData.
        client_data_padding: Length of the extra clientDataJSON member's value (0 for none).

    Returns:
        The stub ``userOp.signature``.
    """
    throwaway = HeadlessPasskey.generate(rp_id=rp_id, origin=owner.origin, credential_id=owner.credential_id)
    extra = {"padding": "x" * client_data_padding} if client_data_padding > 0 else None
    assertion = throwaway.sign(bytes(32), origin=owner.origin, extra_client_data=extra)
    return erc4337_passkey_signature(validator, FatSignature.from_assertion(assertion))
