"""sso-signer: own and drive ZKsync SSO smart accounts with a passkey, from Python.

The package is split into rooms (see ``docs/architecture.md``): :mod:`sso_signer.webauthn` (the passkey side),
:mod:`sso_signer.zksync` (Era type-0x71 transactions and the ZKsync client), :mod:`sso_signer.erc4337`
(UserOperations and the bundler client), :mod:`sso_signer.rpc` (the JSON-RPC core) and :mod:`sso_signer.sso`
(the bindings that turn a passkey assertion into a signature the SSO contracts accept).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
