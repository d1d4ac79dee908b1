"""The passkey record a relying party keeps after registration."""

from __future__ import annotations

from dataclasses import dataclass

from sso_signer.exceptions import ErrorCode, InvalidKey, InvalidWebAuthnData
from sso_signer.webauthn._authenticator_data import check_credential_id
from sso_signer.webauthn._p256 import P256PublicKey

__all__ = ["MAX_SIGN_COUNT", "PasskeyCredential"]

#: The largest signature counter: authenticatorData holds it in 4 bytes.
MAX_SIGN_COUNT = 2**32 - 1


@dataclass(frozen=True, slots=True)
class PasskeyCredential:
    """A registered passkey: everything needed to verify its assertions and to install it on an SSO account.

    Args:
        credential_id: The raw credential id (the validator's key, with the origin).
        public_key: The P-256 key.
        origin: The origin exactly as clientDataJSON reported it at registration.
        rp_id: The relying party id.
        cose_key: The COSE_Key bytes as the authenticator encoded them.
        sign_count: The last seen signature counter.
        backup_eligible: BE flag at registration.
        backup_state: BS flag at registration (or last assertion).
        transports: Transport hints reported by the browser.
        aaguid: The 16-byte authenticator model id.
        user_handle: The user handle (WebAuthn user.id).
        user_name: The user name given at registration.

    Raises:
        InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If the credential id is empty, the AAGUID is not 16
            bytes or ``sign_count`` is not a uint32 (authenticatorData's 4 bytes).
        InvalidEncoding (``FIELD_TOO_LARGE``): If the credential id exceeds 1023 bytes.
        InvalidKey: If ``cose_key`` does not encode ``public_key``.
    """

    credential_id: bytes
    public_key: P256PublicKey
    origin: str
    rp_id: str
    cose_key: bytes
    sign_count: int = 0
    backup_eligible: bool = False
    backup_state: bool = False
    transports: tuple[str, ...] = ()
    aaguid: bytes = bytes(16)
    user_handle: bytes = b""
    user_name: str = ""

    def __post_init__(self) -> None:
        check_credential_id(self.credential_id)
        if len(self.aaguid) != 16:
            raise InvalidWebAuthnData(
                f"AAGUID must be 16 bytes, got {len(self.aaguid)}", rule=ErrorCode.INVALID_CREDENTIAL_JSON
            )
        if not 0 <= self.sign_count <= MAX_SIGN_COUNT:
            raise InvalidWebAuthnData(
                f"signature counter {self.sign_count} is not a 4-byte unsigned integer",
                rule=ErrorCode.INVALID_CREDENTIAL_JSON,
            )
        if P256PublicKey.from_cose(self.cose_key) != self.public_key:
            raise InvalidKey("cose_key does not encode public_key")
        object.__setattr__(self, "transports", tuple(self.transports))
