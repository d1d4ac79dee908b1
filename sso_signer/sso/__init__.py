"""The SSO bindings: passkey assertions + intents → the exact bytes the official SSO contracts accept.

The encodings (signatures, owners, ERC-7739, preflight, sessions, guardian recovery) do no I/O.

* signatures: :class:`FatSignature`, the Era ``customSignature`` envelope (:func:`era_custom_signature`) and
  the ERC-4337 ``validator ‖ fat`` form (:func:`erc4337_passkey_signature`);
* owners: :func:`validator_init_data` and the Era ``deployProxySsoAccount`` calldata
  (:func:`deploy_passkey_account_calldata`, :class:`UniqueIdScheme`);
* ERC-7739: :class:`AccountDomain`, PersonalSign / TypedDataSign digests and signature wrapping;
* :func:`preflight`: the Era and ERC-4337 validator rules, one typed error each;
* sessions: :class:`SessionSpec` and its policies, the :class:`SessionKeyValidator` calldata and session
  signature, and the offline :func:`check_call` (``docs/sessions.md``);
* ERC-4337 account creation: :func:`passkey_account_init_data`, :func:`deploy_account_calldata`,
  :func:`account_salt`;
* guardian recovery: :class:`GuardianExecutor` calldata, recovery data, event, error and state decoders
  (ERC-4337), and the Era :class:`GuardianRecoveryValidator`'s calldata and decoders (``docs/recovery.md``).

See ``docs/signing.md``.
"""

from __future__ import annotations

from sso_signer.sso._era_guardian import GuardianRecoveryValidator
from sso_signer.sso._erc7739 import (
    AccountDomain,
    eip191_hash,
    personal_sign_hash,
    typed_data_sign_hash,
    wrap_typed_data_signature,
)
from sso_signer.sso._guardian import (
    GuardianEvent,
    GuardianExecutor,
    GuardianExecutorError,
    GuardianStatus,
    RecoveryRequest,
    RecoveryType,
)
from sso_signer.sso._msa_calldata import account_salt, deploy_account_calldata, passkey_account_init_data
from sso_signer.sso._owner import UniqueIdScheme, deploy_passkey_account_calldata, validator_init_data
from sso_signer.sso._preflight import PreflightResult, preflight
from sso_signer.sso._session_spec import (
    CallPolicy,
    Condition,
    Constraint,
    SessionCall,
    SessionKeyValidator,
    SessionSpec,
    SessionUsage,
    TransferPolicy,
    UsageLimit,
    check_call,
)
from sso_signer.sso._signature import FatSignature, era_custom_signature, erc4337_passkey_signature

__all__ = [
    "AccountDomain",
    "CallPolicy",
    "Condition",
    "Constraint",
    "FatSignature",
    "GuardianEvent",
    "GuardianExecutor",
    "GuardianExecutorError",
    "GuardianRecoveryValidator",
    "GuardianStatus",
    "PreflightResult",
    "RecoveryRequest",
    "RecoveryType",
    "SessionCall",
    "SessionKeyValidator",
    "SessionSpec",
    "SessionUsage",
    "TransferPolicy",
    "UniqueIdScheme",
    "UsageLimit",
    "account_salt",
    "check_call",
    "deploy_account_calldata",
    "deploy_passkey_account_calldata",
    "eip191_hash",
    "era_custom_signature",
    "erc4337_passkey_signature",
    "passkey_account_init_data",
    "personal_sign_hash",
    "preflight",
    "typed_data_sign_hash",
    "validator_init_data",
    "wrap_typed_data_signature",
]
