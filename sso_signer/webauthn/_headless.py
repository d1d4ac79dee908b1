"""A software authenticator for scripts, tests and backends that hold their own passkey key."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import secrets
import threading
from collections.abc import Mapping
from typing import Any, Generic, Literal, TypeVar, overload

from cryptography.hazmat.primitives.asymmetric import ec

from sso_signer._codec import b64url_decode, b64url_encode
from sso_signer.exceptions import AlreadyExists, ErrorCode, InvalidEncoding, InvalidKey, InvalidWebAuthnData
from sso_signer.webauthn._assertion import MAX_USER_HANDLE, Assertion
from sso_signer.webauthn._attestation import AttestationCertificate
from sso_signer.webauthn._authenticator_data import (
    AttestedCredentialData,
    AuthenticatorData,
    AuthenticatorFlags,
)
from sso_signer.webauthn._cbor import encode
from sso_signer.webauthn._client_data import CollectedClientData
from sso_signer.webauthn._credential import PasskeyCredential
from sso_signer.webauthn._json import write_credential
from sso_signer.webauthn._keyfile import read_key_file, write_key_file
from sso_signer.webauthn._p256 import COSE_ALG_ES256, ECDSA_SHA256, P256PublicKey

__all__ = ["CounterMode", "HeadlessPasskey"]

CounterMode = Literal["fixed", "increment"]
AttestationFormat = Literal["none", "packed"]
T = TypeVar("T")

# The SSO validator requires credential ids of at least 16 bytes; 32 random bytes like most platforms.
_DEFAULT_ID_LENGTH = 32
_TRANSPORTS = ("hybrid", "internal")
# sign()'s and register()'s keyword arguments, in their order: origin, rp_id, UV, UP, crossOrigin, extras.
_Options = tuple[str | None, str | None, bool, bool, bool | None, Mapping[str, object] | None]
_FLAG_ORDER = (AuthenticatorFlags.UP, AuthenticatorFlags.UV, AuthenticatorFlags.BE, AuthenticatorFlags.BS)
# The flags of each (UP, UV, BE, BS), made once: IntFlag arithmetic is slow and an assertion needs one.
_FLAGS = {
    wanted: AuthenticatorFlags(sum(flag for on, flag in zip(wanted, _FLAG_ORDER, strict=True) if on))
    for wanted in itertools.product((False, True), repeat=4)
}


class _Field(Generic[T]):
    """A read-only attribute of a passkey: the field of the same name of its current record."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = {"counter": "sign_count"}.get(name, name)

    @overload
    def __get__(self, passkey: None, owner: type) -> _Field[T]: ...
    @overload
    def __get__(self, passkey: HeadlessPasskey, owner: type) -> T: ...
    def __get__(self, passkey: HeadlessPasskey | None, owner: type) -> Any:
        return self if passkey is None else getattr(passkey._record, self.name)


