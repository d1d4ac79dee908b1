"""The passkey room: P-256 keys and signatures, COSE, authenticatorData, clientDataJSON, relying-party
ceremonies, a headless software authenticator, credential/challenge storage and public-key recovery.

It knows nothing of chains; :mod:`sso_signer.sso` joins a passkey to an SSO account.
"""

from __future__ import annotations

from sso_signer.webauthn._assertion import MAX_USER_HANDLE, Assertion
from sso_signer.webauthn._attestation import (
    AAGUID_EXTENSION_OID,
    AttestationAuthority,
    AttestationCertificate,
    certificate_aaguid,
    load_trust_roots,
)
from sso_signer.webauthn._authentication import verify_assertion
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
from sso_signer.webauthn._headless import CounterMode, HeadlessPasskey
from sso_signer.webauthn._keyfile import read_key_file, write_key_file
from sso_signer.webauthn._p256 import P256_HALF_N, P256_N, EcdsaSignature, P256PublicKey, is_on_curve
from sso_signer.webauthn._recovery import (
    recover_public_key,
    recover_public_key_candidates,
    recover_public_keys,
)
from sso_signer.webauthn._registration import RegistrationResponse, verify_registration_response
from sso_signer.webauthn._relying_party import AuthenticationResult, RelyingParty
from sso_signer.webauthn._store import (
    AsyncPasskeyStore,
    ChallengePurpose,
    ChallengeStore,
    CredentialStore,
    PasskeyStore,
    PendingChallenge,
)
from sso_signer.webauthn._store_postgres import AsyncPostgresStore, PostgresStore
from sso_signer.webauthn._store_sql import SCHEMA_VERSION
from sso_signer.webauthn._store_sqlite import AsyncSQLiteStore, SQLiteStore
from sso_signer.webauthn._store_url import open_async_store, open_store

__all__ = [
    "AAGUID_EXTENSION_OID",
    "COSE_ALG_ES256",
    "MAX_AUTHENTICATOR_DATA",
    "MAX_CLIENT_DATA_JSON",
    "MAX_CREDENTIAL_ID",
    "MAX_USER_HANDLE",
    "P256_HALF_N",
    "P256_N",
    "SCHEMA_VERSION",
    "Assertion",
    "AsyncPasskeyStore",
    "AsyncPostgresStore",
    "AsyncSQLiteStore",
    "AttestationAuthority",
    "AttestationCertificate",
    "AttestedCredentialData",
    "AuthenticationResult",
    "AuthenticatorData",
    "AuthenticatorFlags",
    "ChallengePurpose",
    "ChallengeStore",
    "CollectedClientData",
    "CounterMode",
    "CredentialStore",
    "EcdsaSignature",
    "HeadlessPasskey",
    "P256PublicKey",
    "PasskeyCredential",
    "PasskeyStore",
    "PendingChallenge",
    "PostgresStore",
    "RegistrationResponse",
    "RelyingParty",
    "SQLiteStore",
    "certificate_aaguid",
    "cose_algorithm",
    "encode_cose_key",
    "is_on_curve",
    "load_trust_roots",
    "open_async_store",
    "open_store",
    "parse_cose_key",
    "read_key_file",
    "recover_public_key",
    "recover_public_key_candidates",
    "recover_public_keys",
    "verify_assertion",
    "verify_registration_response",
    "write_key_file",
]
