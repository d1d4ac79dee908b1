"""Concrete errors of the passkey room, each named after the check that failed.

They derive from the categories of :mod:`sso_signer._errors`: malformed bytes are ``InvalidInputError``,
well-formed input that fails a check is ``VerificationError``, conflicts with stored state are ``StateError``.
"""

from __future__ import annotations

from sso_signer._codec import InvalidEncoding
from sso_signer._errors import ConfigurationError, InvalidInputError, StateError, VerificationError

__all__ = [
    "AmbiguousRecovery",
    "AttestationInvalid",
    "AttestationUntrusted",
    "AuthenticatorDataTooShort",
    "BackupFlagsInvalid",
    "ChallengeAlreadyIssued",
    "ChallengeAlreadyUsed",
    "ChallengeExpired",
    "ChallengeInvalid",
    "ChallengeLengthInvalid",
    "ChallengeMismatch",
    "ChallengePurposeMismatch",
    "ChallengeUnknown",
    "ClientDataNotJson",
    "ClientDataTypeMismatch",
    "CounterRegression",
    "CredentialIdMismatch",
    "CredentialNotAllowed",
    "CredentialNotFound",
    "CrossOriginNotAllowed",
    "DuplicateClientDataKey",
    "DuplicateCredential",
    "FieldTooLarge",
    "InvalidAttestationCertificate",
    "InvalidAttestationObject",
    "InvalidAuthenticatorData",
    "InvalidCbor",
    "InvalidClientData",
    "InvalidCoseKey",
    "InvalidCredentialJson",
    "InvalidCredentialType",
    "InvalidDerSignature",
    "InvalidEncoding",
    "InvalidKeyFile",
    "InvalidTrustRoot",
    "KeyFileExists",
    "NoCommonRecoveredKey",
    "NonCanonicalDer",
    "OriginMismatch",
    "PointNotOnCurve",
    "RecoveryFailed",
    "RpIdMismatch",
    "SignatureInvalid",
    "SignatureOutOfRange",
    "StoreConfigurationError",
    "StoreCorrupt",
    "StoreUnavailable",
    "TrailingCbor",
    "TruncatedCbor",
    "UnsupportedAlgorithm",
    "UserHandleMismatch",
    "UserPresenceMissing",
    "UserVerificationMissing",
    "WrongPassphrase",
]


# --- malformed input ------------------------------------------------------------------------------


class PointNotOnCurve(InvalidInputError):
    """The (x, y) coordinates are not a point of the P-256 curve."""


class SignatureOutOfRange(InvalidInputError):
    """An ECDSA signature component r or s is not in [1, n-1]."""


class InvalidDerSignature(InvalidInputError):
    """The signature is not a DER ``SEQUENCE { INTEGER r, INTEGER s }``."""


class NonCanonicalDer(InvalidDerSignature):
    """The DER signature parses but is not the unique minimal encoding (padding, long length, negative)."""


class InvalidCbor(InvalidInputError):
    """Bytes are not well-formed CBOR."""


class TruncatedCbor(InvalidCbor):
    """The CBOR item ends before its declared length."""


class TrailingCbor(InvalidCbor):
    """Bytes follow the CBOR item where none are allowed."""


class InvalidCoseKey(InvalidInputError):
    """A COSE_Key map lacks a required field or a field has the wrong type or length."""


class UnsupportedAlgorithm(InvalidCoseKey):
    """The key is not ES256 on P-256: the SSO validator only verifies P-256 (secp256r1) signatures."""


class InvalidAuthenticatorData(InvalidInputError):
    """authenticatorData is malformed (bad lengths, flags that contradict the content, trailing bytes)."""


class AuthenticatorDataTooShort(InvalidAuthenticatorData):
    """authenticatorData is shorter than its 37-byte fixed part or than a declared field."""


class InvalidClientData(InvalidInputError):
    """clientDataJSON lacks a required member or a member has the wrong type."""


class ClientDataNotJson(InvalidClientData):
    """clientDataJSON is not UTF-8 JSON text of an object, or it nests or counts digits beyond the bounds."""


class DuplicateClientDataKey(InvalidClientData):
    """clientDataJSON repeats a key; parsers disagree on which copy wins, so it is refused."""


class FieldTooLarge(InvalidInputError):
    """A field exceeds the SDK's size limit (credential id > 1023 bytes, clientDataJSON, ...)."""


class InvalidCredentialJson(InvalidInputError):
    """A PublicKeyCredential JSON is not JSON within bounds, lacks a member or a member has the wrong type."""


class InvalidCredentialType(InvalidCredentialJson):
    """The credential ``type`` is not ``"public-key"``."""


class CredentialIdMismatch(InvalidCredentialJson):
    """The credential's ``id`` and ``rawId`` name different credentials."""


class InvalidAttestationObject(InvalidInputError):
    """The attestationObject is not a CBOR map with ``fmt``, ``attStmt`` and ``authData``."""


class InvalidAttestationCertificate(InvalidInputError):
    """An attestation key or certificate chain is malformed (empty chain, not X.509, leaf of another key)."""


