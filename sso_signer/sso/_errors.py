"""Concrete errors of the ``sso`` room (signature blobs, owner encodings, ERC-7739, preflight, signer).

Encoding errors derive from :class:`~sso_signer._errors.InvalidInputError`. Preflight errors derive from
:class:`PreflightError` (a :class:`~sso_signer._errors.VerificationError`): one class per validator rule, each
with a stable :attr:`PreflightError.rule` id and, per raise, the on-chain :attr:`PreflightError.outcome`
(``"revert"`` or ``"return false"``) of the validator the check was run for.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from sso_signer._errors import ConfigurationError, InvalidInputError, StateError, VerificationError

__all__ = [
    "AccountMismatch",
    "AssertionProviderError",
    "BadCredentialIdLength",
    "BadDomainLength",
    "ChallengeFieldMissing",
    "ChallengeNotSignedHash",
    "ClientDataTypeNotGet",
    "ClientDataUnparsable",
    "CredentialMismatch",
    "CrossOriginRejected",
    "EmptyPublicKey",
    "FatSignatureUndecodable",
    "FlagsByteMissing",
    "HighSNotAccepted",
    "InvalidChallengeEncoding",
    "InvalidChallengeLength",
    "InvalidClientDataJson",
    "InvalidCustomSignature",
    "InvalidErc4337Signature",
    "InvalidFatSignature",
    "InvalidInitData",
    "InvalidSessionSpec",
    "InvalidSignatureComponent",
    "InvalidTypedData",
    "InvalidUniqueId",
    "MalformedAddress",
    "NoKeyForPreflight",
    "NonCanonicalCustomSignature",
    "NonCanonicalFatSignature",
    "Outcome",
    "P256VerificationFailed",
    "PasskeyNotRegistered",
    "PreflightError",
    "SignatureRsOutOfRange",
    "SsoEncodingError",
    "SsoSignerConfigError",
    "UnknownValidatorKind",
    "UserFlagsMissing",
]

Outcome = Literal["revert", "return false"]


# --- encodings -------------------------------------------------------------------------------------------


class SsoEncodingError(InvalidInputError):
    """A value given to, or a blob read by, the SSO encoders is malformed."""


class InvalidSignatureComponent(SsoEncodingError):
    """``r`` or ``s`` is not a 32-byte word (wrong byte length, negative, or ≥ 2**256)."""


class InvalidFatSignature(SsoEncodingError):
    """A blob does not decode as ``abi.encode(bytes, bytes, bytes32[2], bytes)``."""


class InvalidCustomSignature(SsoEncodingError):
    """A blob does not decode as the Era ``abi.encode(bytes fat, address validator, bytes[]|bytes)``."""


class InvalidErc4337Signature(SsoEncodingError):
    """A blob is not ``validator(20 bytes) ‖ fat signature``."""


class NonCanonicalFatSignature(InvalidFatSignature):
    """A fat signature decodes but is not the canonical ABI encoding (odd offsets, dirty padding, trailing
    bytes)."""


class NonCanonicalCustomSignature(InvalidCustomSignature):
    """A custom signature decodes but is not one of the two canonical encodings the SDKs emit."""


class InvalidClientDataJson(SsoEncodingError):
    """clientDataJSON bytes are not UTF-8 JSON holding an object."""


class InvalidChallengeEncoding(SsoEncodingError):
    """A WebAuthn challenge is not base64 / base64url text."""


class InvalidChallengeLength(SsoEncodingError):
    """A WebAuthn challenge does not decode to exactly 32 bytes (the signed hash)."""


class MalformedAddress(SsoEncodingError):
    """An address is not 20 bytes of 0x-hex (or fails its EIP-55 checksum)."""


class InvalidUniqueId(SsoEncodingError):
    """A ``deployProxySsoAccount`` uniqueId is not 32 bytes."""


class InvalidInitData(SsoEncodingError):
    """Validator init data does not decode as ``abi.encode(bytes, bytes32[2], string)``."""


class InvalidSessionSpec(SsoEncodingError):
    """A session spec value the session validator would refuse or mishandle (e.g. unlimited fees, an allowance
    period below 2 seconds, an out-of-range integer).

    Attributes:
        field: The offending field of the part being built (``"period"``, ``"fee_limit"``, ``"signer"``...).
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidTypedData(SsoEncodingError):
    """EIP-712 typed data is malformed (missing types, primaryType, domain or fields)."""


