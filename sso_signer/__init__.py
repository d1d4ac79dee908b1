"""sso-signer: own and drive ZKsync SSO smart accounts with a passkey, from Python.

The package is split into rooms (see ``docs/architecture.md``): :mod:`sso_signer.webauthn` (the passkey side),
:mod:`sso_signer.zksync` (Era type-0x71 transactions and the ZKsync client), :mod:`sso_signer.erc4337`
(UserOperations and the bundler client), :mod:`sso_signer.rpc` (the JSON-RPC core) and :mod:`sso_signer.sso`
(the bindings that turn a passkey assertion into a signature the SSO contracts accept).

Also public here, imported on first use so ``import sso_signer`` stays cheap: the compiled contracts shipped
with the package (:func:`load_artifact`) and the encodings the API speaks
(:func:`b64url_encode` / :func:`b64url_decode` for credential ids, :func:`hex_encode` / :func:`hex_decode`).
Errors are in :mod:`sso_signer.exceptions`.
"""

from __future__ import annotations

import sys as _sys
from typing import TYPE_CHECKING, Any

# py_ecc raises the process-wide recursion limit to 100000 when first imported (eth-account imports it
# through eth-keyfile, the passkey key recovery directly). With that limit a deep JSON document overruns the
# C stack instead of raising RecursionError, so it is imported once here and the application's limit put back;
# later imports find it in sys.modules and do not touch the limit again.
_limit = _sys.getrecursionlimit()
import py_ecc  # noqa: E402, F401

_sys.setrecursionlimit(_limit)
del _limit

if TYPE_CHECKING:
    from sso_signer._artifacts import load_artifact
    from sso_signer._codec import b64url_decode, b64url_encode, hex_decode, hex_encode

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "b64url_decode",
    "b64url_encode",
    "hex_decode",
    "hex_encode",
    "load_artifact",
]

_LAZY = {
    "load_artifact": "sso_signer._artifacts",
    "b64url_decode": "sso_signer._codec",
    "b64url_encode": "sso_signer._codec",
    "hex_decode": "sso_signer._codec",
    "hex_encode": "sso_signer._codec",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sso_signer' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
