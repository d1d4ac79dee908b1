"""A local ERC-4337 SSO stack for tests, demos and scripts: anvil (osaka), EntryPoint v0.8, the SSO contracts
and the Alto bundler, started together and stopped together.

This module sits on top of the rooms (like the CLI and the pytest plugin): it starts processes
(:mod:`sso_signer.node`) and deploys contracts (:mod:`sso_signer.accounts`), so it cannot live in either room.

Example::

    with LocalErc4337Stack() as stack:
        account = Erc4337Account.counterfactual(deployment=stack.deployment, eth=stack.eth,
                                                bundler=stack.bundler, credential=passkey, salt=salt)
        stack.fund(account.address, 10**18)

:func:`fund` pays from anvil's funded dev account on any local chain (the stack's, or one ``sso-signer node
start`` runs) and refuses any other chain. The tools the stack runs are looked for as
:mod:`sso_signer._toolchain` documents; ``sso-signer setup`` (:func:`install_tools`) installs them.
"""

from __future__ import annotations

import ipaddress
import time
import urllib.parse
from typing import Any, Final, TypeVar

from eth_account.signers.local import LocalAccount

from sso_signer._toolchain import SetupReport, install_tools
from sso_signer.accounts import MsaDeployment, deploy_msa_contracts
from sso_signer.erc4337 import BundlerClient
from sso_signer.exceptions import ConfigurationError, ErrorCode, NodeStartFailed, RpcError
from sso_signer.node import AltoBundler, AnvilNode
from sso_signer.node._anvil import ANVIL_CHAIN_ID, ANVIL_ZKSYNC_CHAIN_ID, dev_accounts
from sso_signer.rpc import EthClient, Receipt

__all__ = [
    "LocalErc4337Stack",
    "SetupReport",
    "fund",
    "install_tools",
]

# Alto's executor and utility wallets: two dev accounts nobody else uses (0 deploys, 1 funds tests).
_EXECUTOR_INDEX: Final = 8
_UTILITY_INDEX: Final = 7
FUNDER_INDEX: Final = 1
"""The dev account (anvil's ``test … junk`` mnemonic) :func:`fund` pays from."""
_LOCAL_CHAIN_IDS: Final = frozenset({ANVIL_CHAIN_ID, ANVIL_ZKSYNC_CHAIN_ID})
_NO_SPONSOR: Final = "the stack runs no sponsor service: start it with sponsor=True"
_T = TypeVar("_T")


def _loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local_chain(eth: EthClient) -> bool:
    """Whether ``eth`` talks to a local development node: anvil (by its client version), or a dev chain id
    (31337, 260) on a loopback address.

    Raises:
        RpcError: If the node cannot be reached.
    """
    try:
        version = str(eth.rpc.request("web3_clientVersion"))
    except RpcError:
        version = ""  # not every node serves it; the chain id rule below still applies
    if version.lower().startswith("anvil"):
        return True
    return _loopback(eth.rpc.url) and eth.chain_id() in _LOCAL_CHAIN_IDS


def fund(
    eth: EthClient,
    address: str,
    value: int,
    *,
    funder: LocalAccount | None = None,
    timeout: float = 60.0,
) -> Receipt:
    """Send ``value`` wei to ``address`` from anvil's funded dev account #1 on a local chain.

    Args:
        eth: A client of the local node.
        address: The recipient (an account to fund, counterfactual or not).
        value: Amount in wei.
        funder: Pay from this account instead (it must be funded).
        timeout: Seconds to wait for the receipt.

    Returns:
        The receipt of the transfer.

    Raises:
        ConfigurationError (``NOT_A_LOCAL_CHAIN``): If the node is not a local development node (the dev keys
            are public).
        InvalidRpcParams: If the address or value is malformed.
        RpcError, TransactionReverted: If the transfer fails.
    """
    if not is_local_chain(eth):
        raise ConfigurationError(
            f"{eth.rpc.url} (chain {eth.chain_id()}) is not a local anvil node: funding from the public dev "
            "keys is only done on local chains; send the funds from your own wallet",
            rule=ErrorCode.NOT_A_LOCAL_CHAIN,
        )
    payer = funder if funder is not None else dev_accounts(FUNDER_INDEX + 1)[FUNDER_INDEX]
    return eth.send_transaction(payer, to=address, value=value, timeout=timeout)


