"""Authentication (``navigator.credentials.get()``) assertions verified against a stored passkey."""

from __future__ import annotations

from collections.abc import Sequence

import webauthn
from webauthn.helpers.exceptions import WebAuthnException

from sso_signer.exceptions import AssertionRejected, ErrorCode, InvalidWebAuthnData
from sso_signer.webauthn._assertion import Assertion
from sso_signer.webauthn._checks import check_ceremony
from sso_signer.webauthn._credential import PasskeyCredential

__all__ = ["verify_assertion"]


def verify_assertion(
    assertion: Assertion,
    credential: PasskeyCredential,
    *,
    expected_challenge: bytes,
    rp_id: str,
    origins: Sequence[str],
    require_registered_origin: bool = True,
    cross_check: bool = False,
) -> int:
    """Verify an assertion against a stored passkey (nothing is stored here).

    Args:
        assertion: The parsed assertion.
        credential: The stored passkey it claims to come from.
        expected_challenge: The challenge (for SSO signing: the 32-byte transaction hash).
        rp_id: The relying party id.
        origins: Allowed origins.
        require_registered_origin: Also require the origin the passkey was registered with; the SSO validator
            looks keys up by that exact string, so another origin could never verify on-chain.
        cross_check: Also run py_webauthn's ``verify_authentication_response`` as a second, independent
            verifier (any disagreement is an AssertionRejected (``SIGNATURE_INVALID``)). Off by default: every
            check it makes is made here first (tests/webauthn/test_differential.py compares the verdicts over
            mutated assertions), and it doubles the cost (benchmarks/rp_verification.py). Checked here only:
            BE equals the registered BE, ``crossOrigin`` is not true, the userHandle and (by default) the
            origin are the credential's.

    Returns:
        The new signature counter.

    Raises:
        InvalidWebAuthnData (``CREDENTIAL_ID_MISMATCH``): The assertion is from another credential.
        AssertionRejected: A relying-party check failed; the rule names it (``CLIENT_DATA_TYPE``,
            ``CHALLENGE_MISMATCH``, ``ORIGIN_MISMATCH``, ``CROSS_ORIGIN``, ``RP_ID_MISMATCH``,
            ``USER_PRESENCE_MISSING``, ``USER_VERIFICATION_MISSING``).
        AssertionRejected (``USER_HANDLE_MISMATCH``): The assertion names another user than the credential's.
        AssertionRejected (``BACKUP_FLAGS_INVALID``): BS is set without BE, or BE differs from the registered
            credential's.
        InvalidWebAuthnData (``INVALID_CLIENT_DATA``): ``tokenBinding`` is an object without a known
            ``status``.
        AssertionRejected (``COUNTER_REGRESSION``): The counter did not increase (possible cloned
            authenticator).
        AssertionRejected (``SIGNATURE_INVALID``): The signature does not verify against the stored key.
    """
    if assertion.credential_id != credential.credential_id:
        raise InvalidWebAuthnData(
            "the assertion is from a different credential", rule=ErrorCode.CREDENTIAL_ID_MISMATCH
        )
    check_ceremony(assertion, "webauthn.get", expected_challenge, rp_id, origins)
    if assertion.authenticator_data.backup_eligible != credential.backup_eligible:
        # BE is fixed when the credential is made: a change means another authenticator answers.
        raise AssertionRejected(
            f"authenticatorData BE={int(assertion.authenticator_data.backup_eligible)} differs from the "
            f"registered BE={int(credential.backup_eligible)}",
            rule=ErrorCode.BACKUP_FLAGS_INVALID,
        )
    if require_registered_origin and assertion.client_data.origin != credential.origin:
        raise AssertionRejected(
            f"origin {assertion.client_data.origin!r} differs from the registered {credential.origin!r}",
            rule=ErrorCode.ORIGIN_MISMATCH,
        )
    if (
        assertion.user_handle is not None
        and credential.user_handle
        and assertion.user_handle != credential.user_handle
    ):
        raise AssertionRejected(
            "the assertion's userHandle is not the credential's user", rule=ErrorCode.USER_HANDLE_MISMATCH
        )
    if not credential.public_key.verify(assertion.ecdsa_signature, assertion.signed_message):
        raise AssertionRejected(
            "the assertion signature does not verify against the stored public key",
            rule=ErrorCode.SIGNATURE_INVALID,
        )
    new_count = assertion.authenticator_data.counter
    # Synced passkeys keep 0 forever; only a counter that has moved can regress.
    if (new_count or credential.sign_count) and new_count <= credential.sign_count:
        raise AssertionRejected(
            f"signature counter went from {credential.sign_count} to {new_count}",
            rule=ErrorCode.COUNTER_REGRESSION,
        )
    if not cross_check:
        return new_count
    try:
        webauthn.verify_authentication_response(
            credential=assertion.to_json(),
            expected_challenge=expected_challenge,
            expected_rp_id=rp_id,
            expected_origin=list(origins),
            credential_public_key=credential.cose_key,
            credential_current_sign_count=credential.sign_count,
            require_user_verification=True,
        )
    except WebAuthnException as exc:
        # A second, independent verifier: any disagreement is treated as a bad signature.
        raise AssertionRejected(
            f"py_webauthn rejected the assertion: {exc}", rule=ErrorCode.SIGNATURE_INVALID
        ) from exc
    return new_count
