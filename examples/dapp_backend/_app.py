"""Wiring: a local anvil with the contracts, the relying party, the stores, the backend, the app, uvicorn."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount

from examples.dapp_backend._backend import AccountGateway, DappBackend, Limits
from examples.dapp_backend._chain import EraAnvilGateway
from examples.dapp_backend._erc4337 import Erc4337AnvilGateway
from examples.dapp_backend._errors import MissingFunder, UnsupportedSetup
from examples.dapp_backend._server import ExampleServer
from examples.dapp_backend._store import SqlAppStore
from examples.dapp_backend._web import WebLimits, create_app
from examples.dapp_backend._workers import CONFIG_ENV, FACTORY, WorkerConfig, web_limits_fields
from sso_signer import load_artifact
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.node import AnvilNode
from sso_signer.rpc import EthClient
from sso_signer.webauthn import RelyingParty, open_store

__all__ = ["RunningExample", "deploy_validator", "running_example"]

RP_ID = "localhost"
RP_NAME = "sso-signer example dapp"
SESSION_SECRET_ENV = "SSO_EXAMPLE_SESSION_SECRET"  # noqa: S105 - the variable's name, not a secret

Flow = Literal["erc4337", "era"]


@dataclass(frozen=True, slots=True)
class RunningExample:
    """A started example: its backend, its HTTP server and the chain it talks to.

    ``validator`` is the passkey validator the accounts use (``WebAuthnValidator`` for ``erc4337``,
    ``WebAuthValidator`` for ``era``).
    """

    flow: Flow
    backend: DappBackend
    server: ExampleServer
    eth: EthClient
    node_url: str
    chain_id: int
    validator: str


def deploy_validator(eth: EthClient, deployer: LocalAccount) -> str:
    """Deploy the Era ``WebAuthValidator`` (built by ``scripts/build-contracts.sh``); return its address."""
    address, _ = eth.deploy_contract(deployer, load_artifact("WebAuthValidator").bytecode)
    return address


@contextlib.contextmanager
def running_example(
    *,
    flow: Flow = "erc4337",
    port: int = 0,
    store: str = "sqlite://:memory:",
    node_url: str | None = None,
    funder: LocalAccount | None = None,
    validator: str | None = None,
    serve: bool = False,
    extra_origins: Sequence[str] = (),
    bundler: bool = False,
    limits: Limits | None = None,
    web_limits: WebLimits | None = None,
    session_secret: str | None = None,
    workers: int = 1,
) -> Iterator[RunningExample]:
    """Start (or join) a chain, deploy the contracts, and build the backend and its server.

    Args:
        flow: ``"erc4337"``: ModularSmartAccount + WebAuthnValidator, UserOperations run by EntryPoint v0.8;
            ``"era"``: the Era WebAuthValidator with stand-in accounts (see ``_chain.py``).
        port: HTTP port on localhost (0: any free port).
        store: The database of credentials, challenges, users, sessions, pending operations and rate-limit
            buckets, as a store URL (:func:`~sso_signer.webauthn.open_store`): ``sqlite:///path.db``,
            ``postgresql://user@host/db``, or ``sqlite://:memory:`` (the default: gone at exit, like the
            fresh anvil).
        node_url: Use this node instead of starting anvil (needs ``funder``).
        funder: A funded account on ``node_url`` (pays for the users' accounts).
        validator: With ``era``, an already deployed ``WebAuthValidator`` (deployed here if ``None``).
        serve: Start serving in a background thread (otherwise call ``server.serve_forever()``).
        extra_origins: Origins accepted besides the server's own (e.g. a front-end dev server).
        bundler: With ``erc4337``, start anvil with the Alto bundler (:class:`LocalErc4337Stack`) and send
            UserOperations through it (ignores ``node_url``).
        limits: Rate limits, caps and lifetimes of the backend (defaults: :class:`Limits`).
        web_limits: Body size, JSON depth and body time limits (defaults: :class:`WebLimits`).
        session_secret: Key of the session cookie; else ``$SSO_EXAMPLE_SESSION_SECRET``, else random (sessions
            then end with the process).
        workers: uvicorn worker processes (``erc4337`` only, on a store every process opens: a file or
            PostgreSQL). Each gets its own funder, funded here; serve them with ``server.serve_forever()``
            (see ``_workers.py``). The returned ``backend`` is the parent's, on the same store.

    Yields:
        The running example; everything is stopped on exit.

    Raises:
        MissingFunder: If ``node_url`` is given without ``funder``.
        UnsupportedSetup: Several workers with the Era flow or an in-memory store.
    """
    if workers > 1 and flow != "erc4337":
        raise UnsupportedSetup(
            "several workers need the erc4337 flow (Era stand-in keys live in one process)"
        )
    if workers > 1 and store in ("sqlite://:memory:", ":memory:"):
        raise UnsupportedSetup("several workers need a store they all open: sqlite:///file or postgresql://")
    with contextlib.ExitStack() as stack:
        local: LocalErc4337Stack | None = None
        if flow == "erc4337" and bundler:
            local = stack.enter_context(LocalErc4337Stack(test_token=False))
            node_url, funder = local.eth.rpc.url, local.funder
        elif node_url is None:
            node = stack.enter_context(AnvilNode())
            node_url, funder = node.url, node.accounts[0]
        if funder is None:
            raise MissingFunder("a funded account is required with node_url")
        eth = stack.enter_context(EthClient(node_url))
        gateway: AccountGateway
        if local is not None:
            erc4337 = Erc4337AnvilGateway(eth, funder, local.deployment, bundler=local.bundler)
            gateway, validator = erc4337, erc4337.validator
        elif flow == "erc4337":
            erc4337 = Erc4337AnvilGateway.deploy(eth, funder)
            gateway, validator = erc4337, erc4337.validator
        else:
            validator = validator or deploy_validator(eth, funder)
            gateway = EraAnvilGateway(eth, funder, validator)
        server = ExampleServer(port=port, workers=workers)
        if store in ("sqlite://:memory:", ":memory:"):
            # The server's async store opens the database again (in its event loop): an in-memory SQLite
            # database is private to one connection, so "in memory" is a file in a temporary directory,
            # deleted at exit like the fresh anvil's state.
            scratch = tempfile.mkdtemp(prefix="sso-example-store-")
            stack.callback(shutil.rmtree, scratch, True)
            store = f"sqlite:///{scratch}/example.db"
        passkeys = open_store(store)
        stack.callback(passkeys.close)
        origins = (server.origin, *extra_origins)
        rp = RelyingParty(rp_id=RP_ID, rp_name=RP_NAME, origins=origins, store=passkeys)
        # The example's own tables live in the same database, run by the same store (one pool, one file).
        backend = DappBackend(rp, gateway, SqlAppStore(passkeys), limits=limits)
        secret = session_secret or os.environ.get(SESSION_SECRET_ENV) or secrets.token_urlsafe(32)
        if workers > 1:
            assert isinstance(gateway, Erc4337AnvilGateway)
            config = WorkerConfig(
                rp_id=RP_ID,
                rp_name=RP_NAME,
                origins=origins,
                node_url=node_url,
                bundler_url=None if local is None else local.bundler_url,
                deployment=dataclasses.asdict(gateway.deployment),
                funder_keys=_worker_funders(eth, funder, workers),
                slot_dir=tempfile.mkdtemp(prefix="sso-example-slots-"),
                store=store,
                session_secret=secret,
                limits=dataclasses.asdict(backend.limits),
                web_limits=web_limits_fields(web_limits or WebLimits()),
            )
            stack.callback(shutil.rmtree, config.slot_dir, True)
            previous = os.environ.get(CONFIG_ENV)
            os.environ[CONFIG_ENV] = config.to_json()  # the spawned workers inherit the environment
            stack.callback(_restore_env, CONFIG_ENV, previous)
            server.app = FACTORY
        else:
            server.app = create_app(
                backend,
                store=store,
                node_url=node_url,
                origins=origins,
                session_secret=secret,
                limits=web_limits,
            )
        stack.callback(server.stop)  # registered last: stops first, while the stores are still open
        if serve:
            server.start()
        yield RunningExample(flow, backend, server, eth, node_url, eth.chain_id(), validator)


def _worker_funders(eth: EthClient, funder: LocalAccount, workers: int) -> tuple[str, ...]:
    """A fresh funded key per worker: no two processes ever send from one address (no nonce races)."""
    share = eth.get_balance(funder.address) // (2 * workers)
    keys = []
    for _ in range(workers):
        account = Account.create()
        eth.send_transaction(funder, to=account.address, value=share)
        keys.append(account.key.hex())
    return tuple(keys)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
