"""A small dapp backend built on sso-signer, on FastAPI served by uvicorn: passkey sign-up and sign-in with
signed-cookie sessions, a smart account per user, transactions approved in the browser with the passkey, and
linking a second passkey. See ``docs/example-backend.md``.

Start it with ``.venv/bin/python -m examples.dapp_backend`` and open the printed URL (needs the ``example``
extra: ``pip install -e '.[example]'``).
"""

from __future__ import annotations

from examples.dapp_backend._app import RunningExample, deploy_validator, running_example
from examples.dapp_backend._backend import (
    AccountGateway,
    AsyncDappBackend,
    DappBackend,
    Flow,
    Limits,
    PreparedCall,
    Step,
    eth_text,
    wei_from_eth,
)
from examples.dapp_backend._chain import EraAnvilGateway
from examples.dapp_backend._erc4337 import Erc4337AnvilGateway, Erc4337Clients
from examples.dapp_backend._errors import (
    AccountAlreadyExists,
    BodyTimeout,
    BodyTooLarge,
    CrossSiteRequest,
    InvalidRequest,
    MissingFunder,
    NoPendingTransaction,
    NoRegistrationInProgress,
    NotSignedIn,
    OperationExpired,
    RateLimited,
    UnknownUser,
    UnsupportedContentType,
    UnsupportedSetup,
    UserOperationFailed,
    ValidatorRejected,
    WrongUser,
)
from examples.dapp_backend._server import ExampleServer
from examples.dapp_backend._store import AppStore, PendingOperation, Registration, SqlAppStore, User
from examples.dapp_backend._web import WebLimits, create_app, error_status, json_depth

__all__ = [
    "AccountAlreadyExists",
    "AccountGateway",
    "AppStore",
    "AsyncDappBackend",
    "BodyTimeout",
    "BodyTooLarge",
    "CrossSiteRequest",
    "DappBackend",
    "EraAnvilGateway",
    "Erc4337AnvilGateway",
    "Erc4337Clients",
    "ExampleServer",
    "Flow",
    "InvalidRequest",
    "Limits",
    "MissingFunder",
    "NoPendingTransaction",
    "NoRegistrationInProgress",
    "NotSignedIn",
    "OperationExpired",
    "PendingOperation",
    "PreparedCall",
    "RateLimited",
    "Registration",
    "RunningExample",
    "SqlAppStore",
    "Step",
    "UnknownUser",
    "UnsupportedContentType",
    "UnsupportedSetup",
    "User",
    "UserOperationFailed",
    "ValidatorRejected",
    "WebLimits",
    "WrongUser",
    "create_app",
    "deploy_validator",
    "error_status",
    "eth_text",
    "json_depth",
    "running_example",
    "wei_from_eth",
]
