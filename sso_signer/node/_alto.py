"""The Pimlico Alto ERC-4337 bundler (npm ``@pimlico/alto``) as a managed local process."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount

from sso_signer.exceptions import NodeStartFailed, RemoteError
from sso_signer.node._anvil import LocalNode
from sso_signer.node._process import ManagedProcess, ProcessOwner, find_executable
from sso_signer.rpc import JsonRpcClient, RetryPolicy
from sso_signer.rpc._types import to_address

__all__ = ["ENTRY_POINT_V08", "AltoBundler"]

ENTRY_POINT_V08 = "0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108"


def _key_hex(key: str | bytes | LocalAccount) -> str:
    if isinstance(key, LocalAccount):
        raw = bytes(key.key)
    elif isinstance(key, bytes):
        raw = key
    else:
        raw = bytes.fromhex(key.removeprefix("0x")) if len(key.removeprefix("0x")) == 64 else b""
    if len(raw) != 32:
        # The key itself is never echoed.
        raise NodeStartFailed("alto: a private key must be 32 bytes (hex, bytes or a LocalAccount)")
    return "0x" + raw.hex()


class AltoBundler(ProcessOwner):
    """Alto, started as ``node <alto.js>`` against a node, on a free loopback port.

    The private keys are handed to Alto through its ``ALTO_*`` environment variables, not the command line,
    so they do not show in the process list; they are also redacted from any log text this object returns.
    Deploying the EntryPoint beforehand is the caller's job (``sso_signer.erc4337``).

    Args:
        rpc_url: The chain's JSON-RPC URL (an anvil node's ``url``).
        entry_points: EntryPoint address(es) to serve.
        executor_private_keys: Funded keys Alto submits bundles with.
        utility_private_key: A funded key for Alto's own set-up transactions (simulation contracts).
        port: A fixed port; default a free one.
        node_binary: The ``node`` executable; default from ``PATH``.
        alto_entry: Path to ``alto.js``; default ``$SSO_SIGNER_ALTO``, then the copy ``sso-signer setup``
            installs, then the checkout's ``node_modules/@pimlico/alto/esm/cli/alto.js``.
        safe_mode: Alto's ``--safe-mode`` (needs a tracing node; off for anvil).
        extra_args: More Alto arguments.
        startup_timeout: Seconds to wait for ``eth_supportedEntryPoints`` to answer.
        keep_logs: Keep the log file after ``stop()``.
    """

    name = "alto"

    def __init__(
        self,
        rpc_url: str,
        *,
        entry_points: Sequence[str] = (ENTRY_POINT_V08,),
        executor_private_keys: Sequence[str | bytes | LocalAccount],
        utility_private_key: str | bytes | LocalAccount,
        port: int | None = None,
        node_binary: str | os.PathLike[str] | None = None,
        alto_entry: str | os.PathLike[str] | None = None,
        safe_mode: bool = False,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 60.0,
        keep_logs: bool = False,
    ) -> None:
        self.rpc_url = rpc_url
        self.entry_points = tuple(to_address(e, "entry_points[]") for e in entry_points)
        if not self.entry_points:
            raise NodeStartFailed("alto: at least one entry point is required")
        if not executor_private_keys:
            raise NodeStartFailed("alto: at least one executor private key is required")
        self._executor_keys = tuple(_key_hex(k) for k in executor_private_keys)
        self._utility_key = _key_hex(utility_private_key)
        self._requested_port = port
        self.node_binary = find_executable(node_binary, "node")
        self.alto_entry = find_executable(alto_entry, "alto")
        self.safe_mode = safe_mode
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.keep_logs = keep_logs

    def __repr__(self) -> str:
        state = self.url if self.running else "stopped"
        return f"AltoBundler({state}, entry_points={list(self.entry_points)})"

    @classmethod
    def for_node(
        cls,
        node: LocalNode,
        *,
        entry_points: Sequence[str] = (ENTRY_POINT_V08,),
        executor_index: int = 8,
        utility_index: int = 7,
        **kwargs: Any,
    ) -> AltoBundler:
        """An Alto for a running local node, paying with two of its funded dev accounts.

        Args:
            node: A started local node.
            entry_points: EntryPoint address(es).
            executor_index: Which dev account submits bundles (a high index keeps it away from tests).
            utility_index: Which dev account Alto uses for set-up.
            **kwargs: More constructor arguments.

        Returns:
            An unstarted bundler.
        """
        accounts = node.accounts
        return cls(
            node.url,
            entry_points=entry_points,
            executor_private_keys=[accounts[executor_index]],
            utility_private_key=accounts[utility_index],
            **kwargs,
        )

    def client(self, **kwargs: Any) -> JsonRpcClient:
        """A new JSON-RPC client on the bundler (the caller closes it)."""
        return JsonRpcClient(self.url, **kwargs)

    def _argv(self, port: int) -> list[str]:
        argv = [self.node_binary, self.alto_entry, "--entrypoints", ",".join(self.entry_points)]
        argv += ["--rpc-url", self.rpc_url, "--port", str(port)]
        return [*argv, "--safe-mode", "true" if self.safe_mode else "false", *self.extra_args]

    def start(self) -> AltoBundler:
        """Start Alto and wait until it answers ``eth_supportedEntryPoints`` with our entry points.

        Returns:
            ``self``.

        Raises:
            NodeStartFailed: If Alto exits or is not ready in time (with the redacted log tail).
        """
        if self.running:
            return self
        env = {
            "ALTO_EXECUTOR_PRIVATE_KEYS": ",".join(self._executor_keys),
            "ALTO_UTILITY_PRIVATE_KEY": self._utility_key,
        }
        secrets = (*self._executor_keys, self._utility_key)
        self._spawn_on_free_port(
            self._requested_port,
            lambda port: ManagedProcess(
                "alto", self._argv(port), env=env, secrets=secrets, keep_logs=self.keep_logs
            ),
            self._ready,
            self.startup_timeout,
            port_taken="eaddrinuse",
            interval=0.1,
        )
        return self

    def _ready(self, url: str) -> bool:
        try:
            with JsonRpcClient(url, timeout=1.0, retry=RetryPolicy(attempts=1)) as rpc:
                served = rpc.request("eth_supportedEntryPoints")
        except RemoteError:
            return False
        if not isinstance(served, list):
            return False
        return {str(e).lower() for e in served} >= {e.lower() for e in self.entry_points}
