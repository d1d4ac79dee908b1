"""An authentication assertion as returned by ``navigator.credentials.get()``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from sso_signer._codec import b64url_encode
from sso_signer.exceptions import ErrorCode, InvalidEncoding
from sso_signer.webauthn._authenticator_data import AuthenticatorData, check_credential_id
from sso_signer.webauthn._client_data import CollectedClientData
from sso_signer.webauthn._json import b64_member, b64_optional, read_credential, write_credential
from sso_signer.webauthn._p256 import EcdsaSignature

__all__ = ["MAX_USER_HANDLE", "Assertion"]

# WebAuthn: user.id is at most 64 bytes.
MAX_USER_HANDLE = 64


@dataclass(frozen=True, slots=True)
class Assertion:
    """A WebAuthn assertion: what the authenticator signed and the DER signature it produced.

    Args:
        credential_id: The raw credential id.
        authenticator_data: The authenticatorData (plain bytes are parsed).
        client_data: The clientDataJSON (plain bytes are parsed).
        signature: The DER signature exactly as sent (strictly parsed here, never normalised).
        user_handle: The user handle, or None.

    Raises:
        InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If the credential id is empty.
        InvalidEncoding (``FIELD_TOO_LARGE``): If the credential id or user handle is too long.
        InvalidWebAuthnData, MalformedSignature: If a part is malformed.
    """

    credential_id: bytes
    authenticator_data: AuthenticatorData
    client_data: CollectedClientData
    signature: bytes
    user_handle: bytes | None = None
    # Parsed once here: every signer reads (r, s) right after construction.
    _ecdsa: EcdsaSignature = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_credential_id(self.credential_id)
        if self.user_handle is not None and len(self.user_handle) > MAX_USER_HANDLE:
            raise InvalidEncoding(
                f"user handle is {len(self.user_handle)} bytes; the limit is {MAX_USER_HANDLE}",
                rule=ErrorCode.FIELD_TOO_LARGE,
            )
        if not isinstance(self.authenticator_data, AuthenticatorData):
            object.__setattr__(self, "authenticator_data", AuthenticatorData(self.authenticator_data))
        if not isinstance(self.client_data, CollectedClientData):
            object.__setattr__(self, "client_data", CollectedClientData(self.client_data))
        object.__setattr__(self, "signature", bytes(self.signature))
        # Fail now, not when a caller first reads it.
        object.__setattr__(self, "_ecdsa", EcdsaSignature.from_der(self.signature))

    @classmethod
    def _from_checked_parts(
        cls,
        credential_id: bytes,
        authenticator_data: AuthenticatorData,
        client_data: CollectedClientData,
        signature: bytes,
        user_handle: bytes | None,
    ) -> Assertion:
        # For an in-process authenticator whose parts are already checked: equal to the checked constructor.
        self = object.__new__(cls)
        set_ = object.__setattr__
        set_(self, "credential_id", credential_id)
        set_(self, "authenticator_data", authenticator_data)
        set_(self, "client_data", client_data)
        set_(self, "signature", signature)
        set_(self, "user_handle", user_handle)
        r, s = decode_dss_signature(signature)
        ecdsa = object.__new__(EcdsaSignature)  # OpenSSL's r and s are in [1, n-1]
        set_(ecdsa, "r", r)
        set_(ecdsa, "s", s)
        set_(self, "_ecdsa", ecdsa)
        return self

    @property
    def ecdsa_signature(self) -> EcdsaSignature:
        """The (r, s) parsed from DER, NOT normalised (s may be high)."""
        return self._ecdsa

    @property
    def signed_message(self) -> bytes:
        """``authenticatorData || sha256(clientDataJSON)``: the bytes the authenticator signed."""
        return bytes(self.authenticator_data) + hashlib.sha256(bytes(self.client_data)).digest()

    @property
    def message_hash(self) -> bytes:
        """sha256 of :attr:`signed_message`: the digest the P-256 precompile receives."""
        return hashlib.sha256(self.signed_message).digest()

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | bytes) -> Assertion:
        """Parse a browser ``PublicKeyCredential`` JSON (AuthenticationResponseJSON).

        Args:
            data: The object or its JSON text: ``id``, ``rawId``, ``type``, ``response`` with
                ``authenticatorData``, ``clientDataJSON``, ``signature``, ``userHandle`` (base64url).

        Returns:
            The assertion.

        Raises:
            InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If a member is missing or has the wrong type.
            InvalidWebAuthnData (``INVALID_CREDENTIAL_TYPE``): If ``type`` is not ``public-key``.
            InvalidWebAuthnData (``CREDENTIAL_ID_MISMATCH``): If ``id`` and ``rawId`` differ.
            InvalidEncoding: If a member is not base64url.
            InvalidEncoding (``FIELD_TOO_LARGE``), InvalidWebAuthnData, MalformedSignature: Malformed parts.
        """
        _, cred_id, response = read_credential(data, what="assertion")
        auth = b64_member(response, "authenticatorData", what="assertion.response")
        cdj = b64_member(response, "clientDataJSON", what="assertion.response")
        sig = b64_member(response, "signature", what="assertion.response")
        handle = b64_optional(response, "userHandle", what="assertion.response")
        return cls(cred_id, AuthenticatorData(auth), CollectedClientData(cdj), sig, handle or None)

    def to_json(self) -> dict[str, Any]:
        """Return the browser JSON form (base64url members), as py_webauthn and :meth:`from_json` read it."""
        response: dict[str, Any] = {
            "authenticatorData": b64url_encode(bytes(self.authenticator_data)),
            "clientDataJSON": b64url_encode(bytes(self.client_data)),
            "signature": b64url_encode(self.signature),
        }
        if self.user_handle is not None:
            response["userHandle"] = b64url_encode(self.user_handle)
        return write_credential(self.credential_id, response)
