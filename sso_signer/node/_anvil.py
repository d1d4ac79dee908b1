"""Local chains for tests, the demo and the CLI: ``anvil --hardfork osaka`` and ``anvil-zksync``."""

from __future__ import annotations

import abc
import functools
import os
import re
import shutil
from collections.abc import Sequence
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from sso_signer.exceptions import RemoteError, ToolNotFound
from sso_signer.node._process import ManagedProcess, ProcessOwner, find_executable
from sso_signer.rpc import EthClient, JsonRpcClient, RetryPolicy
from sso_signer.rpc._types import parse_quantity

__all__ = [
    "ANVIL_CHAIN_ID",
    "ANVIL_ZKSYNC_CHAIN_ID",
    "DEV_MNEMONIC",
    "AnvilNode",
    "AnvilZkSyncNode",
    "LocalNode",
    "dev_accounts",
    "start_local_node",
]

DEV_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_CHAIN_ID = 31337
ANVIL_ZKSYNC_CHAIN_ID = 260
_LISTENING = re.compile(r"Listening on (?:[\w.\[\]:]+):(\d+)")
_PRIVATE_KEY = re.compile(r"^\s*\(\d+\)\s+(0x[0-9a-fA-F]{64})\s*$", re.MULTILINE)


def dev_accounts(count: int = 10, mnemonic: str = DEV_MNEMONIC) -> tuple[LocalAccount, ...]:
    """The funded development accounts of a mnemonic (BIP-44 path ``m/44'/60'/0'/0/i``).

    Args:
        count: How many accounts.
        mnemonic: The mnemonic; default anvil's ``test test … junk``.

    Returns:
        eth-account LocalAccounts, index 0 first.
    """
    return _accounts(mnemonic, count)


@functools.lru_cache(maxsize=8)
def _accounts(mnemonic: str, count: int) -> tuple[LocalAccount, ...]:
    # Deriving the keys in pure Python costs several ms per account; nodes share the objects.
    Account.enable_unaudited_hdwallet_features()
    return tuple(Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count))


def printed_private_keys(banner: str) -> tuple[str, ...]:
    """The private keys a node prints at start as numbered lines (``(0) 0x…``), in order, without repeats.

    anvil-zksync prints the same keys in more than one table; the first occurrence of each is kept.
    """
    return tuple(dict.fromkeys(key.lower() for key in _PRIVATE_KEY.findall(banner)))


def _probe(url: str) -> int | None:
    # One quick attempt: readiness polling does its own retrying.
    # Any remote failure (no answer yet, an error, a half-started server's garbage) just means "not ready".
    try:
        with JsonRpcClient(url, timeout=0.5, retry=RetryPolicy(attempts=1)) as rpc:
            return parse_quantity(rpc.request("eth_chainId"), "eth_chainId")
    except RemoteError:
        return None


class LocalNode(ProcessOwner, abc.ABC):
    """What local chains share: the process, ``url``, ``chain_id``, ``accounts``, context management."""

    name = "node"

    def __init__(
        self,
        binary: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        chain_id: int | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
        keep_logs: bool = False,
    ) -> None:
        self.binary = find_executable(binary, self.name)
        self._requested_port = port
        self._requested_chain_id = chain_id
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.keep_logs = keep_logs
        self._chain_id: int | None = None
        self._accounts: tuple[LocalAccount, ...] | None = None
        self._eth: EthClient | None = None

    def __repr__(self) -> str:
        state = self.url if self.running else "stopped"
        return f"{type(self).__name__}({state})"

    # -- lifecycle ------------------------------------------------------------------------------------------

    @abc.abstractmethod
    def start(self) -> LocalNode:
        """Start the node and wait until it answers ``eth_chainId``.

        Returns:
            ``self``.

        Raises:
            ToolNotFound (``NODE_BINARY_NOT_FOUND``): If the binary is missing.
            NodeStartFailed: If it exits or is not ready in time (the message carries the redacted log tail).
        """

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the node: terminate, kill after ``timeout`` seconds, reap. Safe to call twice."""
        if self._eth is not None:
            self._eth.close()
            self._eth = None
        super().stop(timeout)

    # -- state ----------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1."""
        self._require()
        assert self._port is not None
        return self._port

    @property
    def chain_id(self) -> int:
        """The chain id the node reported at start."""
        self._require()
        assert self._chain_id is not None
        return self._chain_id

    @property
    def accounts(self) -> tuple[LocalAccount, ...]:
        """The node's funded development accounts."""
        self._require()
        if self._accounts is None:
            self._accounts = self._load_accounts()
        return self._accounts

    def _load_accounts(self) -> tuple[LocalAccount, ...]:
        # Derived on first use: HD derivation costs ~0.3 s, more than anvil takes to start.
        return ()

    @property
    def eth(self) -> EthClient:
        """A shared :class:`EthClient` on this node (closed by ``stop()``)."""
        self._require()
        if self._eth is None:
            self._eth = EthClient(self.url)
        return self._eth

    def client(self, **kwargs: Any) -> EthClient:
        """A new :class:`EthClient` on this node (the caller closes it)."""
        return EthClient(self.url, **kwargs)

    def _base_argv(self, port: int) -> list[str]:
        chain_id = [] if self._requested_chain_id is None else ["--chain-id", str(self._requested_chain_id)]
        return [self.binary, "--host", "127.0.0.1", "--port", str(port), *chain_id]

    def _rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        # Node-control methods are never retried: evm_mine twice mines two blocks.
        return self.eth.rpc.request(method, params, retry=False)