class HeadlessPasskey:
    """A P-256 passkey held in process memory that answers WebAuthn ceremonies like a platform authenticator.

    Create one with :meth:`generate` or :meth:`load`. The private key is never shown by ``repr`` or messages.

    Attributes:
        credential_id: The raw credential id.
        public_key: The P-256 public key.
        rp_id: The relying party id.
        origin: The default origin written into clientDataJSON.
        user_handle: WebAuthn user.id.
        counter: The current signature counter.
    """

    __slots__ = ("_counter_mode", "_key", "_lock", "_record")

    credential_id: _Field[bytes] = _Field()
    public_key: _Field[P256PublicKey] = _Field()
    rp_id: _Field[str] = _Field()
    origin: _Field[str] = _Field()
    user_handle: _Field[bytes] = _Field()
    counter: _Field[int] = _Field()

    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        *,
        credential_id: bytes,
        rp_id: str,
        origin: str,
        user_handle: bytes = b"",
        user_name: str = "",
        aaguid: bytes = bytes(16),
        backup_eligible: bool = True,
        backup_state: bool = True,
        counter_mode: CounterMode = "fixed",
        counter: int = 0,
    ) -> None:
        """Wrap an existing key; prefer :meth:`generate` or :meth:`load`.

        Raises:
            InvalidKey (``INVALID_KEY_FILE``): If the key is not a P-256 private key.
            InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If the credential id is empty, the AAGUID not
                16 bytes, the mode unknown or the counter not in [0, 2**32).
            InvalidEncoding (``FIELD_TOO_LARGE``): If the credential id is longer than 1023 bytes or the user
                handle than 64.
        """
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise InvalidKey("a headless passkey needs a P-256 private key", rule=ErrorCode.INVALID_KEY_FILE)
        if counter_mode not in ("fixed", "increment"):
            raise InvalidWebAuthnData(
                f"counter_mode must be 'fixed' or 'increment', got {counter_mode!r}",
                rule=ErrorCode.INVALID_CREDENTIAL_JSON,
            )
        if isinstance(counter, bool) or not isinstance(counter, int):
            raise InvalidWebAuthnData(
                f"counter must be an integer in [0, 2**32), got {counter!r:.40}",
                rule=ErrorCode.INVALID_CREDENTIAL_JSON,
            )
        if len(user_handle) > MAX_USER_HANDLE:
            raise InvalidEncoding(
                f"user handle is {len(user_handle)} bytes; the limit is {MAX_USER_HANDLE}",
                rule=ErrorCode.FIELD_TOO_LARGE,
            )
        public_key = P256PublicKey.from_cryptography(private_key)
        self._key = private_key
        self._counter_mode: CounterMode = counter_mode
        self._lock = threading.Lock()
        # The record a relying party would store; it checks the id, AAGUID and counter.
        self._record = PasskeyCredential(
            credential_id=bytes(credential_id),
            public_key=public_key,
            origin=origin,
            rp_id=rp_id,
            cose_key=public_key.to_cose(),
            sign_count=counter,
            backup_eligible=backup_eligible,
            backup_state=backup_state,
            transports=_TRANSPORTS,
            aaguid=bytes(aaguid),
            user_handle=bytes(user_handle),
            user_name=user_name,
        )

    @classmethod
    def generate(
        cls,
        *,
        rp_id: str,
        origin: str,
        user_handle: bytes | None = None,
        user_name: str = "",
        credential_id: bytes | None = None,
        aaguid: bytes = bytes(16),
        backup_eligible: bool = True,
        backup_state: bool = True,
        counter_mode: CounterMode = "fixed",
    ) -> HeadlessPasskey:
        """Create a passkey with a fresh P-256 key.

        Args:
            rp_id: The relying party id the passkey is scoped to (e.g. ``"localhost"``).
            origin: The origin written into clientDataJSON (e.g. ``"http://localhost:5173"``).
            user_handle: WebAuthn user.id; 32 random bytes if None.
            user_name: The user name.
            credential_id: The credential id; 32 random bytes if None.
            aaguid: 16-byte authenticator model id (zeros, like most software authenticators).
            backup_eligible: BE flag (synced passkeys set it).
            backup_state: BS flag.
            counter_mode: ``"fixed"`` keeps the counter at 0 like synced passkeys; ``"increment"`` counts up.

        Returns:
            The passkey.
        """
        return cls(
            ec.generate_private_key(ec.SECP256R1()),
            credential_id=credential_id
            if credential_id is not None
            else secrets.token_bytes(_DEFAULT_ID_LENGTH),
            rp_id=rp_id,
            origin=origin,
            user_handle=user_handle if user_handle is not None else secrets.token_bytes(32),
            user_name=user_name,
            aaguid=aaguid,
            backup_eligible=backup_eligible,
            backup_state=backup_state,
            counter_mode=counter_mode,
        )

    @property
    def credential(self) -> PasskeyCredential:
        """The record a relying party would store for this passkey."""
        return self._record

    def __repr__(self) -> str:
        key = self._record.public_key
        return (
            f"HeadlessPasskey(credential_id={b64url_encode(self.credential_id)!r}, rp_id={self.rp_id!r}, "
            f"origin={self.origin!r}, public_key=({key.x:#066x}, {key.y:#066x}))"
        )

    # -- ceremonies -----------------------------------------------------------------------------------------

    def _answer(
        self, kind: str, challenge: bytes, attested: AttestedCredentialData | None, options: _Options
    ) -> tuple[AuthenticatorData, CollectedClientData, bytes]:
        """authenticatorData, clientDataJSON and the message the authenticator signs, for either ceremony."""
        origin, rp_id, user_verified, user_present, cross_origin, extra_client_data = options
        record = self._record
        wanted = (user_present, user_verified, record.backup_eligible, record.backup_state)
        flags = _FLAGS[tuple(map(bool, wanted))]
        if attested is None and self._counter_mode == "increment":
            with self._lock:
                record = self._record = dataclasses.replace(
                    self._record, sign_count=self._record.sign_count + 1
                )
        auth_data = AuthenticatorData.create(
            rp_id=record.rp_id if rp_id is None else rp_id,
            flags=flags,
            counter=record.sign_count,
            attested_credential=attested,
        )
        client_data = CollectedClientData.create(
            type=kind,
            challenge=challenge,
            origin=record.origin if origin is None else origin,
            cross_origin=cross_origin,
            extra=extra_client_data,
        )
        return auth_data, client_data, bytes(auth_data) + hashlib.sha256(bytes(client_data)).digest()

    def sign(
        self,
        challenge: bytes,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool = True,
        user_present: bool = True,
        cross_origin: bool | None = False,
        extra_client_data: Mapping[str, object] | None = None,
    ) -> Assertion:
        """Answer ``navigator.credentials.get()`` for ``challenge``.

        Args:
            challenge: The challenge bytes (for SSO: the 32-byte transaction hash).
            origin: Origin to report; the passkey's own origin if None.
            rp_id: rpId whose hash goes into authenticatorData; the passkey's own if None.
            user_verified: Set UV.
            user_present: Set UP.
            cross_origin: ``crossOrigin`` value, or None to omit it (like Safari).
            extra_client_data: Extra clientDataJSON members, appended after the standard ones.

        Returns:
            The assertion, with a DER signature that is high-s about half the time.
        """
        options = (origin, rp_id, user_verified, user_present, cross_origin, extra_client_data)
        auth_data, client_data, signed = self._answer("webauthn.get", challenge, None, options)
        # Raw ECDSA output: s is high about half the time, as with real authenticators. Never normalise here.
        signature = self._key.sign(signed, ECDSA_SHA256)
        # Every part was checked when this passkey was made or just built by the typed builders, and OpenSSL
        # wrote the DER: the assertion skips its input checks (tests/webauthn/test_fast_paths.py).
        return Assertion._from_checked_parts(
            self.credential_id, auth_data, client_data, signature, self.user_handle or None
        )

    def register(
        self,
        challenge: bytes,
        *,
        attestation: AttestationFormat = "none",
        attestation_certificate: AttestationCertificate | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool = True,
        user_present: bool = True,
        cross_origin: bool | None = False,
        extra_client_data: Mapping[str, object] | None = None,
    ) -> dict[str, Any]:
        """Answer ``navigator.credentials.create()``: a RegistrationResponseJSON for this passkey.

        Args:
            challenge: The registration challenge bytes.
            attestation: ``"none"`` or ``"packed"``: self-attestation signed with the credential key, or
                full attestation when ``attestation_certificate`` is given.
            attestation_certificate: For ``"packed"``: sign with this attestation key and send its chain
                as ``x5c`` (see :class:`AttestationAuthority`).
            origin, rp_id, user_verified, user_present, cross_origin, extra_client_data: As for :meth:`sign`.

        Returns:
            The browser JSON form (base64url members) that relying parties and py_webauthn verify.

        Raises:
            InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If ``attestation`` is not ``none`` or
                ``packed``, or a certificate is given for ``none``.
            InvalidKey (``INVALID_ATTESTATION_CERTIFICATE``): If the certificate vouches for another AAGUID
                than this passkey's.
        """
        record = self._record
        if attestation not in ("none", "packed"):
            raise InvalidWebAuthnData(
                f"attestation must be 'none' or 'packed', got {attestation!r}",
                rule=ErrorCode.INVALID_CREDENTIAL_JSON,
            )
        if attestation_certificate is not None:
            if attestation != "packed":
                raise InvalidWebAuthnData(
                    "an attestation certificate needs attestation='packed'",
                    rule=ErrorCode.INVALID_CREDENTIAL_JSON,
                )
            vouched = attestation_certificate.aaguid
            if vouched is not None and vouched != record.aaguid:
                raise InvalidKey(
                    f"the certificate vouches for AAGUID {vouched.hex()}, the passkey {record.aaguid.hex()}",
                    rule=ErrorCode.INVALID_ATTESTATION_CERTIFICATE,
                )
        attested = AttestedCredentialData(record.aaguid, record.credential_id, record.cose_key)
        options = (origin, rp_id, user_verified, user_present, cross_origin, extra_client_data)
        auth_data, client_data, signed = self._answer("webauthn.create", challenge, attested, options)
        statement: dict[str, Any] = {}
        if attestation == "packed":
            signer = self._key if attestation_certificate is None else attestation_certificate.private_key
            statement = {"alg": COSE_ALG_ES256, "sig": signer.sign(signed, ECDSA_SHA256)}
            if attestation_certificate is not None:
                statement["x5c"] = list(attestation_certificate.chain)
        attestation_object = encode({"fmt": attestation, "attStmt": statement, "authData": bytes(auth_data)})
        response = {
            "clientDataJSON": b64url_encode(bytes(client_data)),
            "attestationObject": b64url_encode(attestation_object),
            "transports": list(_TRANSPORTS),
            "publicKeyAlgorithm": COSE_ALG_ES256,
            "authenticatorData": b64url_encode(bytes(auth_data)),
        }
        return write_credential(record.credential_id, response, authenticatorAttachment="platform")

    def register_from_options(self, options: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Answer registration options JSON (as a relying party sends them), like an authenticator would.

        The challenge is answered; ``user.id`` and ``user.name`` become this passkey's user (an
        authenticator stores them with a discoverable credential and returns the id as ``userHandle``); a
        credential listed in ``excludeCredentials`` is refused. rpId and origin stay the passkey's own: a
        relying party with another rpId rejects the answer (``RP_ID_MISMATCH``), as it would a browser's.

        Args:
            options: The PublicKeyCredentialCreationOptions JSON.
            **kwargs: Passed to :meth:`register` (attestation, origin, flags...).

        Returns:
            The registration response JSON.

        Raises:
            InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If ``options`` has no base64url ``challenge``
                or a malformed ``user``.
            InvalidEncoding: If a member is not base64url.
            AlreadyExists (``DUPLICATE_CREDENTIAL``): If this credential is in ``excludeCredentials``.
        """
        challenge = options.get("challenge")
        if not isinstance(challenge, str):
            raise InvalidWebAuthnData(
                "options.challenge must be a base64url string", rule=ErrorCode.INVALID_CREDENTIAL_JSON
            )
        for excluded in options.get("excludeCredentials") or ():
            excluded_id = excluded.get("id") if isinstance(excluded, Mapping) else None
            if isinstance(excluded_id, str) and b64url_decode(excluded_id) == self.credential_id:
                raise AlreadyExists(
                    "this passkey is in excludeCredentials: already registered",
                    rule=ErrorCode.DUPLICATE_CREDENTIAL,
                )
        user = options.get("user")
        if user is not None:
            if not isinstance(user, Mapping) or not isinstance(user.get("id"), str):
                raise InvalidWebAuthnData(
                    "options.user must be an object with a base64url id",
                    rule=ErrorCode.INVALID_CREDENTIAL_JSON,
                )
            handle = b64url_decode(user["id"], field="options.user.id")
            name = user.get("name")
            with self._lock:
                self._record = dataclasses.replace(
                    self._record,
                    user_handle=handle,
                    user_name=name if isinstance(name, str) else self._record.user_name,
                )
        return self.register(b64url_decode(challenge, field="options.challenge"), **kwargs)

    # -- persistence ----------------------------------------------------------------------------------------

    def save(
        self, path: str | os.PathLike[str], *, passphrase: bytes | str | None = None, overwrite: bool = False
    ) -> None:
        """Save key and metadata as a PKCS#8 PEM file with mode 0600.

        Args:
            path: Destination.
            passphrase: Encrypt the key with this passphrase.
            overwrite: Replace an existing file.

        Raises:
            AlreadyExists (``KEY_FILE_EXISTS``): If the file exists and ``overwrite`` is False.
            InvalidEncoding (``INVALID_ENCODING``): If the passphrase is empty or not Unicode text.
            InvalidEncoding (``FIELD_TOO_LARGE``): If the passphrase exceeds 1023 bytes (OpenSSL's limit).
            InvalidKey (``KEY_FILE_NOT_WRITABLE``): If the file cannot be written there (missing directory,
                no permission, disk full); nothing is left at ``path``.
        """
        record = self._record
        metadata = {
            "version": 1,
            "credential_id": b64url_encode(record.credential_id),
            "rp_id": record.rp_id,
            "origin": record.origin,
            "user_handle": b64url_encode(record.user_handle),
            "user_name": record.user_name,
            "aaguid": record.aaguid.hex(),
            "backup_eligible": record.backup_eligible,
            "backup_state": record.backup_state,
            "counter_mode": self._counter_mode,
            "counter": record.sign_count,
        }
        write_key_file(path, self._key, metadata, passphrase=passphrase, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, passphrase: bytes | str | None = None) -> HeadlessPasskey:
        """Load a passkey saved by :meth:`save`.

        Raises:
            InvalidKey (``INVALID_KEY_FILE``): If the file or its metadata is malformed.
            WrongPassphrase: If the passphrase is wrong or missing.
        """
        key, meta = read_key_file(path, passphrase=passphrase)
        try:
            return cls(
                key,
                credential_id=b64url_decode(meta["credential_id"], field="credential_id"),
                rp_id=str(meta["rp_id"]),
                origin=str(meta["origin"]),
                user_handle=b64url_decode(meta.get("user_handle", ""), field="user_handle"),
                user_name=str(meta.get("user_name", "")),
                aaguid=bytes.fromhex(meta.get("aaguid", "00" * 16)),
                backup_eligible=bool(meta.get("backup_eligible", True)),
                backup_state=bool(meta.get("backup_state", True)),
                counter_mode=meta.get("counter_mode", "fixed"),
                counter=int(meta.get("counter", 0)),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: a counter of 1e999
            raise InvalidKey(
                f"{path}: metadata is incomplete or malformed ({type(exc).__name__})",
                rule=ErrorCode.INVALID_KEY_FILE,
            ) from exc
