"""Checks shared by both ceremonies, each raising the error class that names it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sso_signer.webauthn._authenticator_data import AuthenticatorData
from sso_signer.webauthn._client_data import CollectedClientData
from sso_signer.webauthn._errors import (
    BackupFlagsInvalid,
    ChallengeMismatch,
    ClientDataTypeMismatch,
    CrossOriginNotAllowed,
    InvalidClientData,
    OriginMismatch,
    RpIdMismatch,
    UserPresenceMissing,
    UserVerificationMissing,
)

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
        ClientDataTypeMismatch, ChallengeMismatch, OriginMismatch, CrossOriginNotAllowed, RpIdMismatch,
        UserPresenceMissing, UserVerificationMissing: The first check that fails.
        InvalidClientData: ``tokenBinding`` is an object without a known ``status``.
        BackupFlagsInvalid: BS (backed up) is set without BE (backup eligible).
    """
    client_data, authenticator_data = response.client_data, response.authenticator_data
    if client_data.type != ceremony_type:
        raise ClientDataTypeMismatch(
            f"clientDataJSON.type is {client_data.type!r}, expected {ceremony_type!r}"
        )
    if client_data.challenge != expected_challenge:
        raise ChallengeMismatch("clientDataJSON.challenge is not the expected challenge")
    if client_data.origin not in origins:
        raise OriginMismatch(f"clientDataJSON.origin {client_data.origin!r} is not among {list(origins)!r}")
    if client_data.cross_origin is True:
        # The SSO validator rejects crossOrigin values other than false; refuse early, not on-chain.
        raise CrossOriginNotAllowed("clientDataJSON.crossOrigin is true")
    if not authenticator_data.matches_rp_id(rp_id):
        raise RpIdMismatch(f"authenticatorData.rpIdHash is not sha256({rp_id!r})")
    if not authenticator_data.user_present:
        raise UserPresenceMissing("authenticatorData flags lack UP (user present)")
    if not authenticator_data.user_verified:
        raise UserVerificationMissing(
            "authenticatorData flags lack UV (user verified); the SSO validator needs it"
        )
    if authenticator_data.backup_state and not authenticator_data.backup_eligible:
        # WebAuthn Level 3 (and py_webauthn): BS=1 requires BE=1.
        raise BackupFlagsInvalid("authenticatorData sets BS (backed up) without BE (backup eligible)")
    token_binding = client_data.data.get("tokenBinding")
    # As py_webauthn (and WebAuthn Level 2): a tokenBinding object must say "present" or "supported".
    if isinstance(token_binding, dict) and token_binding.get("status") not in ("present", "supported"):
        raise InvalidClientData("clientDataJSON.tokenBinding.status must be 'present' or 'supported'")
