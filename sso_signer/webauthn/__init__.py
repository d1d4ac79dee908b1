"""The passkey room: P-256 keys and signatures, COSE, authenticatorData, clientDataJSON, relying-party
ceremonies, a headless software authenticator, credential/challenge storage and public-key recovery.

It knows nothing of chains; :mod:`sso_signer.sso` joins a passkey to an SSO account.
"""

from __future__ import annotations

from sso_signer.webauthn._assertion import MAX_USER_HANDLE, Assertion
from sso_signer.webauthn._authenticator_data import (
    MAX_AUTHENTICATOR_DATA,
    MAX_CREDENTIAL_ID,
    AttestedCredentialData,
    AuthenticatorData,
    AuthenticatorFlags,
)
from sso_signer.webauthn._client_data import MAX_CLIENT_DATA_JSON, CollectedClientData
from sso_signer.webauthn._cose import COSE_ALG_ES256, cose_algorithm, encode_cose_key, parse_cose_key
from sso_signer.webauthn._credential import PasskeyCredential
from sso_signer.webauthn._errors import *  # noqa: F403 - the room's error classes are part of its API
from sso_signer.webauthn._errors import __all__ as _error_names
from sso_signer.webauthn._headless import CounterMode, HeadlessPasskey
from sso_signer.webauthn._p256 import P256_HALF_N, P256_N, EcdsaSignature, P256PublicKey, is_on_curve

__all__ = [
    "COSE_ALG_ES256",
    "MAX_AUTHENTICATOR_DATA",
    "MAX_CLIENT_DATA_JSON",
    "MAX_CREDENTIAL_ID",
    "MAX_USER_HANDLE",
    "P256_HALF_N",
    "P256_N",
    "Assertion",
    "AttestedCredentialData",
    "AuthenticatorData",
    "AuthenticatorFlags",
    "CollectedClientData",
    "CounterMode",
    "EcdsaSignature",
    "HeadlessPasskey",
    "P256PublicKey",
    "PasskeyCredential",
    "cose_algorithm",
    "encode_cose_key",
    "is_on_curve",
    "parse_cose_key",
    *_error_names,
]
