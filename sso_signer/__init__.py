"""sso-signer: own and drive ZKsync SSO smart accounts with a passkey, from Python.

The package is split into rooms (see ``docs/architecture.md``): :mod:`sso_signer.webauthn` (the passkey side),
:mod:`sso_signer.zksync` (Era type-0x71 transactions and the ZKsync client), :mod:`sso_signer.erc4337`
(UserOperations and the bundler client), :mod:`sso_signer.rpc` (the JSON-RPC core) and :mod:`sso_signer.sso`
(the bindings that turn a passkey assertion into a signature the SSO contracts accept).

The compiled contracts shipped with the package are :func:`load_artifact` / :class:`Artifact` (imported on
first use, so ``import sso_signer`` stays cheap).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sso_signer._artifacts import Artifact, load_artifact

__version__ = "0.1.0"

__all__ = ["Artifact", "__version__", "load_artifact"]


def __getattr__(name: str) -> Any:
    if name in ("Artifact", "load_artifact"):
        from sso_signer import _artifacts

        return getattr(_artifacts, name)
    raise AttributeError(f"module 'sso_signer' has no attribute {name!r}")
