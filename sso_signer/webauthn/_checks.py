"""Checks shared by both ceremonies, each raising the error class that names it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sso_signer.exceptions import AssertionRejected, ErrorCode, InvalidWebAuthnData
from sso_signer.webauthn._authenticator_data import AuthenticatorData
from sso_signer.webauthn._client_data import CollectedClientData

__all__ = ["check_ceremony"]


class Response(Protocol):
    """What a ceremony's checks read: an Assertion or a RegistrationResponse."""

    @property
    def client_data(self) -> CollectedClientData: ...
    @property
    def authenticator_data(self) -> AuthenticatorData: ...


def check_ceremony(
    response: Response, ceremony_type: str, expected_challenge: bytes, rp_id: str, origins: Sequence[str]
) -> None:
    """Run the WebAuthn relying-party checks that need no key: type, challenge, origin, rpId, UP, UV, BE/BS.

    Raises:
        AssertionRejected: The first check that fails; the rule names it (``CLIENT_DATA_TYPE``,
            ``CHALLENGE_MISMATCH``, ``ORIGIN_MISMATCH``, ``CROSS_ORIGIN``, ``RP_ID_MISMATCH``,
            ``USER_PRESENCE_MISSING``, ``USER_VERIFICATION_MISSING``).
        InvalidWebAuthnData (``INVALID_CLIENT_DATA``): ``tokenBinding`` is an object without a known
            ``status``.
        AssertionRejected (``BACKUP_FLAGS_INVALID``): BS (backed up) is set without BE (backup eligible).
    """
    client_data, authenticator_data = response.client_data, response.authenticator_data
    if client_data.type != ceremony_type:
        raise AssertionRejected(
            f"clientDataJSON.type is {client_data.type!r}, expected {ceremony_type!r}",
            rule=ErrorCode.CLIENT_DATA_TYPE,
        )
    if client_data.challenge != expected_challenge:
        raise AssertionRejected(
            "clientDataJSON.challenge is not the expected challenge", rule=ErrorCode.CHALLENGE_MISMATCH
        )
    if client_data.origin not in origins:
        raise AssertionRejected(
            f"clientDataJSON.origin {client_data.origin!r} is not among {list(origins)!r}",
            rule=ErrorCode.ORIGIN_MISMATCH,
        )
    if client_data.cross_origin is True:
        # The SSO validator rejects crossOrigin values other than false; refuse early, not on-chain.
        raise AssertionRejected("clientDataJSON.crossOrigin is true", rule=ErrorCode.CROSS_ORIGIN)
    if not authenticator_data.matches_rp_id(rp_id):
        raise AssertionRejected(
            f"authenticatorData.rpIdHash is not sha256({rp_id!r})", rule=ErrorCode.RP_ID_MISMATCH
        )
    if not authenticator_data.user_present:
        raise AssertionRejected(
            "authenticatorData flags lack UP (user present)", rule=ErrorCode.USER_PRESENCE_MISSING
        )
    if not authenticator_data.user_verified:
        raise AssertionRejected(
            "authenticatorData flags lack UV (user verified); the SSO validator needs it",
            rule=ErrorCode.USER_VERIFICATION_MISSING,
        )
    if authenticator_data.backup_state and not authenticator_data.backup_eligible:
        # WebAuthn Level 3 (and py_webauthn): BS=1 requires BE=1.
        raise AssertionRejected(
            "authenticatorData sets BS (backed up) without BE (backup eligible)",
            rule=ErrorCode.BACKUP_FLAGS_INVALID,
        )
    token_binding = client_data.data.get("tokenBinding")
    # As py_webauthn (and WebAuthn Level 2): a tokenBinding object must say "present" or "supported".
    if isinstance(token_binding, dict) and token_binding.get("status") not in ("present", "supported"):
        raise InvalidWebAuthnData(
            "clientDataJSON.tokenBinding.status must be 'present' or 'supported'",
            rule=ErrorCode.INVALID_CLIENT_DATA,
        )
