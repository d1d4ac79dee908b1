"""The passkey room: P-256 keys and signatures, COSE, authenticatorData, clientDataJSON, relying-party
ceremonies, a headless software authenticator, credential/challenge storage and public-key recovery.

It knows nothing of chains; :mod:`sso_signer.sso` joins a passkey to an SSO account.
"""

from __future__ import annotations

from sso_signer.webauthn._assertion import Assertion
from sso_signer.webauthn._attestation import AttestationAuthority
from sso_signer.webauthn._authentication import verify_assertion
from sso_signer.webauthn._authenticator_data import AuthenticatorData
from sso_signer.webauthn._credential import PasskeyCredential
from sso_signer.webauthn._headless import HeadlessPasskey
from sso_signer.webauthn._p256 import P256PublicKey
from sso_signer.webauthn._recovery import recover_public_key
from sso_signer.webauthn._registration import RegistrationResponse, verify_registration_response
from sso_signer.webauthn._relying_party import AsyncRelyingParty, AuthenticationResult, RelyingParty
from sso_signer.webauthn._store import AsyncPasskeyStore, PasskeyStore, PendingChallenge
from sso_signer.webauthn._store_postgres import AsyncPostgresStore, PostgresStore
from sso_signer.webauthn._store_sql import SqlStatement
from sso_signer.webauthn._store_sqlite import AsyncSQLiteStore, SQLiteStore
from sso_signer.webauthn._store_url import open_async_store, open_store

__all__ = [
    "Assertion",
    "AsyncPasskeyStore",
    "AsyncPostgresStore",
    "AsyncRelyingParty",
    "AsyncSQLiteStore",
    "AttestationAuthority",
    "AuthenticationResult",
    "AuthenticatorData",
    "HeadlessPasskey",
    "P256PublicKey",
    "PasskeyCredential",
    "PasskeyStore",
    "PendingChallenge",
    "PostgresStore",
    "RegistrationResponse",
    "RelyingParty",
    "SQLiteStore",
    "SqlStatement",
    "open_async_store",
    "open_store",
    "recover_public_key",
    "verify_assertion",
    "verify_registration_response",
]
