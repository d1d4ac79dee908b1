"""Registration (``navigator.credentials.create()``) responses: strict parsing and verification."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import webauthn
from cryptography import x509
from webauthn.helpers import validate_certificate_chain
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import InvalidCertificateChain, WebAuthnException
from webauthn.helpers.structs import AttestationFormat

from sso_signer.exceptions import (
    AssertionRejected,
    ErrorCode,
    InvalidEncoding,
    InvalidKey,
    InvalidWebAuthnData,
)
from sso_signer.webauthn._attestation import certificate_aaguid, load_trust_roots
from sso_signer.webauthn._authenticator_data import AuthenticatorData
from sso_signer.webauthn._cbor import decode_strict
from sso_signer.webauthn._checks import check_ceremony
from sso_signer.webauthn._client_data import CollectedClientData
from sso_signer.webauthn._credential import PasskeyCredential
from sso_signer.webauthn._json import b64_member, read_credential

__all__ = ["RegistrationResponse", "verify_registration_response"]

_MAX_TRANSPORTS = 8
_MAX_TRANSPORT_LEN = 32
_MAX_CERTIFICATES = 8
# Formats whose rules say the leaf's id-fido-gen-ce-aaguid extension, if present, names authData's AAGUID.
_AAGUID_CHECKED_FORMATS = frozenset({"packed", "tpm"})
_PY_WEBAUTHN_FORMATS = frozenset(f.value for f in AttestationFormat)


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
        certificates: The attestation statement's ``x5c`` (DER, leaf first); empty without one.
    """

    credential_id: bytes
    client_data: CollectedClientData
    attestation_object: bytes
    fmt: str
    authenticator_data: AuthenticatorData
    transports: tuple[str, ...]
    json: Mapping[str, Any]
    certificates: tuple[bytes, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | bytes) -> RegistrationResponse:
        """Parse a browser registration response.

        Raises:
            InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): Missing or mistyped members.
            InvalidWebAuthnData (``INVALID_CREDENTIAL_TYPE``): ``type`` is not ``public-key``.
            InvalidWebAuthnData (``CREDENTIAL_ID_MISMATCH``): id, rawId and the attested credential id
                disagree.
            InvalidEncoding: A member is not base64url.
            InvalidWebAuthnData (``INVALID_ATTESTATION_OBJECT``): The attestationObject map is malformed, or
                its ``fmt`` is not a known attestation statement format.
            InvalidCbor: The attestationObject or a CBOR part is truncated, trailing or malformed.
            InvalidWebAuthnData: authenticatorData lacks attested credential data or is malformed.
            InvalidKey (``UNSUPPORTED_ALGORITHM``): The credential key is not ES256 / P-256.
            InvalidKey (``POINT_NOT_ON_CURVE``): The credential key is off the curve.
            InvalidEncoding (``FIELD_TOO_LARGE``): A field exceeds its limit.
        """
        obj, cred_id, response = read_credential(data, what="registration")
        client_data = CollectedClientData(
            b64_member(response, "clientDataJSON", what="registration.response")
        )
        att_bytes = b64_member(response, "attestationObject", what="registration.response")
        att = decode_strict(att_bytes, field="attestationObject")
        if not isinstance(att, dict):
            raise InvalidWebAuthnData(
                "attestationObject must be a CBOR map", rule=ErrorCode.INVALID_ATTESTATION_OBJECT
            )
        fmt, statement, auth_raw = att.get("fmt"), att.get("attStmt"), att.get("authData")
        if not isinstance(fmt, str) or not isinstance(statement, dict) or not isinstance(auth_raw, bytes):
            raise InvalidWebAuthnData(
                "attestationObject needs fmt (text), attStmt (map), authData (bytes)",
                rule=ErrorCode.INVALID_ATTESTATION_OBJECT,
            )
        if fmt not in _PY_WEBAUTHN_FORMATS:
            # WebAuthn 7.1 step 21. Named shortened and escaped: the text is the sender's (a newline in it
            # would forge a log line).
            raise InvalidWebAuthnData(
                f"attestationObject fmt {fmt[:24]!r} is not a known attestation statement format",
                rule=ErrorCode.INVALID_ATTESTATION_OBJECT,
            )
        auth = AuthenticatorData(auth_raw)
        attested = auth.attested_credential
        if attested is None:
            raise InvalidWebAuthnData(
                "authenticatorData of a registration must carry a credential (AT)",
                rule=ErrorCode.INVALID_ATTESTATION_OBJECT,
            )
        if attested.credential_id != cred_id:
            raise InvalidWebAuthnData(
                "the credential id in authenticatorData differs from rawId",
                rule=ErrorCode.CREDENTIAL_ID_MISMATCH,
            )
        attested.public_key  # noqa: B018 - parse now: UnsupportedAlgorithm / PointNotOnCurve before anything else
        transports = response.get("transports", [])
        if not isinstance(transports, list) or not all(isinstance(t, str) for t in transports):
            raise InvalidWebAuthnData(
                "registration.response.transports must be a list of strings",
                rule=ErrorCode.INVALID_CREDENTIAL_JSON,
            )
        if len(transports) > _MAX_TRANSPORTS or any(len(t) > _MAX_TRANSPORT_LEN for t in transports):
            raise InvalidEncoding(
                "registration.response.transports is too long", rule=ErrorCode.FIELD_TOO_LARGE
            )
        x5c = statement.get("x5c", [])
        if (
            not isinstance(x5c, list)
            or ("x5c" in statement and not x5c)
            or len(x5c) > _MAX_CERTIFICATES
            or not all(isinstance(der, bytes) for der in x5c)
        ):
            raise InvalidWebAuthnData(
                f"attStmt.x5c must be a list of 1 to {_MAX_CERTIFICATES} DER certificates (byte strings)",
                rule=ErrorCode.INVALID_ATTESTATION_OBJECT,
            )
        return cls(cred_id, client_data, att_bytes, fmt, auth, tuple(transports), obj, tuple(x5c))