# The three checks of WebAuthValidator.addValidationKey that can be made before sending (sso-era.md §1.2).
class EmptyPublicKey(SsoEncodingError):
    """The passkey public key is (0, 0); the validator reverts ``WEBAUTHN_EMPTY_KEY``."""


class BadDomainLength(SsoEncodingError):
    """The origin is empty or longer than the validator allows (``WEBAUTHN_BAD_DOMAIN_LENGTH``)."""


class BadCredentialIdLength(SsoEncodingError):
    """The credential id is shorter than 16 bytes (``WEBAUTHN_BAD_CREDENTIAL_ID_LENGTH``)."""


# --- preflight -------------------------------------------------------------------------------------------


class PreflightError(VerificationError):
    """A passkey signature would fail one rule of the on-chain validator.

    Attributes:
        rule: Stable id of the failed rule (class attribute; see ``docs/signing.md``).
        outcome: What the validator does on-chain for this failure: ``"revert"`` or ``"return false"``.
        validator: Which rule set was applied: ``"era"`` (WebAuthValidator) or ``"erc4337"``
            (WebAuthnValidator).
    """

    rule: ClassVar[str] = "preflight"

    def __init__(self, message: str, *, outcome: Outcome, validator: str) -> None:
        super().__init__(f"[{validator}:{self.rule}, on-chain: {outcome}] {message}")
        self.outcome: Outcome = outcome
        self.validator = validator


class FatSignatureUndecodable(PreflightError):
    """The signature does not abi-decode as ``(bytes, string, bytes32[2], bytes)``."""

    rule = "abi_decode"


class SignatureRsOutOfRange(PreflightError):
    """``r`` or ``s`` is zero or above the curve order (Era: ``r <= n``, ``s != 0``)."""

    rule = "rs_range"


class HighSNotAccepted(PreflightError):
    """``s > n/2``: the validator only accepts low-s signatures (normalise ``s → n − s``)."""

    rule = "low_s"


class FlagsByteMissing(PreflightError):
    """authenticatorData has fewer than 33 bytes, so reading the flags byte panics."""

    rule = "auth_data_length"


class UserFlagsMissing(PreflightError):
    """The flags byte lacks UP (0x01) or UV (0x04)."""

    rule = "flags_up_uv"


class ClientDataUnparsable(PreflightError):
    """clientDataJSON does not parse as a JSON object."""

    rule = "client_data_json"


class ChallengeFieldMissing(PreflightError):
    """clientDataJSON has no ``challenge`` string."""

    rule = "challenge_present"


class ChallengeNotSignedHash(PreflightError):
    """The challenge does not decode to exactly the 32-byte signed hash."""

    rule = "challenge"


class ClientDataTypeNotGet(PreflightError):
    """clientDataJSON ``type`` is not ``"webauthn.get"``."""

    rule = "type"


class PasskeyNotRegistered(PreflightError):
    """No key is registered for (clientDataJSON ``origin``, credential id)."""

    rule = "key_lookup"


class CrossOriginRejected(PreflightError):
    """clientDataJSON ``crossOrigin`` is present and not ``false``."""

    rule = "cross_origin"


class P256VerificationFailed(PreflightError):
    """The P-256 signature does not verify over ``sha256(authenticatorData ‖ sha256(clientDataJSON))``."""

    rule = "p256"


class UnknownValidatorKind(InvalidInputError):
    """The preflight was asked for a validator other than ``"era"`` or ``"erc4337"``."""


class NoKeyForPreflight(InvalidInputError):
    """The key source handed to preflight is empty or not a mapping / credential."""


# --- signer ----------------------------------------------------------------------------------------------


class AccountMismatch(StateError):
    """A transaction or user operation names a sender other than the signer's account."""


class CredentialMismatch(VerificationError):
    """The assertion came back for a different credential than the signer's passkey."""


class AssertionProviderError(VerificationError):
    """The assertion provider returned something that is not an assertion (or failed)."""


class SsoSignerConfigError(ConfigurationError):
    """The signer was built with inconsistent settings (e.g. an async-only provider used synchronously)."""


# --- account lifecycle -----------------------------------------------------------------------------------


class RemovalWouldLockAccount(StateError):
    """Removing the passkey would leave the account with no passkey, owner or validator that can sign.

    Nothing was signed or sent. Add another passkey first, or pass ``force=True`` (CLI ``--force``) to lock
    the account for good.

    Attributes:
        account: The account.
        access: What would remain (a ``RemainingAccess``: ``other_passkeys``, ``owners``, ...).
    """

    def __init__(self, message: str, *, account: str, access: object) -> None:
        self.account = account
        self.access = access
        super().__init__(message)
