"""Registration (``navigator.credentials.create()``) responses: strict parsing and verification."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import webauthn
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException

from sso_signer.webauthn._authenticator_data import MAX_CREDENTIAL_ID, AuthenticatorData
from sso_signer.webauthn._cbor import decode_strict
from sso_signer.webauthn._checks import check_ceremony
from sso_signer.webauthn._client_data import CollectedClientData
from sso_signer.webauthn._credential import PasskeyCredential
from sso_signer.webauthn._errors import (
    AttestationInvalid,
    CredentialIdMismatch,
    FieldTooLarge,
    InvalidAttestationObject,
    InvalidCredentialJson,
)
from sso_signer.webauthn._json import as_mapping, b64_member, b64_optional, check_type

__all__ = ["RegistrationResponse", "verify_registration_response"]

_MAX_TRANSPORTS = 8
_MAX_TRANSPORT_LEN = 32


@dataclass(frozen=True, slots=True)
class RegistrationResponse:
    """A parsed RegistrationResponseJSON.

    Attributes:
        credential_id: The raw credential id (equal to the one inside authenticatorData).
        client_data: The clientDataJSON.
        attestation_object: The raw attestationObject bytes.
        fmt: The attestation format.
        authenticator_data: The authenticatorData with the attested credential.
        transports: Transport hints.
        json: The response as received, for py_webauthn.
    """

    credential_id: bytes
    client_data: CollectedClientData
    attestation_object: bytes
    fmt: str
    authenticator_data: AuthenticatorData
    transports: tuple[str, ...]
    json: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | bytes) -> RegistrationResponse:
        """Parse a browser registration response.

        Raises:
            InvalidCredentialJson: Missing or mistyped members.
            InvalidCredentialType: ``type`` is not ``public-key``.
            CredentialIdMismatch: id, rawId and the attested credential id disagree.
            InvalidEncoding: A member is not base64url.
            InvalidAttestationObject: The attestationObject map is malformed.
            InvalidCbor: The attestationObject or a CBOR part is truncated, trailing or malformed.
            InvalidAuthenticatorData: authenticatorData lacks attested credential data or is malformed.
            UnsupportedAlgorithm: The credential key is not ES256 / P-256.
            PointNotOnCurve: The credential key is off the curve.
            FieldTooLarge: A field exceeds its limit.
        """
        obj = as_mapping(data, what="registration")
        check_type(obj, what="registration")
        cred_id = b64_member(obj, "id", what="registration")
        if len(cred_id) > MAX_CREDENTIAL_ID:
            raise FieldTooLarge(f"credential id is {len(cred_id)} bytes; WebAuthn allows {MAX_CREDENTIAL_ID}")
        raw_id = b64_optional(obj, "rawId", what="registration")
        if raw_id is not None and raw_id != cred_id:
            raise CredentialIdMismatch("registration id and rawId differ")
        response = obj.get("response")
        if not isinstance(response, Mapping):
            raise InvalidCredentialJson("registration.response must be an object")
        client_data = CollectedClientData(
            b64_member(response, "clientDataJSON", what="registration.response")
        )
        att_bytes = b64_member(response, "attestationObject", what="registration.response")
        att = decode_strict(att_bytes, field="attestationObject")
        if not isinstance(att, dict):
            raise InvalidAttestationObject("attestationObject must be a CBOR map")
        fmt, statement, auth_raw = att.get("fmt"), att.get("attStmt"), att.get("authData")
        if not isinstance(fmt, str) or not isinstance(statement, dict) or not isinstance(auth_raw, bytes):
            raise InvalidAttestationObject(
                "attestationObject needs fmt (text), attStmt (map), authData (bytes)"
            )
        auth = AuthenticatorData(auth_raw)
        attested = auth.attested_credential
        if attested is None:
            raise InvalidAttestationObject("authenticatorData of a registration must carry a credential (AT)")
        if attested.credential_id != cred_id:
            raise CredentialIdMismatch("the credential id in authenticatorData differs from rawId")
        attested.public_key  # noqa: B018 - parse now: UnsupportedAlgorithm / PointNotOnCurve before anything else
        transports = response.get("transports", [])
        if not isinstance(transports, list) or not all(isinstance(t, str) for t in transports):
            raise InvalidCredentialJson("registration.response.transports must be a list of strings")
        if len(transports) > _MAX_TRANSPORTS or any(len(t) > _MAX_TRANSPORT_LEN for t in transports):
            raise FieldTooLarge("registration.response.transports is too long")
        return cls(cred_id, client_data, att_bytes, fmt, auth, tuple(transports), obj)


def verify_registration_response(
    response: RegistrationResponse | Mapping[str, Any] | str,
    *,
    expected_challenge: bytes,
    rp_id: str,
    origins: Sequence[str],
    user_handle: bytes = b"",
    user_name: str = "",
) -> PasskeyCredential:
    """Verify a registration response and return the passkey record (nothing is stored here).

    The checks follow what the SSO validator needs: user verification required, ES256/P-256 only, origin kept
    exactly as the browser reported it (the validator keys passkeys by that string).

    Args:
        response: The parsed response or the browser JSON.
        expected_challenge: The challenge issued for this registration.
        rp_id: The relying party id.
        origins: Allowed origins (web origins and ``android:apk-key-hash:...`` origins).
        user_handle: The user handle issued with the options.
        user_name: The user name issued with the options.

    Returns:
        The passkey record.

    Raises:
        ClientDataTypeMismatch, ChallengeMismatch, OriginMismatch, CrossOriginNotAllowed, RpIdMismatch,
        UserPresenceMissing, UserVerificationMissing: A relying-party check failed.
        AttestationInvalid: The attestation statement did not verify.
        InvalidInputError subclasses: As :meth:`RegistrationResponse.from_json`.
    """
    if not isinstance(response, RegistrationResponse):
        response = RegistrationResponse.from_json(response)
    check_ceremony(
        client_data=response.client_data,
        authenticator_data=response.authenticator_data,
        ceremony_type="webauthn.create",
        expected_challenge=expected_challenge,
        rp_id=rp_id,
        origins=origins,
    )
    try:
        verified = webauthn.verify_registration_response(
            credential=dict(response.json),
            expected_challenge=expected_challenge,
            expected_rp_id=rp_id,
            expected_origin=list(origins),
            require_user_verification=True,
            supported_pub_key_algs=[COSEAlgorithmIdentifier.ECDSA_SHA_256],
        )
    except WebAuthnException as exc:
        # Every field-level check already passed above: what py_webauthn still rejects is the attestation.
        raise AttestationInvalid(f"attestation ({response.fmt}) did not verify: {exc}") from exc
    attested = response.authenticator_data.attested_credential
    assert attested is not None  # from_json guarantees it
    if verified.credential_id != response.credential_id:
        raise CredentialIdMismatch("py_webauthn read a different credential id")
    return PasskeyCredential(
        credential_id=response.credential_id,
        public_key=attested.public_key,
        origin=response.client_data.origin,
        rp_id=rp_id,
        cose_key=attested.credential_public_key,
        sign_count=response.authenticator_data.counter,
        backup_eligible=response.authenticator_data.backup_eligible,
        backup_state=response.authenticator_data.backup_state,
        transports=response.transports,
        aaguid=attested.aaguid,
        user_handle=user_handle,
        user_name=user_name,
    )