class LocalErc4337Stack:
    """anvil + EntryPoint v0.8 + the SSO ERC-4337 contracts + Alto, as one context manager.

    Args:
        test_token: Also deploy the mintable test ERC-20.
        keep_logs: Keep anvil's and Alto's logs after stopping.
        sponsor: Also deploy a ``SponsorPaymaster``, fund its EntryPoint deposit (:data:`SPONSOR_DEPOSIT`)
            and serve the ERC-7677 sponsor service for it (:func:`~sso_signer.sponsor.sponsor_app`, on
            127.0.0.1) with a fresh sponsor key; ``sponsor_url`` and ``paymaster`` say where.
        sponsor_policy: The service's sponsorship policy.
        sponsor_any_sender: Without ``sponsor_policy``, sponsor every operation of any sender (the
            service's ``allow_any_sender``: local development only). A ``sponsor=True`` stack needs one
            of the two: the service fails closed.
        anvil_args: Extra keyword arguments for :class:`~sso_signer.node.AnvilNode`.

    Attributes (after :meth:`start`):
        node: The anvil node. eth: Its client. deployment: Contract addresses. alto: The bundler process.
        bundler: A :class:`~sso_signer.erc4337.BundlerClient` for it. deployer: The account that deployed.
        Reading ``node``, ``eth``, ``deployment`` or ``bundler`` while the stack is not running raises
        ``NodeStartFailed``.
    """

    def __init__(
        self,
        *,
        test_token: bool = True,
        keep_logs: bool = False,
        sponsor: bool = False,
        sponsor_policy: Any = None,
        sponsor_any_sender: bool = False,
        **anvil_args: Any,
    ) -> None:
        if sponsor and sponsor_policy is None and sponsor_any_sender is not True:
            raise ConfigurationError(
                "a sponsor=True stack needs sponsor_policy=..., or sponsor_any_sender=True to sponsor anyone",
                rule=ErrorCode.SPONSOR_WITHOUT_POLICY,
            )
        self.test_token = test_token
        self.keep_logs = keep_logs
        self.sponsor = sponsor
        self.sponsor_policy = sponsor_policy
        self.sponsor_any_sender = sponsor_any_sender
        self._sponsor: Any = None
        self._paymaster: str | None = None
        self.anvil_args = anvil_args
        self._node: AnvilNode | None = None
        self.alto: AltoBundler | None = None
        self._deployment: MsaDeployment | None = None
        self._bundler: BundlerClient | None = None
        self.timings: dict[str, float] = {}

    def __repr__(self) -> str:
        if self._node is None or not self._node.running:
            return "LocalErc4337Stack(stopped)"
        bundler = self.alto.url if self.alto is not None and self.alto.running else "-"
        return f"LocalErc4337Stack(node={self._node.url}, bundler={bundler})"

    def start(self) -> LocalErc4337Stack:
        """Start anvil, deploy everything, start Alto. On any failure everything started is stopped.

        Raises:
            ToolNotFound (``NODE_BINARY_NOT_FOUND``), NodeStartFailed: A process could not start.
            ConfigurationError (``ARTIFACT_NOT_FOUND``): The contracts are not built.
            ConfigurationError (``CONFIGURATION``): ``sponsor=True`` without the ``sponsor`` extra (nothing
                is started then).
        """
        if self.sponsor:
            # Checked before anything starts: a missing extra should not cost a chain and a deployment first.
            from sso_signer.sponsor import _require_extra

            _require_extra("starlette", "uvicorn")
        t0 = time.monotonic()
        try:
            self._node = node = AnvilNode(keep_logs=self.keep_logs, **self.anvil_args).start()
            self.timings["anvil"] = time.monotonic() - t0
            t1 = time.monotonic()
            self._deployment = deploy_msa_contracts(node.eth, self.deployer, test_token=self.test_token)
            self.timings["deploy"] = time.monotonic() - t1
            t2 = time.monotonic()
            self.alto = AltoBundler.for_node(
                node,
                entry_points=(self._deployment.entry_point,),
                executor_index=_EXECUTOR_INDEX,
                utility_index=_UTILITY_INDEX,
                keep_logs=self.keep_logs,
            ).start()
            self.timings["alto"] = time.monotonic() - t2
            self._bundler = BundlerClient(self.alto.url, entry_point=self._deployment.entry_point)
            if self.sponsor:
                t3 = time.monotonic()
                self._paymaster, self._sponsor = _start_sponsor(
                    node.eth, self.deployer, self._deployment, self.sponsor_policy, self.sponsor_any_sender
                )
                self.timings["sponsor"] = time.monotonic() - t3
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the sponsor service, Alto, then anvil. Safe to call twice."""
        if self._sponsor is not None:
            self._sponsor.stop()
            self._sponsor = None
        if self._bundler is not None:
            self._bundler.close()
            self._bundler = None
        if self.alto is not None:
            self.alto.stop()
        if self._node is not None:
            self._node.stop()

    def __enter__(self) -> LocalErc4337Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def node(self) -> AnvilNode:
        """The running anvil node (``node.url``, ``node.increase_time(...)``, ``node.impersonate(...)``).

        Raises:
            NodeStartFailed (``NODE_START_FAILED``): If the stack is not running (not started yet, stopped, or
                its start failed).
        """
        if self._node is None or not self._node.running:
            raise NodeStartFailed("the stack is not running; call start() or use it as a context manager")
        return self._node

    def fund(self, address: str, value: int) -> Receipt:
        """Send ``value`` wei from the funder dev account to ``address`` (see :func:`fund`)."""
        return fund(self.eth, address, value, funder=self.funder)

    @property
    def eth(self) -> EthClient:
        """A client of the anvil chain."""
        return self.node.eth

    @property
    def deployer(self) -> LocalAccount:
        """The funded dev account that deployed the contracts (dev account 0)."""
        return self.node.accounts[0]

    @property
    def funder(self) -> LocalAccount:
        """A funded dev account tests may spend from (dev account 1)."""
        return self.node.accounts[1]

    @property
    def deployment(self) -> MsaDeployment:
        """The contract addresses."""
        return _started(self._deployment)

    @property
    def bundler(self) -> BundlerClient:
        """A bundler client of the running Alto."""
        return _started(self._bundler)

    @property
    def bundler_url(self) -> str:
        """Alto's URL."""
        return _started(self.alto).url

    @property
    def paymaster(self) -> str:
        """The ``SponsorPaymaster`` (with ``sponsor=True``)."""
        return _started(self._paymaster, _NO_SPONSOR)

    @property
    def sponsor_url(self) -> str:
        """The sponsor service's URL (with ``sponsor=True``)."""
        return str(_started(self._sponsor, _NO_SPONSOR).url)


