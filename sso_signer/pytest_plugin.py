"""pytest fixtures for integration tests of passkey accounts, loaded automatically (``pytest11`` entry point).

With sso-signer installed, a test needs no set-up code::

    def test_transfer(passkey_account, sso_stack):
        receipt = passkey_account.send(recipient, 10**15)
        assert receipt.success

Fixtures:

* ``sso_anvil`` (session): a bare ``anvil --hardfork osaka`` node.
* ``sso_stack`` (session): anvil + EntryPoint v0.8 + the ERC-4337 SSO contracts + the Alto bundler
  (:class:`~sso_signer.local_erc4337.LocalErc4337Stack`).
* ``sso_deployment`` (session): the stack's addresses plus an Era ``WebAuthValidator`` on the same chain, as
  the deployment JSON ``sso-signer deploy`` writes (:class:`sso_signer.cli.Deployment`).
* ``sso_fund``: ``sso_fund(address, wei)`` sends ETH from a dev account of the stack's chain.
* ``headless_passkey``: a fresh software passkey (rp id ``localhost``, origin ``http://localhost:5173``).
* ``passkey_account``: a counterfactual ERC-4337 account of ``headless_passkey``, funded with 1 ETH (another
  amount in wei through indirect parametrization: ``@pytest.mark.parametrize("passkey_account", [10**15],
  indirect=True)``); its first UserOperation deploys it.
* ``sso_guardian``: a :class:`~sso_signer.accounts.Guardian` of the stack's deployment, a fresh EOA funded
  with 1 ETH (a dapp backend's key, as guardian recovery sees it).
* ``guarded_passkey_account``: ``passkey_account`` with ``sso_guardian`` proposed and accepted (its first
  UserOperation created the account and installed the ``GuardianExecutor``); to finalize a recovery, move the
  session chain's clock with ``sso_stack.node.increase_time(...)``.
* ``session_account``: ``(account, spec, key)``: a funded (1 ETH) ERC-4337 account of ``headless_passkey``,
  created with the SessionKeyValidator installed, and a session its passkey opened for ``key`` (a
  :class:`~sso_signer.accounts.LocalSessionKey`), valid for a day: by default transfers of up to 10**15 wei
  each (10**16 in all) to ``0x…dEaD``, and ERC-20 ``transfer``s of at most 1000 units a call on the stack's
  test token. Another spec through indirect parametrization with a function
  ``(signer, expires_at, deployment) -> SessionSpec``.
* ``anvil_zksync_node`` (session): an ``anvil-zksync`` node; the test is skipped, with the reason, when the
  binary is not on ``PATH``.
* ``sso_postgres`` (session): a private PostgreSQL server (Debian's ``initdb`` + ``pg_ctl`` in a temp dir, on
  a Unix socket, as the ``postgres`` user under root); ``sso_postgres_url``: a fresh empty database on it, as
  a URL for :func:`~sso_signer.webauthn.open_store`. Where PostgreSQL cannot be started the test is skipped
  with the reason, or fails with it under ``CI=true``.

The fixtures that start processes need the local-stack tools: when one is missing they fail with
:class:`~sso_signer.exceptions.ToolNotFound`, whose message names the tool and ``sso-signer setup`` (no silent
skip: a test that cannot run is a configuration error).

Every heavy import happens inside a fixture, so loading the plugin costs nothing and cannot fail.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from sso_signer.exceptions import SsoSignerError

if TYPE_CHECKING:
    from sso_signer.accounts import Erc4337Account, Guardian, LocalSessionKey
    from sso_signer.cli import Deployment
    from sso_signer.local_erc4337 import LocalErc4337Stack
    from sso_signer.node import AnvilNode, AnvilZkSyncNode
    from sso_signer.rpc import Receipt
    from sso_signer.sso import SessionSpec
    from sso_signer.webauthn import HeadlessPasskey
    from sso_signer.webauthn._store_pgserver import TemporaryPostgres

__all__ = [
    "PASSKEY_ORIGIN",
    "PASSKEY_RP_ID",
    "anvil_zksync_node",
    "headless_passkey",
    "passkey_account",
    "session_account",
    "sso_anvil",
    "sso_deployment",
    "sso_fund",
    "sso_postgres",
    "sso_postgres_url",
    "sso_stack",
]

PASSKEY_RP_ID = "localhost"
PASSKEY_ORIGIN = "http://localhost:5173"
_ACCOUNT_FUNDING = 10**18
_SESSION_RECIPIENT = "0x000000000000000000000000000000000000dEaD"
_ERC20_TRANSFER = bytes.fromhex("a9059cbb")  # transfer(address,uint256)

_MARKERS = (
    "chain: needs a local anvil chain (started by the test session)",
    "bundler: needs the Alto bundler on a local anvil",
    "anvil_zksync: needs the anvil-zksync binary on PATH",
    "postgres: needs a PostgreSQL server (started by the test session)",
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers the fixtures' users put on their tests (so ``--strict-markers`` accepts them)."""
    for line in _MARKERS:
        config.addinivalue_line("markers", line)


