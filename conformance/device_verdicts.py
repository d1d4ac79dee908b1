# ruff: noqa: E501 - a table of long fixture names
"""The documented verdict of sso-signer for every real-authenticator fixture, and why.

The SDK's policy (what the SSO validators can use): ES256 keys on P-256 only, user verification required at
registration and at every assertion, base64url (never standard base64) in browser JSON, strict DER
signatures, attestation certificate chains validated at today's date. Each entry is
``fixture name -> (verdict, signature check, reason)``: the verdict is ``accepted`` or the typed error class,
the signature check is whether the SDK's ECDSA code accepts the assertion's signature on its own (None where
there is no P-256 assertion).
"""

from __future__ import annotations

__all__ = ["DEVICE_VERDICTS"]

_UV = "no UV flag: the SSO validators require UP and UV, so the SDK refuses at the relying-party check"
_RSA_SIG = "RS256 assertion: its signature is not DER ECDSA, refused when the assertion is parsed"
_TPM_B64 = "TPM (RS256) registration sent in standard base64 ('+', '/'); browsers send base64url"
_DATED = (
    "the attestation chain is validated at today's date; upstream pins an earlier clock (certificate expired)"
)

DEVICE_VERDICTS: dict[str, tuple[str, bool | None, str]] = {
    # py_webauthn: authentication responses
    "test_verify_authentication_response.py::test_verify_authentication_response_with_EC2_public_key": (
        "user_verification_missing",
        True,
        _UV + "; the ES256 signature verifies",
    ),
    "test_verify_authentication_response.py::test_verify_authentication_response_with_RSA_public_key": (
        "invalid_der_signature",
        None,
        _RSA_SIG,
    ),
    "test_verify_authentication_response.py::test_raises_exception_on_incorrect_public_key": (
        "unsupported_algorithm",
        None,
        "ES256 assertion checked against an RS256 key: the key is not P-256",
    ),
    "test_verify_authentication_response.py::test_raises_exception_on_uv_required_but_false": (
        "user_verification_missing",
        True,
        _UV,
    ),
    "test_verify_authentication_response.py::test_verify_authentication_response_with_OKP_public_key": (
        "invalid_der_signature",
        None,
        "EdDSA assertion: a 64-byte Ed25519 signature is not DER ECDSA",
    ),
    "test_verify_authentication_response.py::test_supports_multiple_expected_origins": (
        "accepted",
        True,
        "ES256 with UV, origin among the allowed ones",
    ),
    "test_verify_authentication_response.py::test_supports_already_parsed_credential": (
        "invalid_der_signature",
        None,
        _RSA_SIG,
    ),
    "test_verify_authentication_response.py::test_supports_dict_credential": (
        "invalid_der_signature",
        None,
        _RSA_SIG,
    ),
    "test_verify_authentication_response.py::test_raises_on_bad_authenticator_data": (
        "authenticator_data_too_short",
        None,
        "authenticatorData shorter than 37 bytes",
    ),
    "test_verify_authentication_response.py::test_raises_on_bad_client_data_json": (
        "client_data_not_json",
        None,
        "clientDataJSON is not JSON",
    ),
    "test_verify_authentication_response_pqc.py::test_verify_ml_dsa_44_response": (
        "invalid_der_signature",
        None,
        "ML-DSA-44 assertion: not an ECDSA signature",
    ),
    "test_verify_authentication_response_pqc.py::test_verify_ml_dsa_65_response": (
        "invalid_der_signature",
        None,
        "ML-DSA-65 assertion: not an ECDSA signature",
    ),
    "test_verify_authentication_response_pqc.py::test_verify_ml_dsa_87_response": (
        "invalid_der_signature",
        None,
        "ML-DSA-87 assertion: not an ECDSA signature",
    ),
    # py_webauthn: registration responses
    "test_verify_registration_response.py::test_verifies_none_attestation_response": (
        "accepted",
        None,
        "ES256, UV, attestation none",
    ),
    "test_verify_registration_response.py::test_verifies_response_optional_user_presence": (
        "accepted",
        None,
        "ES256 with UP and UV set (the upstream test relaxes UP; the SDK needs it and has it)",
    ),
    "test_verify_registration_response.py::test_supports_multiple_expected_origins": (
        "accepted",
        None,
        "ES256, UV, origin among the allowed ones",
    ),
    "test_verify_registration_response.py::test_raises_when_root_cert_invalid_for_response": (
        "attestation_untrusted",
        None,
        "packed, ES256, UV: upstream pins an unrelated root (GlobalSign) for 'packed'; given the same pin as attestation_roots, the SDK refuses the Yubico chain too",
    ),
    "test_verify_registration_response.py::test_verifies_registration_over_cable": (
        "accepted",
        None,
        "ES256 over caBLE (hybrid), UV",
    ),
    "test_verify_registration_response.py::test_supports_already_parsed_credential": (
        "accepted",
        None,
        "ES256, UV",
    ),
    "test_verify_registration_response.py::test_supports_dict_credential": ("accepted", None, "ES256, UV"),
    "test_verify_registration_response.py::test_raises_useful_error_on_bad_client_data_json": (
        "client_data_not_json",
        None,
        "clientDataJSON is not JSON",
    ),
    "test_verify_registration_response.py::test_raises_on_bad_attestationObject": (
        "invalid_encoding",
        None,
        "attestationObject is not canonical base64url",
    ),
    "test_verify_registration_response.py::test_raises_on_bad_client_data_json": (
        "client_data_not_json",
        None,
        "clientDataJSON is not JSON",
    ),
    "test_verify_registration_response_android_key.py::test_verify_attestation_android_key_hardware_authority": (
        "attestation_invalid",
        None,
        _DATED,
    ),
    "test_verify_registration_response_android_key.py::test_verify_attestation_android_key_root_5": (
        "attestation_invalid",
        None,
        _DATED,
    ),
    "test_verify_registration_response_apple.py::test_verify_attestation_apple_passkey": (
        "attestation_invalid",
        None,
        _DATED,
    ),
    "test_verify_registration_response_fido_u2f.py::test_verify_attestation_from_yubikey_firefox": (
        "user_verification_missing",
        None,
        "U2F authenticator: never sets UV",
    ),
    "test_verify_registration_response_fido_u2f.py::test_verify_attestation_from_fido_conformance": (
        "user_verification_missing",
        None,
        "U2F authenticator: never sets UV",
    ),
    "test_verify_registration_response_fido_u2f.py::test_verify_attestation_with_unsupported_token_binding_status": (
        "user_verification_missing",
        None,
        "U2F, no UV (checked before the token binding status)",
    ),
    "test_verify_registration_response_fido_u2f.py::test_verify_attestation_with_unsupported_token_binding": (
        "user_verification_missing",
        None,
        "U2F authenticator: never sets UV",
    ),
    "test_verify_registration_response_packed.py::test_verify_attestation_from_yubikey_firefox": (
        "accepted",
        None,
        "YubiKey, packed attestation, ES256, UV",
    ),
    "test_verify_registration_response_packed.py::test_verify_attestation_with_okp_public_key": (
        "unsupported_algorithm",
        None,
        "EdDSA (OKP) credential key",
    ),
    "test_verify_registration_response_pqc.py::test_verify_pqc_ml_dsa_44_packed_response": (
        "unsupported_algorithm",
        None,
        "ML-DSA-44 credential key",
    ),
    "test_verify_registration_response_pqc.py::test_verify_pqc_ml_dsa_65_packed_response": (
        "unsupported_algorithm",
        None,
        "ML-DSA-65 credential key",
    ),
    "test_verify_registration_response_pqc.py::test_verify_pqc_ml_dsa_87_packed_response": (
        "unsupported_algorithm",
        None,
        "ML-DSA-87 credential key",
    ),
    "test_verify_registration_response_tpm.py::test_verify_attestation_surface_pro_4": (
        "invalid_encoding",
        None,
        _TPM_B64,
    ),
    "test_verify_registration_response_tpm.py::test_verify_attestation_dell_xps_13": (
        "invalid_encoding",
        None,
        _TPM_B64,
    ),
    "test_verify_registration_response_tpm.py::test_verify_attestation_lenovo_carbon_x1": (
        "invalid_encoding",
        None,
        _TPM_B64,
    ),
    "test_verify_registration_response_tpm.py::test_verify_tpm_with_ecc_public_area_type": (
        "accepted",
        None,
        "TPM attestation of an ES256 key, UV",
    ),
    # python-fido2: COSE keys with a real signature over authData || clientDataHash
    "test_cose.py::test_ES256_parse_verify": ("accepted", None, "ES256 key, DER signature verifies"),
    "test_cose.py::test_ESP256_parse_verify": (
        "unsupported_algorithm",
        None,
        "ESP256 (-9): only ES256 (-7) is what the SSO validators register",
    ),
    "test_cose.py::test_RS256_parse_verify": ("unsupported_algorithm", None, "RS256 key"),
    "test_cose.py::test_EdDSA_parse_verify": ("unsupported_algorithm", None, "EdDSA key"),
    "test_cose.py::test_Ed25519_parse_verify": ("unsupported_algorithm", None, "Ed25519 key"),
    # python-fido2: authenticatorData with an attested credential
    "test_attestation.py::test_none_attestation": ("accepted", None, "ES256 attested key"),
    "test_attestation.py::test_none_windows_hello_attestation": (
        "unsupported_algorithm",
        None,
        "Windows Hello RS256 attested key",
    ),
    "test_attestation.py::test_tpm_windows_hello_attestation": (
        "unsupported_algorithm",
        None,
        "Windows Hello TPM RS256 attested key",
    ),
    "test_attestation.py::test_fido_u2f_attestation": ("accepted", None, "ES256 attested key"),
    "test_attestation.py::test_packed_attestation": ("accepted", None, "ES256 attested key"),
    "test_attestation.py::test_android_safetynet_attestation": ("accepted", None, "ES256 attested key"),
    "test_attestation.py::test_apple_attestation": ("accepted", None, "ES256 attested key"),
}