def _started(part: _T | None, missing: str = "the stack is not running") -> _T:
    # A part of the stack exists only between start() and stop() (the sponsor only with sponsor=True).
    if part is None:
        raise NodeStartFailed(missing)
    return part


SPONSOR_DEPOSIT: Final = 10 * 10**18
"""What the local stack deposits at the EntryPoint for its ``SponsorPaymaster`` (wei)."""


def _start_sponsor(
    eth: EthClient, deployer: LocalAccount, deployment: MsaDeployment, policy: Any, any_sender: bool
) -> tuple[str, Any]:
    """Deploy and fund a ``SponsorPaymaster`` signed for by a fresh key, and serve its sponsor service."""
    from eth_account import Account

    from sso_signer._artifacts import load_artifact
    from sso_signer.sponsor import _Served, sponsor_app

    signer = Account.create()
    artifact = load_artifact("SponsorPaymaster")
    data = artifact.deploy_data(deployment.entry_point, signer.address, deployer.address)
    paymaster, _ = eth.deploy_contract(deployer, data)
    eth.send_transaction(deployer, to=paymaster, data=artifact.encode_call("deposit"), value=SPONSOR_DEPOSIT)
    app = sponsor_app(
        paymaster=paymaster,
        signer=signer,
        chain_id=deployment.chain_id,
        entry_point=deployment.entry_point,
        policy=policy,
        allow_any_sender=any_sender,
        sponsor_name="sso-signer local sponsor",
    )
    return paymaster, _Served(app).start()