@pytest.fixture(scope="session")
def sso_anvil() -> Iterator[AnvilNode]:
    """A running ``anvil --hardfork osaka`` (P-256 precompile at ``0x100``) for the whole session."""
    from sso_signer.node import AnvilNode

    with AnvilNode() as node:
        yield node


@pytest.fixture(scope="session")
def sso_stack() -> Iterator[LocalErc4337Stack]:
    """anvil + EntryPoint v0.8 + the SSO ERC-4337 contracts + Alto, started once per session."""
    from sso_signer.local_erc4337 import LocalErc4337Stack

    with LocalErc4337Stack() as stack:
        yield stack


@pytest.fixture(scope="session")
def sso_deployment(sso_stack: LocalErc4337Stack) -> Deployment:
    """The stack's contract addresses plus an Era ``WebAuthValidator`` deployed on the same chain."""
    from sso_signer.cli._deploy import local_stack_deployment

    return local_stack_deployment(sso_stack)


@pytest.fixture
def headless_passkey() -> HeadlessPasskey:
    """A fresh software passkey for rp id ``localhost`` and origin ``http://localhost:5173``."""
    from sso_signer.webauthn import HeadlessPasskey

    return HeadlessPasskey.generate(rp_id=PASSKEY_RP_ID, origin=PASSKEY_ORIGIN, user_name="test@localhost")


@pytest.fixture
def sso_fund(sso_stack: LocalErc4337Stack) -> Callable[[str, int], Receipt]:
    """``sso_fund(address, wei)``: send ETH on the stack's chain from its funder dev account."""
    return sso_stack.fund


@pytest.fixture
def passkey_account(
    request: pytest.FixtureRequest, sso_stack: LocalErc4337Stack, headless_passkey: HeadlessPasskey
) -> Erc4337Account:
    """A counterfactual ERC-4337 account owned by ``headless_passkey``, funded with 1 ETH.

    Another amount (wei, ``0`` for none): ``@pytest.mark.parametrize("passkey_account", [10**15],
    indirect=True)``. Its first UserOperation (``passkey_account.send(...)``) deploys it.
    """
    funding = getattr(request, "param", _ACCOUNT_FUNDING)
    if isinstance(funding, bool) or not isinstance(funding, int) or funding < 0:
        raise pytest.UsageError(f"passkey_account: the parameter is the funding in wei, got {funding!r}")
    return _stack_account(sso_stack, headless_passkey, funding, ())


def _stack_account(
    stack: LocalErc4337Stack, passkey: HeadlessPasskey, funding: int, modules: tuple[tuple[str, bytes], ...]
) -> Erc4337Account:
    # A counterfactual account on a fresh salt, funded from the stack's funder dev account.
    from sso_signer.accounts import Erc4337Account
    from sso_signer.sso import account_salt

    account = Erc4337Account.counterfactual(
        deployment=stack.deployment,
        eth=stack.eth,
        bundler=stack.bundler,
        credential=passkey,
        salt=account_salt(None),
        extra_modules=modules,
    )
    if funding:
        stack.fund(account.address, funding)
    return account


