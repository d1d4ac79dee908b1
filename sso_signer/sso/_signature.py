"""The passkey signature blobs the SSO validators read: the fat signature and its two envelopes.

* fat signature = ``abi.encode(bytes authenticatorData, bytes clientDataJSON, bytes32[2] [r, s], bytes
  credentialId)`` (the validators declare the second field ``string``; both encode identically);
* Era transaction ``customSignature`` = ``abi.encode(bytes fat, address validator, bytes[] [""])`` exactly as
  the official SDK emits it (``sso-era.md`` §1.6), or the ``bytes ""`` variant the contract tests use;
* ERC-4337 ``userOp.signature`` = ``validator (20 bytes) ‖ fat`` (``sso-4337.md`` §3).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

# Re-exported: the sso and accounts modules import the address check from here.
from sso_signer._codec import checksum_address as checksum_address
from sso_signer.exceptions import ErrorCode, MalformedSignature, SsoEncodingError
from sso_signer.webauthn._p256 import EcdsaSignature

if TYPE_CHECKING:
    from sso_signer.webauthn import Assertion

_FAT_TYPES = ("bytes", "bytes", "bytes32[2]", "bytes")
_SDK_ENVELOPE = ("bytes", "address", "bytes[]")
_PLAIN_ENVELOPE = ("bytes", "address", "bytes")
# Everything eth-abi raises on bad input; caught together so no bare error escapes.
_ABI_ERRORS = (DecodingError, ValueError, TypeError, OverflowError, IndexError)


def function_selector(name: str, types: Sequence[str]) -> bytes:
    """The 4-byte selector of ``name(types)`` (also an error's selector; types in canonical spelling)."""
    return bytes(keccak(text=f"{name}({','.join(types)})")[:4])


def abi_call(name: str, types: Sequence[str], values: Sequence[object]) -> bytes:
    """Calldata of the function ``name(types)``: its selector, then the ABI-encoded ``values``."""
    return function_selector(name, types) + bytes(abi_encode(list(types), list(values)))


def abi_decode_canonical(
    what: str, types: Sequence[str], data: bytes, rule: ErrorCode | None = None
) -> tuple[Any, ...]:
    """Strict ABI decoding: the bytes must be the canonical encoding of what they decode to.

    Raises:
        SsoEncodingError: If they do not decode as ``types`` or are not canonical (with ``rule``, if given).
    """
    try:
        values = tuple(abi_decode(list(types), bytes(data)))
        canonical = abi_encode(list(types), list(values))
    except (*_ABI_ERRORS, EncodingError) as exc:
        raise SsoEncodingError(f"{what}: does not decode as ({','.join(types)}): {exc}", rule=rule) from exc
    if canonical != bytes(data):
        raise SsoEncodingError(f"{what}: not canonically ABI-encoded", rule=rule)
    return values


def _abi_bytes(data: bytes) -> bytes:
    """The ABI tail of a ``bytes`` value: length word, then the data zero-padded to whole words."""
    return len(data).to_bytes(32, "big") + data + bytes(-len(data) % 32)


def _abi_tuple(fields: Sequence[tuple[bool, bytes]]) -> bytes:
    """ABI-encode a tuple from its fields, each ``(dynamic, encoding)``: static encodings go in the head,
    dynamic ones in the tail behind an offset word.

    Hand-written for the few fixed shapes signed on every transaction (eth-abi's generic encoder was a
    sixth of the signing time); tests/sso/test_fast_abi.py checks them against eth-abi.
    """
    head_size = sum(32 if dynamic else len(encoding) for dynamic, encoding in fields)
    head, tail = [], []
    offset = head_size
    for dynamic, encoding in fields:
        if dynamic:
            head.append(offset.to_bytes(32, "big"))
            tail.append(encoding)
            offset += len(encoding)
        else:
            head.append(encoding)
    return b"".join(head) + b"".join(tail)


def _abi_bytes_array(items: Sequence[bytes]) -> bytes:
    """The ABI tail of a ``bytes[]`` value."""
    return len(items).to_bytes(32, "big") + _abi_tuple([(True, _abi_bytes(item)) for item in items])


def _word(value: int | bytes, field: str) -> int:
    if isinstance(value, bytes) and len(value) == 32:
        return int.from_bytes(value, "big")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 256:
        return value
    got = f"{len(value)} bytes" if isinstance(value, bytes) else repr(value)[:80]
    raise MalformedSignature(
        f"{field}: expected an unsigned 256-bit int or 32 bytes, got {got}",
        rule=ErrorCode.SIGNATURE_COMPONENT,
    )


def _as_bytes(value: object, field: str, rule: ErrorCode = ErrorCode.INVALID_FAT_SIGNATURE) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise MalformedSignature(f"{field}: expected bytes, got {type(value).__name__}", rule=rule)


_FAT_HEAD = 5 * 32  # offset, offset, r, s, offset
_FAT_HEAD_SIZE = _FAT_HEAD.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class FatSignature:
    """The passkey signature the SSO WebAuthn validators decode.

    Attributes:
        authenticator_data: authenticatorData bytes exactly as the authenticator produced them.
        client_data_json: clientDataJSON bytes exactly as the browser produced them (never re-serialised).
        r: ECDSA ``r`` as an integer.
        s: ECDSA ``s`` as an integer (low-s when built by :meth:`from_assertion`).
        credential_id: Raw credential id bytes (not base64url).
    """

    authenticator_data: bytes
    client_data_json: bytes
    r: int
    s: int
    credential_id: bytes

    def __post_init__(self) -> None:
        # Normalise bytes subclasses (AuthenticatorData, CollectedClientData) to plain bytes and range-check
        # r/s so encode() cannot fail later.
        for name in ("authenticator_data", "client_data_json", "credential_id"):
            object.__setattr__(self, name, _as_bytes(getattr(self, name), name))
        for name in ("r", "s"):
            object.__setattr__(self, name, _word(getattr(self, name), name))

    @classmethod
    def from_assertion(cls, assertion: Assertion, *, normalize: bool = True) -> FatSignature:
        """Build the fat signature of a WebAuthn assertion.

        Args:
            assertion: The assertion (DER signature as the authenticator sent it).
            normalize: Replace a high ``s`` by ``n − s`` (the validators accept only low-s). Leave it on
                unless you are building a negative test.

        Returns:
            The fat signature with the exact authenticatorData / clientDataJSON bytes of the assertion.

        Raises:
            sso_signer.webauthn errors: If the DER signature is malformed or out of range.
        """
        signature = assertion.ecdsa_signature
        if normalize:
            signature = signature.normalized()
        # Every part is already checked by the assertion (bytes, r and s in [1, n-1]): set directly instead
        # of re-running __post_init__ on each of them (equal to the checked constructor; test_fast_abi.py).
        self = object.__new__(cls)
        set_ = object.__setattr__
        set_(self, "authenticator_data", bytes(assertion.authenticator_data))
        set_(self, "client_data_json", bytes(assertion.client_data))
        set_(self, "r", signature.r)
        set_(self, "s", signature.s)
        set_(self, "credential_id", bytes(assertion.credential_id))
        return self

    @classmethod
    def from_der(
        cls,
        *,
        authenticator_data: bytes,
        client_data_json: bytes,
        der_signature: bytes,
        credential_id: bytes,
        normalize: bool = True,
    ) -> FatSignature:
        """Build the fat signature from the raw parts of an assertion.

        Args:
            authenticator_data: authenticatorData bytes.
            client_data_json: clientDataJSON bytes.
            der_signature: The DER ECDSA signature; parsed strictly.
            credential_id: Raw credential id bytes.
            normalize: Replace a high ``s`` by ``n − s``.

        Returns:
            The fat signature.

        Raises:
            MalformedSignature (``INVALID_DER_SIGNATURE``, ``NON_CANONICAL_DER``): If the DER is malformed.
            MalformedSignature (``SIGNATURE_OUT_OF_RANGE``): If r or s is 0 or ≥ n.
        """
        signature = EcdsaSignature.from_der(der_signature)
        if normalize:
            signature = signature.normalized()
        return cls(authenticator_data, client_data_json, signature.r, signature.s, credential_id)

    @property
    def r_bytes(self) -> bytes:
        """``r`` as a 32-byte big-endian word."""
        return self.r.to_bytes(32, "big")

    @property
    def s_bytes(self) -> bytes:
        """``s`` as a 32-byte big-endian word."""
        return self.s.to_bytes(32, "big")

    def encode(self) -> bytes:
        """Return ``abi.encode(bytes authData, bytes clientDataJSON, bytes32[2] [r, s], bytes
        credentialId)``."""
        # Head: three offsets around the two static words; tails in field order.
        auth, client_data = _abi_bytes(self.authenticator_data), _abi_bytes(self.client_data_json)
        return b"".join(
            (
                _FAT_HEAD_SIZE,
                (_FAT_HEAD + len(auth)).to_bytes(32, "big"),
                self.r.to_bytes(32, "big"),
                self.s.to_bytes(32, "big"),
                (_FAT_HEAD + len(auth) + len(client_data)).to_bytes(32, "big"),
                auth,
                client_data,
                _abi_bytes(self.credential_id),
            )
        )

    @classmethod
    def decode(cls, blob: bytes, *, strict: bool = True) -> FatSignature:
        """Decode a fat signature.

        Args:
            blob: The encoded fat signature.
            strict: Accept only the canonical encoding (what every SDK emits). With ``strict=False`` anything
                eth-abi can follow is accepted (trailing bytes, unusual offsets), closer to Solidity's
                ``abi.decode``, which the preflight mirrors.

        Returns:
            The decoded fat signature.

        Raises:
            MalformedSignature (``INVALID_FAT_SIGNATURE``): If ``blob`` does not decode as ``(bytes, bytes,
                bytes32[2], bytes)``.
            MalformedSignature (``NON_CANONICAL_FAT_SIGNATURE``): If ``strict`` and it re-encodes to different
                bytes.
        """
        blob = _as_bytes(blob, "fat signature")
        try:
            auth_data, cdj, (r, s), cred = abi_decode(list(_FAT_TYPES), blob, strict=False)
        except _ABI_ERRORS as exc:
            raise MalformedSignature(
                f"fat signature does not decode: {exc}", rule=ErrorCode.INVALID_FAT_SIGNATURE
            ) from exc
        fat = cls(auth_data, cdj, int.from_bytes(r, "big"), int.from_bytes(s, "big"), cred)
        if strict and fat.encode() != blob:
            raise MalformedSignature(
                "fat signature is not canonically ABI-encoded", rule=ErrorCode.NON_CANONICAL_FAT_SIGNATURE
            )
        return fat


@dataclass(frozen=True, slots=True)
class EraCustomSignature:
    """The Era transaction ``customSignature`` of a passkey transaction, decoded.

    Attributes:
        fat: The encoded fat signature.
        validator: The WebAuthValidator address (checksummed).
        validator_data: ``(b"",)`` for the official SDK's ``bytes[]`` form; ``b""`` for the plain ``bytes``
            form.
    """

    fat: bytes
    validator: str
    validator_data: tuple[bytes, ...] | bytes = (b"",)

    @property
    def fat_signature(self) -> FatSignature:
        """The decoded fat signature (raises :class:`~sso_signer.exceptions.MalformedSignature`
        (``ErrorCode.INVALID_FAT_SIGNATURE``) if it does not decode)."""
        return FatSignature.decode(self.fat)

    def encode(self) -> bytes:
        """Return ``abi.encode(bytes fat, address validator, bytes[] | bytes validatorData)``."""
        data = self.validator_data
        tail = _abi_bytes(data) if isinstance(data, bytes) else _abi_bytes_array(data)
        return _abi_tuple(
            [(True, _abi_bytes(self.fat)), (False, _validator_word(self.validator)), (True, tail)]
        )


def _validator_word(validator: str) -> bytes:
    """The ABI word of a validator address, checked (raises :class:`~sso_signer.exceptions.InvalidEncoding`
    (``ErrorCode.INVALID_ADDRESS``))."""
    if not isinstance(validator, str):  # unhashable input must reach the check, not the cache
        checksum_address(validator, field="validator")
    return _cached_validator_word(validator)


@functools.lru_cache(maxsize=256)
def _cached_validator_word(validator: str) -> bytes:
    # One validator signs many transactions; a malformed address raises and is not cached.
    return bytes(12) + bytes.fromhex(checksum_address(validator, field="validator")[2:])


_SDK_VALIDATOR_DATA = _abi_bytes_array((b"",))
_ENVELOPE_HEAD_SIZE = (3 * 32).to_bytes(32, "big")  # offset, validator, offset


def era_custom_signature(
    fat: bytes | FatSignature, validator: str, *, validator_data: Sequence[bytes] | bytes = (b"",)
) -> bytes:
    """Wrap a fat signature into the Era transaction ``customSignature``.

    Args:
        fat: The fat signature (object or its encoding).
        validator: The WebAuthValidator address the account should call.
        validator_data: Keep the default ``[""]`` (``bytes[]``) for bytes identical to the official SDK; pass
            ``b""`` for the ``(bytes, address, bytes)`` form. The contract ignores this field.

    Returns:
        ``abi.encode(bytes fat, address validator, bytes[] [""])`` (default form).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``validator`` is not an address.
        MalformedSignature (``INVALID_FAT_SIGNATURE``): If ``fat`` is neither bytes nor a
            :class:`FatSignature`.
    """
    fat_bytes = _fat_bytes(fat)
    if type(validator_data) is tuple and validator_data == (b"",):
        # The official SDK's form, on every transaction signed: its tail is a constant.
        fat_tail = _abi_bytes(fat_bytes)
        return b"".join(
            (
                _ENVELOPE_HEAD_SIZE,
                _validator_word(validator),
                (96 + len(fat_tail)).to_bytes(32, "big"),
                fat_tail,
                _SDK_VALIDATOR_DATA,
            )
        )
    data: tuple[bytes, ...] | bytes
    if isinstance(validator_data, bytes | bytearray):
        data = bytes(validator_data)
    else:
        data = tuple(
            _as_bytes(d, "validator_data[]", ErrorCode.INVALID_CUSTOM_SIGNATURE) for d in validator_data
        )
    return EraCustomSignature(fat_bytes, checksum_address(validator, field="validator"), data).encode()


def _fat_bytes(fat: bytes | FatSignature) -> bytes:
    return fat.encode() if isinstance(fat, FatSignature) else _as_bytes(fat, "fat")


def decode_era_custom_signature(blob: bytes) -> EraCustomSignature:
    """Decode an Era passkey ``customSignature`` in either canonical form.

    Args:
        blob: ``abi.encode(bytes, address, bytes[])`` (official SDK) or ``abi.encode(bytes, address, bytes)``.

    Returns:
        The decoded envelope (the fat part is left encoded; use :attr:`EraCustomSignature.fat_signature`).

    Raises:
        MalformedSignature (``INVALID_CUSTOM_SIGNATURE``): If ``blob`` decodes as neither form.
        MalformedSignature (``NON_CANONICAL_CUSTOM_SIGNATURE``): If it decodes only non-canonically (extra
            bytes, odd offsets).
    """
    blob = _as_bytes(blob, "custom signature", ErrorCode.INVALID_CUSTOM_SIGNATURE)
    decoded_any = False
    # Plain form first: ``bytes ""`` and ``bytes[] []`` share one encoding, reported as plain. The SDK's
    # ``bytes[] [""]`` never re-encodes canonically as plain ``bytes`` (its tail has a non-zero padding byte).
    for types in (_PLAIN_ENVELOPE, _SDK_ENVELOPE):
        try:
            fat, validator, data = abi_decode(list(types), blob)
        except _ABI_ERRORS:
            continue
        decoded_any = True
        validator_data: tuple[bytes, ...] | bytes = bytes(data) if types is _PLAIN_ENVELOPE else tuple(data)
        candidate = EraCustomSignature(bytes(fat), str(to_checksum_address(validator)), validator_data)
        if candidate.encode() == blob:
            return candidate
    if decoded_any:
        raise MalformedSignature(
            "custom signature is not a canonical (bytes, address, bytes[]|bytes)",
            rule=ErrorCode.NON_CANONICAL_CUSTOM_SIGNATURE,
        )
    raise MalformedSignature(
        "custom signature does not decode as (bytes fat, address validator, bytes[])",
        rule=ErrorCode.INVALID_CUSTOM_SIGNATURE,
    )


def erc4337_passkey_signature(validator: str, fat: bytes | FatSignature) -> bytes:
    """Build the ERC-4337 (ModularSmartAccount) passkey signature ``validator ‖ fat``.

    Args:
        validator: The WebAuthnValidator module address.
        fat: The fat signature (object or encoding).

    Returns:
        20 address bytes followed by the fat signature encoding.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``validator`` is not an address.
    """
    return bytes.fromhex(checksum_address(validator, field="validator")[2:]) + _fat_bytes(fat)


def decode_erc4337_passkey_signature(blob: bytes) -> tuple[str, FatSignature]:
    """Split an ERC-4337 passkey signature into the validator address and the fat signature.

    Args:
        blob: ``validator(20) ‖ abi.encode(bytes, bytes, bytes32[2], bytes)``.

    Returns:
        ``(validator, fat)`` with the validator checksummed.

    Raises:
        MalformedSignature (``INVALID_ERC4337_SIGNATURE``): If ``blob`` is shorter than a validator address
            plus a fat signature head.
        MalformedSignature (``INVALID_FAT_SIGNATURE``): If the part after the address is not a fat signature.
    """
    blob = _as_bytes(blob, "erc4337 signature", ErrorCode.INVALID_ERC4337_SIGNATURE)
    if len(blob) < 20 + 5 * 32:
        raise MalformedSignature(
            f"erc4337 passkey signature too short ({len(blob)} bytes)",
            rule=ErrorCode.INVALID_ERC4337_SIGNATURE,
        )
    return str(to_checksum_address(blob[:20])), FatSignature.decode(blob[20:])
