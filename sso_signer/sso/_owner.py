"""Owner encodings: passkey validator init data, factory calldata, uniqueId schemes, the account address.

All byte layouts follow ``sso-era.md`` §1.2, §1.5 and §2: the WebAuthValidator ``onInstall`` data, the
``initialValidators`` entries of ``SsoAccount.initialize``, ``AAFactory.deployProxySsoAccount`` calldata, the
two uniqueId (salt) schemes of the published SDK and the EraVM ``create2`` address of a new account.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from sso_signer._codec import b64url_encode
from sso_signer.exceptions import ErrorCode, SsoEncodingError
from sso_signer.sso._signature import abi_decode_canonical, checksum_address, function_selector
from sso_signer.zksync._create2 import create2_address

if TYPE_CHECKING:
    from sso_signer.webauthn import P256PublicKey

_DEPLOY_TYPES = ("bytes32", "bytes[]", "address[]")
DEPLOY_PROXY_SSO_ACCOUNT_SELECTOR = function_selector("deployProxySsoAccount", _DEPLOY_TYPES)  # 0x0b8a4ed4
ERA_MAX_ORIGIN_LENGTH = 253  # WebAuthValidator (Era)
ERC4337_MAX_ORIGIN_LENGTH = 255  # WebAuthnValidator (ERC-4337)
MIN_CREDENTIAL_ID_LENGTH = 16
_INIT_TYPES = ("bytes", "bytes32[2]", "string")


class PasskeyOwner(Protocol):
    """Anything that names a registered passkey: a ``PasskeyCredential`` or a ``HeadlessPasskey``."""

    @property
    def credential_id(self) -> bytes: ...

    @property
    def public_key(self) -> P256PublicKey: ...

    @property
    def origin(self) -> str: ...


def _coordinates(public_key: P256PublicKey | tuple[int, int]) -> tuple[int, int]:
    if isinstance(public_key, tuple):
        if len(public_key) != 2:
            raise SsoEncodingError("public_key: expected (x, y)")
        x, y = public_key
    else:
        x, y = public_key.x, public_key.y
    for name, value in (("x", x), ("y", y)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 256:
            raise SsoEncodingError(f"public_key.{name}: expected an unsigned 256-bit integer")
    return x, y


@dataclass(frozen=True, slots=True)
class PasskeyInitData:
    """The WebAuthValidator ``onInstall`` data: one passkey bound to one origin.

    Attributes:
        credential_id: Raw credential id bytes (at least 16).
        x: Public key x coordinate.
        y: Public key y coordinate.
        origin: The exact ``clientDataJSON.origin`` the authenticator will emit (scheme, host, port; no
            slash).
    """

    credential_id: bytes
    x: int
    y: int
    origin: str

    def encode(self) -> bytes:
        """Return ``abi.encode(bytes credentialId, bytes32[2] [x, y], string origin)``."""
        return bytes(
            abi_encode(
                list(_INIT_TYPES),
                [self.credential_id, [self.x.to_bytes(32, "big"), self.y.to_bytes(32, "big")], self.origin],
            )
        )

    @classmethod
    def decode(cls, data: bytes) -> PasskeyInitData:
        """Decode validator init data (canonical encoding only).

        Raises:
            SsoEncodingError (``INVALID_INIT_DATA``): If ``data`` is not ``abi.encode(bytes, bytes32[2],
                string)`` or not canonical.
        """
        cred, (x, y), origin = abi_decode_canonical(
            "init data", _INIT_TYPES, data, ErrorCode.INVALID_INIT_DATA
        )
        return cls(bytes(cred), int.from_bytes(x, "big"), int.from_bytes(y, "big"), str(origin))


def validator_init_data(
    credential_id: bytes,
    public_key: P256PublicKey | tuple[int, int],
    origin: str,
    *,
    max_origin_length: int = ERA_MAX_ORIGIN_LENGTH,
) -> bytes:
    """Encode the passkey validator init data, applying the checks ``addValidationKey`` makes on-chain.

    Args:
        credential_id: Raw credential id bytes.
        public_key: The passkey's P-256 public key, or its ``(x, y)`` coordinates.
        origin: The origin string exactly as the authenticator's clientDataJSON will carry it.
        max_origin_length: 253 for the Era WebAuthValidator, 255 for the ERC-4337 WebAuthnValidator.

    Returns:
        ``abi.encode(bytes credentialId, bytes32[2] [x, y], string origin)``.

    Raises:
        SsoEncodingError (``BAD_CREDENTIAL_ID_LENGTH``): If the credential id is shorter than 16 bytes.
        SsoEncodingError (``BAD_DOMAIN_LENGTH``): If the UTF-8 origin is empty or longer than
            ``max_origin_length`` bytes.
        SsoEncodingError (``EMPTY_PUBLIC_KEY``): If the key is (0, 0).
        SsoEncodingError: If a coordinate is not a 256-bit unsigned integer.
    """
    if not isinstance(credential_id, bytes | bytearray):
        raise SsoEncodingError("credential_id: expected raw bytes", rule=ErrorCode.BAD_CREDENTIAL_ID_LENGTH)
    if len(credential_id) < MIN_CREDENTIAL_ID_LENGTH:
        raise SsoEncodingError(
            f"credential_id: {len(credential_id)} bytes, "
            f"the validator needs at least {MIN_CREDENTIAL_ID_LENGTH}",
            rule=ErrorCode.BAD_CREDENTIAL_ID_LENGTH,
        )
    if not isinstance(origin, str):
        raise SsoEncodingError("origin: expected text", rule=ErrorCode.BAD_DOMAIN_LENGTH)
    length = len(origin.encode("utf-8"))
    if not 1 <= length <= max_origin_length:
        raise SsoEncodingError(
            f"origin: {length} bytes, the validator accepts 1..{max_origin_length}",
            rule=ErrorCode.BAD_DOMAIN_LENGTH,
        )
    x, y = _coordinates(public_key)
    if x == 0 and y == 0:
        raise SsoEncodingError(
            "public_key: (0, 0) is rejected by the validator", rule=ErrorCode.EMPTY_PUBLIC_KEY
        )
    return PasskeyInitData(bytes(credential_id), x, y, origin).encode()


def validator_module_entry(validator: str, init_data: bytes = b"") -> bytes:
    """Encode one ``initialValidators`` entry: ``abi.encode(address validator, bytes initData)``.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``validator`` is not an address.
    """
    return bytes(
        abi_encode(["address", "bytes"], [checksum_address(validator, field="validator"), bytes(init_data)])
    )


def _unique_id(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise SsoEncodingError("unique_id: expected 32 bytes", rule=ErrorCode.INVALID_UNIQUE_ID)
    return bytes(value)


def deploy_proxy_sso_account_calldata(
    unique_id: bytes, initial_validators: Sequence[bytes], initial_k1_owners: Sequence[str] = ()
) -> bytes:
    """Encode ``AAFactory.deployProxySsoAccount(bytes32 uniqueId, bytes[] initialValidators, address[]
    owners)``.

    Args:
        unique_id: The 32-byte salt chosen by the deployer (see :class:`UniqueIdScheme`).
        initial_validators: Entries from :func:`validator_module_entry`.
        initial_k1_owners: secp256k1 owner addresses.

    Returns:
        Selector ``0x0b8a4ed4`` followed by the ABI arguments.

    Raises:
        SsoEncodingError (``INVALID_UNIQUE_ID``): If ``unique_id`` is not 32 bytes.
        InvalidEncoding (``INVALID_ADDRESS``): If an owner is not an address.
        SsoEncodingError: If both lists are empty (the account would revert ``INVALID_ACCOUNT_KEYS``).
    """
    owners = [checksum_address(owner, field="owner") for owner in initial_k1_owners]
    validators = [bytes(entry) for entry in initial_validators]
    if not owners and not validators:
        raise SsoEncodingError("an account needs at least one validator or owner (INVALID_ACCOUNT_KEYS)")
    return DEPLOY_PROXY_SSO_ACCOUNT_SELECTOR + abi_encode(
        _DEPLOY_TYPES, [_unique_id(unique_id), validators, owners]
    )


class UniqueIdScheme(enum.Enum):
    """The uniqueId (salt) schemes of the published SDK (``sso-era.md`` §2.3).

    ``MODULAR`` (the default here) is ``deployModularAccount``'s, the one the hosted auth server uses;
    ``LEGACY`` is ``deployAccount``'s ``keccak256(utf8(accountId))``.
    """

    MODULAR = "modular"
    LEGACY = "legacy"


def modular_account_unique_id(
    *, unique_account_id: str | None = None, owners: Sequence[str] = (), credential_id: bytes | None = None
) -> bytes:
    """The ``deployModularAccount`` salt: keccak256 of the UTF-8 *hex text* the SDK concatenates.

    The SDK builds ``"0x" + hex(utf8(uniqueAccountId)) + owner₁[2:] + … + hex(utf8(base64url(credentialId)))``
    (owners checksummed, as text) and hashes that text's UTF-8 bytes, not the bytes it spells.

    Args:
        unique_account_id: Optional account id text (the auth server passes the base64url credential id).
        owners: K1 owner addresses, in order.
        credential_id: Raw credential id of the passkey module, if one is installed.

    Returns:
        The 32-byte uniqueId.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If an owner is not an address.
    """
    parts: list[str] = []
    if unique_account_id:
        parts.append(unique_account_id.encode("utf-8").hex())
    parts.extend(checksum_address(owner, field="owner")[2:] for owner in owners)
    if credential_id is not None:
        parts.append(b64url_encode(bytes(credential_id)).encode("ascii").hex())
    return bytes(keccak(("0x" + "".join(parts)).encode("utf-8")))


def legacy_account_unique_id(account_id: str) -> bytes:
    """The ``deployAccount`` salt: ``keccak256(utf8(accountId))``.

    The SDK's ``accountId`` is the caller's ``uniqueAccountId`` or, when absent, the lower-case ``0x`` hex
    text of the passkey init data (``"0x" + validator_init_data(...).hex()``).
    """
    if not isinstance(account_id, str):
        raise SsoEncodingError("account_id: expected text", rule=ErrorCode.INVALID_UNIQUE_ID)
    return bytes(keccak(account_id.encode("utf-8")))


def unique_account_id(unique_id: bytes, deployer: str) -> bytes:
    """The create2 salt the factory really uses: ``keccak256(uniqueId ‖ deployer)`` (deployer = tx sender).

    Raises:
        SsoEncodingError (``INVALID_UNIQUE_ID``): If ``unique_id`` is not 32 bytes.
        InvalidEncoding (``INVALID_ADDRESS``): If ``deployer`` is not an address.
    """
    deployer_bytes = bytes.fromhex(checksum_address(deployer, field="deployer")[2:])
    return bytes(keccak(_unique_id(unique_id) + deployer_bytes))


def sso_account_address(
    *, factory: str, deployer: str, unique_id: bytes, beacon_proxy_bytecode_hash: bytes, beacon: str
) -> str:
    """Predict the EraVM address of an account created by ``deployProxySsoAccount``.

    Args:
        factory: The AAFactory (proxy) address, the caller of ContractDeployer.
        deployer: The EOA or account that sends the deploy transaction.
        unique_id: The uniqueId passed to the factory.
        beacon_proxy_bytecode_hash: ``AAFactory.beaconProxyBytecodeHash()`` (EraVM versioned hash).
        beacon: ``AAFactory``'s beacon address (constructor input is ``abi.encode(beacon)``).

    Returns:
        The checksummed account address.

    Raises:
        SsoEncodingError (``INVALID_UNIQUE_ID``): If ``unique_id`` is not 32 bytes.
        InvalidEncoding (``INVALID_ADDRESS``): If an address is malformed.
    """
    salt = unique_account_id(unique_id, deployer)
    constructor_input = abi_encode(["address"], [checksum_address(beacon, field="beacon")])
    if not isinstance(beacon_proxy_bytecode_hash, bytes) or len(beacon_proxy_bytecode_hash) != 32:
        raise SsoEncodingError("beacon_proxy_bytecode_hash: expected 32 bytes")
    factory = checksum_address(factory, field="factory")
    return create2_address(factory, beacon_proxy_bytecode_hash, salt, constructor_input)


def deploy_passkey_account_calldata(
    owner: PasskeyOwner,
    *,
    passkey_validator: str,
    session_validator: str | None = None,
    no_data_modules: Sequence[str] = (),
    k1_owners: Sequence[str] = (),
    unique_id: bytes | None = None,
    scheme: UniqueIdScheme = UniqueIdScheme.MODULAR,
) -> tuple[bytes, bytes]:
    """Build ``deployProxySsoAccount`` calldata for a passkey account, module order as
    ``deployModularAccount``.

    Modules: ``[session(0x)?, passkey(initData), *no_data_modules(0x)]`` (the auth server passes the recovery
    validator as a no-data module).

    Args:
        owner: The passkey (credential id, public key, origin).
        passkey_validator: WebAuthValidator address.
        session_validator: SessionKeyValidator address, installed without an initial session if given.
        no_data_modules: Further validators installed with empty init data (e.g. guardian recovery).
        k1_owners: secp256k1 owners.
        unique_id: Explicit 32-byte uniqueId; computed with ``scheme`` when omitted.
        scheme: ``MODULAR``: uniqueAccountId = base64url credential id, then owners, then the credential id
            (the auth server's choice); ``LEGACY``: keccak of the base64url credential id text.

    Returns:
        ``(unique_id, calldata)``.

    Raises:
        SsoEncodingError, InvalidEncoding (``INVALID_ADDRESS``): As :func:`validator_init_data` and
            :func:`deploy_proxy_sso_account_calldata`.
    """
    init = validator_init_data(owner.credential_id, owner.public_key, owner.origin)
    modules: list[bytes] = []
    if session_validator is not None:
        modules.append(validator_module_entry(session_validator))
    modules.append(validator_module_entry(passkey_validator, init))
    modules.extend(validator_module_entry(module) for module in no_data_modules)
    if unique_id is None:
        cred_b64u = b64url_encode(bytes(owner.credential_id))
        if scheme is UniqueIdScheme.MODULAR:
            unique_id = modular_account_unique_id(
                unique_account_id=cred_b64u, owners=k1_owners, credential_id=owner.credential_id
            )
        else:
            unique_id = legacy_account_unique_id(cred_b64u)
    return unique_id, deploy_proxy_sso_account_calldata(unique_id, modules, k1_owners)
