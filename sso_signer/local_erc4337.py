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

from sso_signer.erc4337 import ENTRY_POINT_V08, BundlerClient
from sso_signer.node import AnvilNode, ManagedProcess, NodeStartFailed, find_executable, free_port
from sso_signer.rpc import EthClient, JsonRpcClient, RetryPolicy, RpcError, RpcTransportError
from sso_signer.sso._msa_stack import MsaDeployment, deploy_msa_contracts

__all__ = ["AltoProcess", "LocalErc4337Stack"]

_ALTO_NPM: Final = ".bin/alto"
_NODE: Final = "node"
# Alto's executor and utility wallets: two dev accounts nobody else uses (the first ones deploy and fund).
_EXECUTOR_INDEX: Final = 8
_UTILITY_INDEX: Final = 9


class AltoProcess:
    """The Pimlico Alto bundler (npm ``@pimlico/alto``) on a free loopback port, against one node.

    Run as ``node <node_modules>/.bin/alto`` so that one PID can be stopped. ``--safe-mode false`` as the
    official bundler config (anvil has no ERC-7562 tracer).

    Args:
        rpc_url: The node's URL.
        executor: The account that submits bundles.
        utility: The account that funds executors.
        entry_point: The EntryPoint to serve.
        startup_timeout: Seconds to wait until it answers ``eth_supportedEntryPoints``.
        keep_logs: Keep the log file after ``stop()``.
    """

    def __init__(
        self,
        rpc_url: str,
        *,
        executor: LocalAccount,
        utility: LocalAccount,
        entry_point: str = ENTRY_POINT_V08,
        startup_timeout: float = 60.0,
        keep_logs: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.rpc_url = rpc_url
        self.entry_point = entry_point
        self.startup_timeout = startup_timeout
        self.keep_logs = keep_logs
        self._executor_key = "0x" + bytes(executor.key).hex()
        self._utility_key = "0x" + bytes(utility.key).hex()
        self.script = find_executable(None, "alto", _ALTO_NPM)
        self.extra_args = extra_args
        self.port: int | None = None
        self._process: ManagedProcess | None = None

    def __repr__(self) -> str:
        return f"AltoProcess({self.url if self.running else 'stopped'})"

    @property
    def running(self) -> bool:
        """``True`` while the bundler process is alive."""
        return self._process is not None and self._process.running

    @property
    def url(self) -> str:
        """The bundler's JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return self._process.pid if self._process is not None else None

    def log_text(self, tail: int | None = None) -> str:
        """Alto's output so far (private keys redacted)."""
        return self._process.log_text(tail=tail) if self._process is not None else ""

    def start(self) -> AltoProcess:
        """Start Alto and wait until it serves the EntryPoint.

        Raises:
            NodeBinaryNotFound: If node or the npm Alto is missing.
            NodeStartFailed: If it exits or is not ready in time (with the redacted log tail).
        """
        if self.running:
            return self
        node = find_executable(None, _NODE, None)
        self.port = free_port()
        argv = [
            node, self.script,
            "--entrypoints", self.entry_point,
            "--executor-private-keys", self._executor_key,
            "--utility-private-key", self._utility_key,
            "--rpc-url", self.rpc_url,
            "--port", str(self.port),
            "--safe-mode", "false",
            *self.extra_args,
        ]
        process = ManagedProcess(
            "alto", argv, secrets=(self._executor_key, self._utility_key), keep_logs=self.keep_logs
        )
        self._process = process
        process.spawn()
        probe = JsonRpcClient(self.url, timeout=1.0, retry=RetryPolicy(attempts=1))

        def ready() -> bool:
            try:
                served = probe.request("eth_supportedEntryPoints")
            except (RpcTransportError, RpcError):
                return False
            return isinstance(served, list) and self.entry_point.lower() in (str(s).lower() for s in served)

        try:
            process.wait_ready(ready, self.startup_timeout, interval=0.1)
        finally:
            probe.close()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate, kill after ``timeout`` seconds, reap. Safe to call twice."""
        if self._process is not None:
            self._process.stop(timeout)

    def __enter__(self) -> AltoProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
        self.alto: AltoProcess | None = None
        self._deployment: MsaDeployment | None = None
        self._bundler: BundlerClient | None = None
        self.timings: dict[str, float] = {}

    def __repr__(self) -> str:
        if self.node is None or not self.node.running:
            return "LocalErc4337Stack(stopped)"
        bundler = self.alto.url if self.alto is not None else "-"
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
            accounts = self.node.accounts
            if len(accounts) <= _UTILITY_INDEX:
                raise NodeStartFailed(
                    f"the stack needs {_UTILITY_INDEX + 1} dev accounts, anvil has {len(accounts)}"
                )
            self.alto = AltoProcess(
                self.node.url, executor=accounts[_EXECUTOR_INDEX], utility=accounts[_UTILITY_INDEX],
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
