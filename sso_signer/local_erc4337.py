"""A local ERC-4337 SSO stack for tests, demos and scripts: anvil (osaka), EntryPoint v0.8, the SSO contracts
and the Alto bundler, started together and stopped together.

This module sits on top of the rooms (like the CLI and the pytest plugin): it starts processes
(:mod:`sso_signer.node`) and deploys contracts (:mod:`sso_signer.sso`).

Example::

    with LocalErc4337Stack() as stack:
        account = MsaPasskeyAccount.counterfactual(deployment=stack.deployment, eth=stack.eth,
                                                   bundler=stack.bundler, credential=passkey, salt=salt)
"""

from __future__ import annotations

import time
from typing import Any, Final

from eth_account.signers.local import LocalAccount

from sso_signer.erc4337 import BundlerClient
from sso_signer.node import AltoBundler, AnvilNode, NodeStartFailed
from sso_signer.rpc import EthClient
from sso_signer.sso._msa_stack import MsaDeployment, deploy_msa_contracts

__all__ = ["LocalErc4337Stack"]

# Alto's executor and utility wallets: two dev accounts nobody else uses (0 deploys, 1 funds tests).
_EXECUTOR_INDEX: Final = 8
_UTILITY_INDEX: Final = 7


class LocalErc4337Stack:
    """anvil + EntryPoint v0.8 + the SSO ERC-4337 contracts + Alto, as one context manager.

    Args:
        test_token: Also deploy the mintable test ERC-20.
        keep_logs: Keep anvil's and Alto's logs after stopping.
        anvil_args: Extra keyword arguments for :class:`~sso_signer.node.AnvilNode`.

    Attributes (after :meth:`start`):
        node: The anvil node. eth: Its client. deployment: Contract addresses. alto: The bundler process.
        bundler: A :class:`~sso_signer.erc4337.BundlerClient` for it. deployer: The account that deployed.
    """

    def __init__(self, *, test_token: bool = True, keep_logs: bool = False, **anvil_args: Any) -> None:
        self.test_token = test_token
        self.keep_logs = keep_logs
        self.anvil_args = anvil_args
        self.node: AnvilNode | None = None
        self.alto: AltoBundler | None = None
        self._deployment: MsaDeployment | None = None
        self._bundler: BundlerClient | None = None
        self.timings: dict[str, float] = {}

    def __repr__(self) -> str:
        if self.node is None or not self.node.running:
            return "LocalErc4337Stack(stopped)"
        bundler = self.alto.url if self.alto is not None and self.alto.running else "-"
        return f"LocalErc4337Stack(node={self.node.url}, bundler={bundler})"

    def start(self) -> LocalErc4337Stack:
        """Start anvil, deploy everything, start Alto. On any failure everything started is stopped.

        Raises:
            NodeBinaryNotFound, NodeStartFailed: A process could not start.
            ArtifactNotFound: The contracts are not built.
        """
        t0 = time.monotonic()
        try:
            self.node = AnvilNode(keep_logs=self.keep_logs, **self.anvil_args).start()
            self.timings["anvil"] = time.monotonic() - t0
            t1 = time.monotonic()
            self._deployment = deploy_msa_contracts(self.node.eth, self.deployer, test_token=self.test_token)
            self.timings["deploy"] = time.monotonic() - t1
            t2 = time.monotonic()
            self.alto = AltoBundler.for_node(
                self.node,
                entry_points=(self._deployment.entry_point,),
                executor_index=_EXECUTOR_INDEX,
                utility_index=_UTILITY_INDEX,
                keep_logs=self.keep_logs,
            ).start()
            self.timings["alto"] = time.monotonic() - t2
            self._bundler = BundlerClient(self.alto.url, entry_point=self._deployment.entry_point)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop Alto, then anvil. Safe to call twice."""
        if self._bundler is not None:
            self._bundler.close()
            self._bundler = None
        if self.alto is not None:
            self.alto.stop()
        if self.node is not None:
            self.node.stop()

    def __enter__(self) -> LocalErc4337Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _require_node(self) -> AnvilNode:
        if self.node is None or not self.node.running:
            raise NodeStartFailed("the stack is not running; call start() or use it as a context manager")
        return self.node

    @property
    def eth(self) -> EthClient:
        """A client of the anvil chain."""
        return self._require_node().eth

    @property
    def deployer(self) -> LocalAccount:
        """The funded dev account that deployed the contracts (dev account 0)."""
        return self._require_node().accounts[0]

    @property
    def funder(self) -> LocalAccount:
        """A funded dev account tests may spend from (dev account 1)."""
        return self._require_node().accounts[1]

    @property
    def deployment(self) -> MsaDeployment:
        """The contract addresses."""
        if self._deployment is None:
            raise NodeStartFailed("the stack is not running")
        return self._deployment

    @property
    def bundler(self) -> BundlerClient:
        """A bundler client of the running Alto."""
        if self._bundler is None:
            raise NodeStartFailed("the stack is not running")
        return self._bundler

    @property
    def bundler_url(self) -> str:
        """Alto's URL."""
        if self.alto is None:
            raise NodeStartFailed("the stack is not running")
        return self.alto.url
