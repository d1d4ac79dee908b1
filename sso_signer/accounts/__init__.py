"""Passkey accounts: stateful objects that drive an SSO smart account on its chain with one of its passkeys.

* :class:`PasskeyAccount`: the interface both generations implement with the same names and meanings
  (``address``, ``chain_id``, ``get_balance``, ``get_nonce``, ``send``, ``send_calls``, ``sign_message``,
  ``sign_typed_data``, ``unsafe_sign_hash``, ``is_valid_signature``, ``add_passkey``, ``remove_passkey``,
  ``list_passkeys``...);
* :class:`EraAccount` / :class:`AsyncEraAccount`: ZKsync Era native account abstraction (0x71 transactions);
* :class:`Erc4337Account` / :class:`AsyncErc4337Account`: an ERC-4337 ``ModularSmartAccount`` driven by
  UserOperations through a bundler;
* :class:`PasskeySigner`: the I/O-free signer both use; its assertions come from an
  :class:`AssertionProvider` (blocking) or an :class:`AsyncAssertionProvider` (awaited);
  :class:`CeremonyAssertionProvider` runs each of them through a relying party and its passkey store;
* :class:`Guardian` / :class:`AsyncGuardian`: an EOA that may recover ERC-4337 accounts that lost their
  passkey (the ``GuardianExecutor`` module; the account's side is on :class:`Erc4337Account`);
* :class:`PasskeySignedMessage` (what ``sign_message`` / ``sign_typed_data`` return, shaped like
  eth-account's ``SignedMessage``) and :func:`is_valid_signature` (ERC-1271 / ERC-6492 / ``ecrecover`` through
  a web3.py ``Web3`` or ``AsyncWeb3``, one ``eth_call``);
* session keys (``docs/sessions.md``): :class:`SessionSigner` (a KMS/HSM can implement it),
  :class:`LocalSessionKey`, and :class:`SessionInfo`, a session's state read from chain;
* web3.py: ``sign_transaction`` takes the dicts web3.py users write and returns :class:`SignedEraTransaction`
  / :class:`SignedUserOperation` (``raw_transaction``, ``hash``); :class:`PasskeyMiddlewareBuilder` makes
  ``w3.eth.send_transaction`` sign with the passkey (``docs/web3.md``);
* where the contracts live: :class:`EraNetwork` (:func:`network_preset`) and :class:`MsaDeployment`
  (:func:`deploy_msa_contracts`).

Each account's methods are written once, as flows; the sync class runs them with blocking I/O and asks the
passkey synchronously, the ``Async`` class awaits both. See ``docs/accounts.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sso_signer.accounts._base import PasskeyAccount
from sso_signer.accounts._ceremony import CeremonyAssertionProvider
from sso_signer.accounts._deployment import EraNetwork, MsaDeployment, deploy_msa_contracts, network_preset
from sso_signer.accounts._era import AsyncEraAccount, EraAccount
from sso_signer.accounts._erc4337 import AsyncErc4337Account, Erc4337Account
from sso_signer.accounts._messages import PasskeySignedMessage
from sso_signer.accounts._recovery import AsyncGuardian, Guardian
from sso_signer.accounts._sessions import LocalSessionKey, SessionInfo, SessionSigner
from sso_signer.accounts._signer import (
    AssertionProvider,
    AssertionRequest,
    AsyncAssertionProvider,
    AsyncJsonAssertionProvider,
    HeadlessAssertionProvider,
    JsonAssertionProvider,
    PasskeySigner,
)
from sso_signer.accounts._verify import is_valid_signature
from sso_signer.accounts._web3_tx import SignedEraTransaction, SignedUserOperation

if TYPE_CHECKING:
    from sso_signer.accounts._web3_middleware import PasskeyMiddlewareBuilder

__all__ = [
    "AssertionProvider",
    "AssertionRequest",
    "AsyncAssertionProvider",
    "AsyncEraAccount",
    "AsyncErc4337Account",
    "AsyncGuardian",
    "AsyncJsonAssertionProvider",
    "CeremonyAssertionProvider",
    "EraAccount",
    "EraNetwork",
    "Erc4337Account",
    "Guardian",
    "HeadlessAssertionProvider",
    "JsonAssertionProvider",
    "LocalSessionKey",
    "MsaDeployment",
    "PasskeyAccount",
    "PasskeyMiddlewareBuilder",
    "PasskeySignedMessage",
    "PasskeySigner",
    "SessionInfo",
    "SessionSigner",
    "SignedEraTransaction",
    "SignedUserOperation",
    "deploy_msa_contracts",
    "is_valid_signature",
    "network_preset",
]


def __getattr__(name: str) -> Any:
    # The middleware imports web3 (a quarter of a second): only when it is asked for.
    if name == "PasskeyMiddlewareBuilder":
        from sso_signer.accounts._web3_middleware import PasskeyMiddlewareBuilder

        return PasskeyMiddlewareBuilder
    raise AttributeError(f"module 'sso_signer.accounts' has no attribute {name!r}")
