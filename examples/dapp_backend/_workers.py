"""Several uvicorn worker processes serving one example: what the parent hands them, what each one builds.

The parent (``running_example(workers=N)``) starts the chain, deploys the contracts and opens the store
(creating its tables); then uvicorn's supervisor starts ``N`` processes that each call :func:`worker_app`.
Every worker builds its own relying party, backend and chain clients from :class:`WorkerConfig` (passed in
the environment), on the **same store URL**: challenges, sessions, registrations, pending operations and
rate-limit buckets are rows every worker sees, so a ceremony started on one worker finishes on any other.

What must not be shared is a sender's nonce:

* each worker pays for accounts (and, without a bundler, sends ``handleOps``) from **its own funder**, one
  of ``N`` keys the parent funded. A worker takes the first free slot by locking ``slot-<i>.lock`` in
  ``slot_dir`` (``flock``, held for the process's life and released by the kernel when it dies, so a
  restarted worker takes the slot back);
* the UserOperations a worker prepares for a user's account use **its own EntryPoint nonce key**
  (:func:`process_nonce_key`): ERC-4337 nonces are a 192-bit key and a 64-bit sequence per key, so two
  workers preparing operations for one account at once draw from two sequences and both get included,
  in either order, instead of one replacing (or invalidating) the other.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from eth_account import Account
from fastapi import FastAPI

from examples.dapp_backend._backend import DappBackend, Limits
from examples.dapp_backend._erc4337 import Erc4337AnvilGateway
from examples.dapp_backend._errors import UnsupportedSetup
from examples.dapp_backend._store import SqlAppStore
from examples.dapp_backend._web import WebLimits, create_app
from sso_signer.accounts import MsaDeployment
from sso_signer.erc4337 import BundlerClient
from sso_signer.rpc import EthClient
from sso_signer.webauthn import RelyingParty, open_store

__all__ = ["CONFIG_ENV", "EXPOSE_WORKER_ENV", "WorkerConfig", "process_nonce_key", "worker_app"]

#: The environment variable carrying the parent's :class:`WorkerConfig` (JSON) to the workers.
CONFIG_ENV = "SSO_EXAMPLE_WORKER_CONFIG"
#: Set to ``1`` to have every response name the worker that answered (``X-Example-Worker``; tests).
EXPOSE_WORKER_ENV = "SSO_EXAMPLE_EXPOSE_WORKER"
#: The factory's import string, for uvicorn.
FACTORY = "examples.dapp_backend._workers:worker_app"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What every worker needs to build the same example (JSON-able: it travels in the environment).

    Attributes:
        rp_id: The relying party id. rp_name: Its display name. origins: The accepted origins.
        node_url: The chain. bundler_url: Alto, or None (``handleOps`` from the worker's funder).
        deployment: The ERC-4337 contracts (:class:`~sso_signer.accounts.MsaDeployment` fields).
        funder_keys: One funded private key per worker slot (hex). slot_dir: Where the slot locks live.
        store: The store URL every worker opens. session_secret: The cookie key every worker shares.
        limits: :class:`Limits` fields. web_limits: :class:`WebLimits` attributes.
        expose_worker: Add the ``X-Example-Worker`` header.
    """

    rp_id: str
    rp_name: str
    origins: tuple[str, ...]
    node_url: str
    bundler_url: str | None
    deployment: dict[str, Any]
    funder_keys: tuple[str, ...]
    slot_dir: str
    store: str
    session_secret: str
    limits: dict[str, Any]
    web_limits: dict[str, Any]
    expose_worker: bool = False

    def to_json(self) -> str:
        """The config as JSON (for :data:`CONFIG_ENV`)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        """Read a config written by :meth:`to_json`."""
        fields = json.loads(text)
        fields["origins"] = tuple(fields["origins"])
        fields["funder_keys"] = tuple(fields["funder_keys"])
        return cls(**fields)


def web_limits_fields(limits: WebLimits) -> dict[str, Any]:
    """A :class:`WebLimits`' settings as keyword arguments."""
    return dict(vars(limits))


_held: list[IO[bytes]] = []  # the slot lock and the clients live as long as the worker process


def _claim_slot(slot_dir: str, slots: int) -> int:
    for slot in range(slots):
        handle = (Path(slot_dir) / f"slot-{slot}.lock").open("wb")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held.append(handle)
        return slot
    raise UnsupportedSetup(f"more worker processes than the {slots} funded slots")


def process_nonce_key() -> int:
    """This process's EntryPoint nonce key: 192 bits of ``sha256(host name / pid / start time in ns)``.

    Distinct for every process running at once on every host (and for a restarted one), never 0 (key 0
    stays the single-process default). A key's first operation costs a new storage slot in the EntryPoint
    (about 20k gas once per account and key), the price of sequences that never collide.
    """
    seed = f"{socket.gethostname()}/{os.getpid()}/{_STARTED_NS}".encode()
    return int.from_bytes(hashlib.sha256(seed).digest()[:24], "big") or 1


_STARTED_NS = time.time_ns()


def worker_app() -> FastAPI:
    """Build one worker's application from the parent's config (uvicorn calls this in each worker).

    Raises:
        UnsupportedSetup: No config in the environment, or every funder slot is taken.
    """
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise UnsupportedSetup(f"{CONFIG_ENV} is not set: start workers with running_example(workers=N)")
    config = WorkerConfig.from_json(text)
    slot = _claim_slot(config.slot_dir, len(config.funder_keys))
    funder = Account.from_key(config.funder_keys[slot])
    deployment = MsaDeployment(**config.deployment)
    eth = EthClient(config.node_url)
    bundler = None
    if config.bundler_url is not None:
        bundler = BundlerClient(config.bundler_url, entry_point=deployment.entry_point)
    gateway = Erc4337AnvilGateway(eth, funder, deployment, bundler=bundler, nonce_key=process_nonce_key())
    passkeys = open_store(config.store)
    rp = RelyingParty(rp_id=config.rp_id, rp_name=config.rp_name, origins=config.origins, store=passkeys)
    backend = DappBackend(rp, gateway, SqlAppStore(passkeys), limits=Limits(**config.limits))
    expose = config.expose_worker or os.environ.get(EXPOSE_WORKER_ENV) == "1"
    print(f"worker {os.getpid()} serving (funder {funder.address})", flush=True)
    return create_app(
        backend,
        store=config.store,
        node_url=config.node_url,
        origins=config.origins,
        session_secret=config.session_secret,
        limits=WebLimits(**config.web_limits),
        worker_header=expose,
    )