class InvalidTrustRoot(InvalidInputError):
    """A relying party's attestation trust root is not a PEM X.509 certificate, or a format has none."""


class ChallengeLengthInvalid(InvalidInputError):
    """A challenge has the wrong length (registration: >= 32 bytes; SSO signing: exactly 32, a tx hash)."""


class StoreCorrupt(InvalidInputError):
    """A stored row cannot be turned back into a credential, or the database file is damaged or not one."""


class InvalidKeyFile(InvalidInputError):
    """A passkey key file is not a PEM PKCS#8 P-256 key with sso-signer metadata (one bounded JSON object)."""


# --- verification ---------------------------------------------------------------------------------


class OriginMismatch(VerificationError):
    """clientDataJSON.origin is not one of the relying party's allowed origins."""


class RpIdMismatch(VerificationError):
    """authenticatorData.rpIdHash is not sha256 of the expected rpId."""


class ChallengeMismatch(VerificationError):
    """clientDataJSON.challenge is not the expected challenge."""


class ClientDataTypeMismatch(VerificationError):
    """clientDataJSON.type is not the ceremony's type (``webauthn.create`` or ``webauthn.get``)."""


class CrossOriginNotAllowed(VerificationError):
    """clientDataJSON.crossOrigin is true; the SSO validator rejects any value other than ``false``."""


class UserHandleMismatch(VerificationError):
    """The ceremony's user is not the expected one (session, challenge, credential), or no userHandle came."""


class UserPresenceMissing(VerificationError):
    """The authenticator did not set the UP (user present) flag."""


class UserVerificationMissing(VerificationError):
    """The authenticator did not set the UV (user verified) flag; the SSO validator requires it."""


class SignatureInvalid(VerificationError):
    """The assertion signature does not verify against the credential's public key."""


class AttestationInvalid(VerificationError):
    """The attestation statement does not verify."""


class AttestationUntrusted(VerificationError):
    """The attestation does not chain to the relying party's trust roots (or carries no certificate)."""


class CounterRegression(VerificationError):
    """The signature counter did not increase: the authenticator may have been cloned."""


class CredentialNotAllowed(VerificationError):
    """The credential may not answer this challenge: not in its allow-list, or not owned by its user."""


class BackupFlagsInvalid(VerificationError):
    """The backup flags are impossible (BS set without BE) or BE differs from the registered credential's."""


class WrongPassphrase(VerificationError):
    """The key file could not be decrypted with the given passphrase (or needs one and none was given)."""


class NoCommonRecoveredKey(VerificationError):
    """Public-key recovery over several assertions left no key common to all of them."""


class AmbiguousRecovery(VerificationError):
    """Several public keys fit the given signatures; give one more assertion over a different message."""


class RecoveryFailed(VerificationError):
    """No public key can be recovered from this signature (r is not the x of a curve point)."""


# --- state ----------------------------------------------------------------------------------------


class ChallengeInvalid(StateError):
    """Base of the challenge-state errors: unknown, expired or already used."""


class ChallengeUnknown(ChallengeInvalid):
    """The challenge was never issued by this relying party (or was purged)."""


class ChallengeExpired(ChallengeInvalid):
    """The challenge was issued but its lifetime has passed."""


class ChallengeAlreadyUsed(ChallengeInvalid):
    """The challenge was already consumed by an earlier ceremony; challenges are single-use."""


class ChallengePurposeMismatch(ChallengeInvalid):
    """The challenge was issued for the other ceremony (registration vs authentication)."""


class ChallengeAlreadyIssued(StateError):
    """The same challenge bytes are already stored; a challenge is issued once."""


class DuplicateCredential(StateError):
    """A credential with this id is already registered."""


class CredentialNotFound(StateError):
    """No stored credential has this id, or the user has no passkey to allow."""


class StoreUnavailable(StateError):
    """The passkey store could not carry out the operation (locked, I/O error, closed, server unreachable).

    Also: the connection to a server lost, serialization failures past the bounded retries.

    ``outcome_known`` is True when nothing was written (the usual case: retrying is safe). It is False only
    when the connection to a database server was lost while the commit was under way: the write may or may
    not have been committed, so read the state back before retrying (a consumed challenge then reads as
    ``ChallengeAlreadyUsed``).

    Args:
        message: What failed.
        outcome_known: Whether the store knows that nothing was written.
    """

    def __init__(self, message: str, *, outcome_known: bool = True) -> None:
        super().__init__(message)
        self.outcome_known = outcome_known

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only state survives pickling (errors cross process boundaries in worker pools).
        return (_store_unavailable, (self.args[0] if self.args else "", self.outcome_known))


def _store_unavailable(message: str, outcome_known: bool) -> StoreUnavailable:
    return StoreUnavailable(message, outcome_known=outcome_known)


class StoreConfigurationError(ConfigurationError):
    """A passkey store cannot be opened as configured (store URL, missing extra, newer schema).

    An unknown store URL, PostgreSQL asked for without the ``postgres`` extra (psycopg) installed, or a
    database whose schema is newer than this sso-signer's.
    """


class KeyFileExists(StateError):
    """The key file already exists and overwriting was not asked for."""