class AnvilNode(LocalNode):
    """``anvil --hardfork osaka`` on a free loopback port (the P-256 precompile is at ``0x100``).

    Args:
        binary: Path to anvil; default ``$SSO_SIGNER_ANVIL``, the copy ``sso-signer setup`` installs, the
            checkout's ``node_modules``, then ``PATH``.
        port: A fixed port; default lets anvil pick a free one (no race with other processes).
        chain_id: Chain id (anvil's default is 31337).
        hardfork: The hardfork (``osaka`` serves EIP-7951's P-256 precompile).
        accounts: How many funded dev accounts.
        balance: Ether per dev account (anvil's default 10000).
        mnemonic: Mnemonic of the dev accounts (a non-default one is visible in the process list: anvil
            reads it only from its command line).
        block_time: Seconds between blocks; default mines each transaction at once.
        extra_args: More anvil arguments.
        startup_timeout: Seconds to wait for readiness.
        keep_logs: Keep the log file after ``stop()``.
    """

    name = "anvil"

    def __init__(
        self,
        binary: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        chain_id: int | None = None,
        hardfork: str = "osaka",
        accounts: int = 10,
        balance: int | None = None,
        mnemonic: str = DEV_MNEMONIC,
        block_time: float | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 15.0,
        keep_logs: bool = False,
    ) -> None:
        super().__init__(
            binary,
            port=port,
            chain_id=chain_id,
            extra_args=extra_args,
            startup_timeout=startup_timeout,
            keep_logs=keep_logs,
        )
        self.hardfork = hardfork
        self.account_count = accounts
        self.balance = balance
        self._mnemonic = mnemonic
        self.block_time = block_time

    def _argv(self) -> list[str]:
        argv = self._base_argv(self._requested_port or 0)
        argv += ["--hardfork", self.hardfork, "--accounts", str(self.account_count)]
        if self._mnemonic != DEV_MNEMONIC:
            # anvil takes a mnemonic only on its command line, where the process list shows it; the
            # well-known default is anvil's own and need not be passed.
            argv += ["--mnemonic", self._mnemonic]
        if self.balance is not None:
            argv += ["--balance", str(self.balance)]
        if self.block_time is not None:
            argv += ["--block-time", f"{self.block_time:g}"]
        return argv + list(self.extra_args)

    def start(self) -> AnvilNode:
        """Start anvil and wait until it answers (see :meth:`LocalNode.start`)."""
        if self.running:
            return self
        # Anvil prints the keys as numbered lines, which redact() blanks; the mnemonic is blanked explicitly.
        process = ManagedProcess(self.name, self._argv(), secrets=(self._mnemonic,), keep_logs=self.keep_logs)
        self._process = process
        process.spawn()

        def ready() -> bool:
            if self._port is None:
                match = _LISTENING.search(process.raw_log())
                if match is None:
                    return False
                self._port = int(match.group(1))
            self._chain_id = _probe(f"http://127.0.0.1:{self._port}")
            return self._chain_id is not None

        self._port = None
        process.wait_ready(ready, self.startup_timeout)
        self._accounts = None
        return self

    def _load_accounts(self) -> tuple[LocalAccount, ...]:
        return _accounts(self._mnemonic, self.account_count)

    # -- anvil's control methods, handy for fixtures ------------------------------------------------------

    def set_balance(self, address: str, wei: int) -> None:
        """Set an address's balance (``anvil_setBalance``)."""
        self._rpc("anvil_setBalance", (address, hex(wei)))

    def impersonate(self, address: str) -> None:
        """Let ``eth_sendTransaction`` send from ``address`` without its key (anvil_impersonateAccount)."""
        self._rpc("anvil_impersonateAccount", (address,))

    def stop_impersonating(self, address: str) -> None:
        """Undo :meth:`impersonate`."""
        self._rpc("anvil_stopImpersonatingAccount", (address,))

    def set_code(self, address: str, code: bytes) -> None:
        """Put runtime code at an address (``anvil_setCode``)."""
        self._rpc("anvil_setCode", (address, "0x" + code.hex()))

    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` empty blocks."""
        self._rpc("anvil_mine", (hex(blocks),))

    def snapshot(self) -> str:
        """Snapshot the chain state; returns the id for :meth:`revert`."""
        return str(self._rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> bool:
        """Return the chain to a snapshot (the snapshot is consumed)."""
        return bool(self._rpc("evm_revert", (snapshot_id,)))

    def increase_time(self, seconds: int) -> None:
        """Move the next block's timestamp forward."""
        self._rpc("evm_increaseTime", (hex(seconds),))


class AnvilZkSyncNode(LocalNode):
    """``anvil-zksync`` (the in-memory ZKsync Era node) on a free loopback port; chain id 260 by default.

    The binary is not in any registry this project installs from; pass ``binary=`` or put it on ``PATH``.
    The rich accounts are read from the keys the node prints at start; if it prints none, the documented
    default mnemonic (``test test … junk``) is used.

    Args:
        binary: Path to ``anvil-zksync``; default ``PATH``.
        port: A fixed port; default a free one (retried if another process takes it first).
        chain_id: Chain id (default 260).
        extra_args: More global options (placed before the ``run`` command).
        startup_timeout: Seconds to wait for readiness.
        keep_logs: Keep the log file after ``stop()``.
    """

    name = "anvil-zksync"  # its constructor is LocalNode's, whose defaults are anvil-zksync's

    @staticmethod
    def available(binary: str | None = None) -> bool:
        """``True`` if the binary can be found."""
        try:
            find_executable(binary, "anvil-zksync")
        except ToolNotFound:
            return False
        return True

    def argv(self, port: int) -> list[str]:
        """The command line for ``port``: global options first, then the ``run`` command."""
        return [*self._base_argv(port), *self.extra_args, "run"]

    def start(self) -> AnvilZkSyncNode:
        """Start anvil-zksync and wait until it answers (see :meth:`LocalNode.start`)."""
        if self.running:
            return self

        def ready(url: str) -> bool:
            self._chain_id = _probe(url)
            return self._chain_id is not None

        self._spawn_on_free_port(
            self._requested_port,
            lambda port: ManagedProcess(
                "anvil-zksync", self.argv(port), secrets=(DEV_MNEMONIC,), keep_logs=self.keep_logs
            ),
            ready,
            self.startup_timeout,
            port_taken="in use",
        )
        self._accounts = None
        return self

    def _load_accounts(self) -> tuple[LocalAccount, ...]:
        keys = printed_private_keys(self._require().raw_log())
        return tuple(Account.from_key(k) for k in keys) if keys else dev_accounts(10)


def start_local_node(prefer: str = "anvil-zksync", **kwargs: Any) -> LocalNode:
    """Start the preferred local chain if its binary is present, else plain anvil.

    Args:
        prefer: ``"anvil-zksync"`` (used when found on ``PATH``) or ``"anvil"``.
        **kwargs: Passed to the node's constructor.

    Returns:
        A started node (use it as a context manager to stop it).

    Raises:
        ToolNotFound (``NODE_BINARY_NOT_FOUND``): If no usable binary is found.
        NodeStartFailed: If the node does not start.
    """
    if prefer == "anvil-zksync" and shutil.which("anvil-zksync"):
        return AnvilZkSyncNode(**kwargs).start()
    return AnvilNode(**kwargs).start()
