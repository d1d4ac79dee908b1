"""authenticatorData: the authenticator's signed record of rpId hash, flags, counter and optional data."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntFlag
from typing import Any

from sso_signer.exceptions import ErrorCode, InvalidCbor, InvalidEncoding, InvalidWebAuthnData, SsoSignerError
from sso_signer.webauthn._cbor import decode_prefix, encode
from sso_signer.webauthn._p256 import P256PublicKey

__all__ = [
    "MAX_AUTHENTICATOR_DATA",
    "MAX_CREDENTIAL_ID",
    "AttestedCredentialData",
    "AuthenticatorData",
    "AuthenticatorFlags",
    "check_credential_id",
]

# WebAuthn caps credential ids at 1023 bytes.
MAX_CREDENTIAL_ID = 1023
# Fixed part + AAGUID + id + a COSE key + generous extensions; anything larger is hostile.
MAX_AUTHENTICATOR_DATA = 4096


def check_credential_id(credential_id: bytes, *, empty: type[SsoSignerError] = InvalidWebAuthnData) -> None:
    """Refuse an empty credential id (raising ``empty``) or one over WebAuthn's 1023 bytes
    (``FIELD_TOO_LARGE``)."""
    if not credential_id:
        raise empty("credential id is empty")
    if len(credential_id) > MAX_CREDENTIAL_ID:
        raise InvalidEncoding(
            f"credential id is {len(credential_id)} bytes; WebAuthn allows {MAX_CREDENTIAL_ID}",
            rule=ErrorCode.FIELD_TOO_LARGE,
        )


class AuthenticatorFlags(IntFlag):
    """The flags byte of authenticatorData."""

    UP = 0x01  # user present
    UV = 0x04  # user verified
    BE = 0x08  # backup eligible
    BS = 0x10  # backed up
    AT = 0x40  # attested credential data included
    ED = 0x80  # extension data included


@dataclass(frozen=True, slots=True)
class AttestedCredentialData:
    """The credential a registration creates: AAGUID, credential id and the COSE public key bytes.

    Args:
        aaguid: 16-byte authenticator model id.
        credential_id: The raw credential id (1..1023 bytes).
        credential_public_key: The COSE_Key bytes exactly as encoded by the authenticator.

    Raises:
        InvalidWebAuthnData: If the AAGUID is not 16 bytes or the id is empty.
        InvalidEncoding (``FIELD_TOO_LARGE``): If the credential id is longer than 1023 bytes.
    """

    aaguid: bytes
    credential_id: bytes
    credential_public_key: bytes

    def __post_init__(self) -> None:
        if len(self.aaguid) != 16:
            raise InvalidWebAuthnData(f"AAGUID must be 16 bytes, got {len(self.aaguid)}")
        check_credential_id(self.credential_id, empty=InvalidWebAuthnData)

    @property
    def public_key(self) -> P256PublicKey:
        """The P-256 key of the COSE bytes.

        Raises:
            InvalidKey (``UNSUPPORTED_ALGORITHM``): If the key is not ES256 / P-256.
            InvalidKey: If the COSE key is malformed.
        """
        return P256PublicKey.from_cose(self.credential_public_key)

    def to_bytes(self) -> bytes:
        """Encode as ``aaguid || len16(id) || id || coseKey``."""
        return (
            self.aaguid
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self.credential_public_key
        )


class AuthenticatorData(bytes):
    """authenticatorData bytes with parsed attributes; the bytes are kept exactly as received.

    Attributes:
        rp_id_hash: sha256 of the rpId (32 bytes).
        flags: The flags byte.
        counter: The 32-bit signature counter.
        attested_credential: The attested credential data, or None when AT is clear.
        extensions: The decoded extension map, or None when ED is clear.

    Raises (on construction):
        InvalidWebAuthnData (``AUTHENTICATOR_DATA_TOO_SHORT``): If the data is shorter than 37 bytes or than a
            declared field.
        InvalidWebAuthnData: If flags and content disagree or bytes trail the last field.
        InvalidCbor: If the COSE key or the extensions are not well-formed CBOR.
        InvalidEncoding (``FIELD_TOO_LARGE``): If the data or the credential id exceeds the SDK's limits.
    """

    rp_id_hash: bytes
    flags: AuthenticatorFlags
    counter: int
    attested_credential: AttestedCredentialData | None
    extensions: Mapping[Any, Any] | None

    def __new__(cls, data: bytes) -> AuthenticatorData:
        self = super().__new__(cls, bytes(data))
        raw = bytes(self)
        if len(raw) > MAX_AUTHENTICATOR_DATA:
            raise InvalidEncoding(
                f"authenticatorData is {len(raw)} bytes; the limit is {MAX_AUTHENTICATOR_DATA}",
                rule=ErrorCode.FIELD_TOO_LARGE,
            )
        if len(raw) < 37:
            raise InvalidWebAuthnData(
                f"authenticatorData is {len(raw)} bytes; at least 37 are required",
                rule=ErrorCode.AUTHENTICATOR_DATA_TOO_SHORT,
            )
        flags = AuthenticatorFlags(raw[32])
        pos = 37
        attested: AttestedCredentialData | None = None
        if flags & AuthenticatorFlags.AT:
            if len(raw) < pos + 18:
                raise InvalidWebAuthnData(
                    "authenticatorData: AT is set but attested credential data is cut",
                    rule=ErrorCode.AUTHENTICATOR_DATA_TOO_SHORT,
                )
            aaguid = raw[pos : pos + 16]
            id_len = int.from_bytes(raw[pos + 16 : pos + 18], "big")
            pos += 18
            if id_len > MAX_CREDENTIAL_ID:
                raise InvalidEncoding(
                    f"credential id length {id_len} exceeds {MAX_CREDENTIAL_ID}",
                    rule=ErrorCode.FIELD_TOO_LARGE,
                )
            if len(raw) < pos + id_len:
                raise InvalidWebAuthnData(
                    "authenticatorData: credential id is cut", rule=ErrorCode.AUTHENTICATOR_DATA_TOO_SHORT
                )
            credential_id = raw[pos : pos + id_len]
            pos += id_len
            _, used = decode_prefix(raw[pos:], field="authenticatorData credentialPublicKey")
            attested = AttestedCredentialData(aaguid, credential_id, raw[pos : pos + used])
            pos += used
        extensions: Mapping[Any, Any] | None = None
        if flags & AuthenticatorFlags.ED:
            if pos >= len(raw):
                raise InvalidWebAuthnData(
                    "authenticatorData: ED is set but no extension data follows",
                    rule=ErrorCode.AUTHENTICATOR_DATA_TOO_SHORT,
                )
            value, used = decode_prefix(raw[pos:], field="authenticatorData extensions")
            if not isinstance(value, dict):
                raise InvalidCbor("authenticatorData extensions must be a CBOR map")
            extensions = value
            pos += used
        if pos != len(raw):
            raise InvalidWebAuthnData(
                f"authenticatorData: {len(raw) - pos} unexpected bytes after the last field"
            )
        self.rp_id_hash = raw[:32]
        self.flags = flags
        self.counter = int.from_bytes(raw[33:37], "big")
        self.attested_credential = attested
        self.extensions = extensions
        return self

    @property
    def user_present(self) -> bool:
        """UP flag."""
        return bool(self.flags & AuthenticatorFlags.UP)

    @property
    def user_verified(self) -> bool:
        """UV flag."""
        return bool(self.flags & AuthenticatorFlags.UV)

    @property
    def backup_eligible(self) -> bool:
        """BE flag."""
        return bool(self.flags & AuthenticatorFlags.BE)

    @property
    def backup_state(self) -> bool:
        """BS flag."""
        return bool(self.flags & AuthenticatorFlags.BS)

    def matches_rp_id(self, rp_id: str) -> bool:
        """Tell whether rp_id_hash is sha256 of ``rp_id``."""
        return self.rp_id_hash == hashlib.sha256(rp_id.encode("utf-8")).digest()

    @classmethod
    def create(
        cls,
        *,
        rp_id: str,
        flags: AuthenticatorFlags,
        counter: int = 0,
        attested_credential: AttestedCredentialData | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> AuthenticatorData:
        """Build canonical authenticatorData; AT and ED follow from the optional parts.

        Args:
            rp_id: The relying party id; its sha256 becomes rpIdHash.
            flags: UP/UV/BE/BS as wanted (AT and ED are set or cleared to match the content).
            counter: The signature counter, 0..2**32-1.
            attested_credential: Credential data for a registration, or None.
            extensions: Extension outputs (encoded as canonical CBOR), or None.

        Returns:
            The authenticatorData.

        Raises:
            InvalidWebAuthnData: If the counter does not fit in 32 bits.
        """
        if not 0 <= counter < 1 << 32:
            raise InvalidWebAuthnData(f"counter {counter} does not fit in 32 bits")
        if attested_credential is None and extensions is None and type(flags) is AuthenticatorFlags:
            # The 37-byte assertion form: built and described directly, with the values a parse of these
            # bytes would give (tests/webauthn/test_fast_paths.py), instead of parsing what was just built.
            flags = _WITHOUT_AT_ED[flags]
            rp_hash = _rp_id_hash(rp_id)
            self = bytes.__new__(cls, rp_hash + _FLAG_BYTES[flags] + counter.to_bytes(4, "big"))
            self.rp_id_hash = rp_hash
            self.flags = flags
            self.counter = counter
            self.attested_credential = None
            self.extensions = None
            return self
        flags = AuthenticatorFlags(flags) & ~(AuthenticatorFlags.AT | AuthenticatorFlags.ED)
        body = b""
        if attested_credential is not None:
            flags |= AuthenticatorFlags.AT
            body += attested_credential.to_bytes()
        if extensions is not None:
            flags |= AuthenticatorFlags.ED
            body += encode(dict(extensions))
        rp_hash = _rp_id_hash(rp_id)
        return cls(rp_hash + bytes([int(flags)]) + counter.to_bytes(4, "big") + body)

    def __repr__(self) -> str:
        return f"AuthenticatorData({bytes(self).hex()!r}, flags={self.flags!r}, counter={self.counter})"


# Each flag byte, and its flags with AT (0x40) and ED (0x80) cleared: IntFlag arithmetic is slow.
_WITHOUT_AT_ED = tuple(AuthenticatorFlags(value & 0x3F) for value in range(256))
_FLAG_BYTES = tuple(bytes([value]) for value in range(256))


@functools.lru_cache(maxsize=64)
def _rp_id_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode("utf-8")).digest()