def verify_registration_response(
    response: RegistrationResponse | Mapping[str, Any] | str,
    *,
    expected_challenge: bytes,
    rp_id: str,
    origins: Sequence[str],
    user_handle: bytes = b"",
    user_name: str = "",
    attestation_roots: Mapping[str, Sequence[bytes]] | None = None,
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
        attestation_roots: Trust policy: attestation format to PEM root certificates. When given, only an
            attestation of a listed format whose certificate chain (``x5c``) leads to one of its roots is
            accepted (``none`` and self attestation are refused). None accepts any valid attestation.

    Returns:
        The passkey record.

    Raises:
        AssertionRejected: A relying-party check failed; the rule names it (``CLIENT_DATA_TYPE``,
            ``CHALLENGE_MISMATCH``, ``ORIGIN_MISMATCH``, ``CROSS_ORIGIN``, ``RP_ID_MISMATCH``,
            ``USER_PRESENCE_MISSING``, ``USER_VERIFICATION_MISSING``).
        AssertionRejected (``ATTESTATION_UNTRUSTED``): ``attestation_roots`` is given and the attestation does
            not chain to them.
        AssertionRejected (``ATTESTATION_INVALID``): The attestation statement did not verify (signature,
            certificate AAGUID).
        InvalidKey (``INVALID_TRUST_ROOT``): A root in ``attestation_roots`` is not a PEM X.509 certificate.
        InvalidInputError subclasses: As :meth:`RegistrationResponse.from_json`.
    """
    if not isinstance(response, RegistrationResponse):
        response = RegistrationResponse.from_json(response)
    check_ceremony(response, "webauthn.create", expected_challenge, rp_id, origins)
    roots = None if attestation_roots is None else _trusted_roots(response, attestation_roots)
    if response.certificates and response.fmt in _AAGUID_CHECKED_FORMATS:
        _check_certificate_aaguid(response)
    try:
        verified = webauthn.verify_registration_response(
            credential=dict(response.json),
            expected_challenge=expected_challenge,
            expected_rp_id=rp_id,
            expected_origin=list(origins),
            require_user_verification=True,
            supported_pub_key_algs=[COSEAlgorithmIdentifier.ECDSA_SHA_256],
            pem_root_certs_bytes_by_fmt=None if roots is None else {AttestationFormat(response.fmt): roots},
        )
    except WebAuthnException as exc:
        # Every field-level check already passed above: what py_webauthn still rejects is the attestation.
        raise AssertionRejected(
            f"attestation ({response.fmt}) did not verify: {exc}", rule=ErrorCode.ATTESTATION_INVALID
        ) from exc
    attested = response.authenticator_data.attested_credential
    assert attested is not None  # from_json guarantees it
    if verified.credential_id != response.credential_id:
        raise InvalidWebAuthnData(
            "py_webauthn read a different credential id", rule=ErrorCode.CREDENTIAL_ID_MISMATCH
        )
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


def _trusted_roots(
    response: RegistrationResponse, attestation_roots: Mapping[str, Sequence[bytes]]
) -> list[bytes]:
    """The roots the response's chain leads to, checked here so that an untrusted chain has its own error."""
    roots = load_trust_roots(attestation_roots).get(response.fmt)
    trusted = ", ".join(sorted(attestation_roots)) or "none"
    if roots is None or response.fmt not in _PY_WEBAUTHN_FORMATS:
        raise AssertionRejected(
            f"attestation format {response.fmt!r} is not trusted by this relying party (trusted: {trusted})",
            rule=ErrorCode.ATTESTATION_UNTRUSTED,
        )
    if not response.certificates:
        raise AssertionRejected(
            f"the {response.fmt!r} attestation carries no certificate chain (self attestation); this relying "
            "party accepts only authenticators certified by its roots",
            rule=ErrorCode.ATTESTATION_UNTRUSTED,
        )
    try:
        validate_certificate_chain(x5c=list(response.certificates), pem_root_certs_bytes=list(roots))
    except InvalidCertificateChain as exc:
        raise AssertionRejected(
            f"the {response.fmt!r} attestation certificate chain does not lead to a trusted root: "
            f"{exc.__cause__ or exc}",
            rule=ErrorCode.ATTESTATION_UNTRUSTED,
        ) from exc
    return list(roots)


def _check_certificate_aaguid(response: RegistrationResponse) -> None:
    attested = response.authenticator_data.attested_credential
    assert attested is not None  # from_json guarantees it
    try:
        vouched = certificate_aaguid(x509.load_der_x509_certificate(response.certificates[0]))
    except (ValueError, InvalidKey) as exc:
        raise AssertionRejected(
            f"the {response.fmt!r} attestation certificate is malformed: {exc}",
            rule=ErrorCode.ATTESTATION_INVALID,
        ) from exc
    if vouched is not None and vouched != attested.aaguid:
        raise AssertionRejected(
            f"the attestation certificate vouches for AAGUID {vouched.hex()}, authenticatorData names "
            f"{attested.aaguid.hex()}",
            rule=ErrorCode.ATTESTATION_INVALID,
        )
