"""sso-signer: own and drive ZKsync SSO smart accounts with a passkey, from Python.

The package is split into rooms (see ``docs/architecture.md``): :mod:`sso_signer.webauthn` (the passkey side),
:mod:`sso_signer.zksync` (Era type-0x71 transactions and the ZKsync client), :mod:`sso_signer.erc4337`
(UserOperations and the bundler client), :mod:`sso_signer.rpc` (the JSON-RPC core) and :mod:`sso_signer.sso`
(the bindings that turn a passkey assertion into a signature the SSO contracts accept).
"""

from __future__ import annotations

import sys as _sys

# py_ecc raises the process-wide recursion limit to 100000 when first imported (eth-account imports it
# through eth-keyfile, the passkey key recovery directly). With that limit a deep JSON document overruns the
# C stack instead of raising RecursionError, so it is imported once here and the application's limit put back;
# later imports find it in sys.modules and do not touch the limit again.
_limit = _sys.getrecursionlimit()
import py_ecc  # noqa: E402, F401

_sys.setrecursionlimit(_limit)
del _limit

__version__ = "0.1.0"

__all__ = ["__version__"]