@pytest.fixture
def sso_guardian(sso_stack: LocalErc4337Stack) -> Guardian:
    """A guardian EOA (fresh key, funded with 1 ETH) for the stack's ERC-4337 accounts."""
    from eth_account import Account

    from sso_signer.accounts import Guardian

    guardian = Guardian(sso_stack.eth, Account.create(), deployment=sso_stack.deployment)
    sso_stack.fund(guardian.address, _ACCOUNT_FUNDING)
    return guardian


@pytest.fixture
def guarded_passkey_account(passkey_account: Erc4337Account, sso_guardian: Guardian) -> Erc4337Account:
    """``passkey_account`` with ``sso_guardian`` as its active guardian (the proposal created the account)."""
    passkey_account.propose_guardian(sso_guardian.address)
    sso_guardian.accept(passkey_account.address)
    return passkey_account


@pytest.fixture
def session_account(
    request: pytest.FixtureRequest, sso_stack: LocalErc4337Stack, headless_passkey: HeadlessPasskey
) -> tuple[Erc4337Account, SessionSpec, LocalSessionKey]:
    """``(account, spec, key)``: a funded passkey account with the session validator installed at creation,
    and an open session for ``key`` (see the module docstring for the default spec and its parameter)."""
    from sso_signer.accounts import LocalSessionKey
    from sso_signer.sso import CallPolicy, Condition, Constraint, SessionSpec, TransferPolicy, UsageLimit

    deployment = sso_stack.deployment
    validator = deployment.session_validator
    if validator is None:  # pragma: no cover - the stack always deploys it
        raise pytest.UsageError("session_account: the stack has no session validator")
    account = _stack_account(sso_stack, headless_passkey, _ACCOUNT_FUNDING, ((validator, b""),))
    key = LocalSessionKey.generate()
    latest = sso_stack.eth.get_block("latest")
    expires_at = int(latest["timestamp"], 16) + 86_400 if latest else 0
    make_spec = getattr(request, "param", None)
    if make_spec is not None:
        spec = make_spec(key.address, expires_at, deployment)
    else:
        token_calls: tuple[CallPolicy, ...] = ()
        if deployment.test_token is not None:
            amount = Constraint(Condition.LESS_OR_EQUAL, 1, 1000)
            token_calls = (CallPolicy(deployment.test_token, _ERC20_TRANSFER, constraints=(amount,)),)
        spec = SessionSpec(
            key.address,
            expires_at,
            UsageLimit.lifetime(_ACCOUNT_FUNDING // 10),
            call_policies=token_calls,
            transfer_policies=(TransferPolicy(_SESSION_RECIPIENT, 10**15, UsageLimit.lifetime(10**16)),),
        )
    account.create_session(spec, key)
    return account, spec, key


@pytest.fixture(scope="session")
def anvil_zksync_node() -> Iterator[AnvilZkSyncNode]:
    """A running ``anvil-zksync`` (chain 260); skips the test when the binary is not on ``PATH``."""
    from sso_signer.node import AnvilZkSyncNode

    if not AnvilZkSyncNode.available():
        pytest.skip(
            "anvil-zksync not on PATH: it is not in any registry this machine can reach; install the binary "
            "to run the Era (0x71) tests"
        )
    with AnvilZkSyncNode() as node:
        yield node


@pytest.fixture(scope="session")
def sso_postgres() -> Iterator[TemporaryPostgres]:
    """A private PostgreSQL server for the session, deleted with its data afterwards.

    Skips the test with the reason where PostgreSQL cannot be started (not installed, no user to run it
    as); under ``CI=true`` the test fails with that reason instead, so CI never passes by skipping.
    """
    from sso_signer.webauthn._store_pgserver import TemporaryPostgres

    try:
        server = TemporaryPostgres()
    except SsoSignerError as exc:
        reason = f"PostgreSQL could not be started: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with server:
        yield server


@pytest.fixture
def sso_postgres_url(sso_postgres: TemporaryPostgres) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL server."""
    return sso_postgres.create_database(f"sso_test_{os.getpid()}_{next(_DATABASES)}")


_DATABASES = itertools.count(1)
