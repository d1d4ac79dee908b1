"""A small dapp backend built on sso-signer: passkey sign-up and sign-in, a smart account per user,
transactions approved in the browser with the passkey, and linking a second passkey.
See ``docs/example-backend.md``.

Start it with ``.venv/bin/python -m examples.dapp_backend`` and open the printed URL.
"""

from __future__ import annotations

from examples.dapp_backend._app import RunningExample, deploy_validator, running_example
from examples.dapp_backend._backend import AccountGateway, DappBackend, PreparedCall
from examples.dapp_backend._chain import EraAnvilGateway
from examples.dapp_backend._erc4337 import Erc4337AnvilGateway
from examples.dapp_backend._errors import (
    AccountAlreadyExists,
    InvalidRequest,
    MissingFunder,
    NoPendingTransaction,
    UnknownUser,
    UserOperationFailed,
    ValidatorRejected,
    WrongUser,
)
from examples.dapp_backend._server import ExampleServer, error_status

__all__ = [
    "AccountAlreadyExists",
    "AccountGateway",
    "DappBackend",
    "EraAnvilGateway",
    "Erc4337AnvilGateway",
    "ExampleServer",
    "InvalidRequest",
    "MissingFunder",
    "NoPendingTransaction",
    "PreparedCall",
    "RunningExample",
    "UnknownUser",
    "UserOperationFailed",
    "ValidatorRejected",
    "WrongUser",
    "deploy_validator",
    "error_status",
    "running_example",
]
