"""Shared plumbing of the subcommands: chain, deployment, passkey and deployer-key resolution, value parsing.

Secrets never come from the command line (where ``ps`` and shell history would show them): a passkey
passphrase and a deployer private key are read from environment variables the user names.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import pathlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from eth_account import Account

from sso_signer.accounts import EraNetwork, network_preset
from sso_signer.accounts._sessions import latest_block_flow
from sso_signer.cli._deploy import Deployment, load_deployment
from sso_signer.cli._parser import ENV_DEPLOYER_KEY, ENV_DEPLOYMENT, ENV_KEY, ENV_PASSPHRASE, ENV_RPC
from sso_signer.exceptions import CliUsageError, ConfigurationError, ErrorCode, InvalidKey
from sso_signer.node._anvil import dev_accounts
from sso_signer.webauthn import HeadlessPasskey, PostgresStore, SQLiteStore, open_store
from sso_signer.webauthn._origin import check_origin, check_rp_id

# Not re-exported by sso_signer.zksync yet (rpc helper's room): the private path until it is.
from sso_signer.zksync._client import ZkSyncClient

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from sso_signer.rpc import EthClient

__all__ = [
    "DEV_CHAIN_IDS",
    "ChainContext",
    "check_out_path",
    "key_from_env",
    "load_passkey",
    "load_passkey_file",
    "parse_data",
    "parse_wei",
    "resolve_deployer",
    "store_at",
]

#: Chains whose funded dev accounts (mnemonic ``test … junk``) are used without asking (anvil, anvil-zksync).
DEV_CHAIN_IDS = frozenset({31337, 260})

_UNITS = {"wei": 0, "gwei": 9, "ether": 18, "eth": 18}
_AMOUNT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")
_MAX_WEI = 2**256 - 1
# 2**256 - 1 has 78 digits; room for a unit, a point and trailing zeros, not for a denial of service.
_MAX_AMOUNT_TEXT = 128


def parse_wei(text: str) -> int:
    """Parse an amount: plain wei (``1000``) or with a unit (``0.5ether``, ``2 gwei``, ``1eth``).

    Raises:
        CliUsageError: If the text is not an amount, is not a whole number of wei or exceeds 2**256 - 1 wei.
    """
    if len(text) > _MAX_AMOUNT_TEXT:
        raise CliUsageError(f"amount {text[:20]!r}…: longer than {_MAX_AMOUNT_TEXT} characters")
    match = _AMOUNT.match(text)
    if match is None or match.group(2).lower() not in ("", *_UNITS):
        raise CliUsageError(f"amount {text!r}: expected wei or a number with wei/gwei/ether")
    # Exact integer arithmetic: Decimal's default 28-digit precision would round larger amounts silently.
    decimals = _UNITS.get(match.group(2).lower(), 0)
    whole, _, fraction = match.group(1).partition(".")
    if fraction[decimals:].strip("0"):
        raise CliUsageError(f"amount {text!r}: not a whole number of wei")
    amount = int(whole + fraction[:decimals].ljust(decimals, "0"))
    if amount > _MAX_WEI:
        raise CliUsageError(f"amount {text!r}: more than 2**256 - 1 wei")
    return amount


def parse_data(text: str | None) -> bytes:
    """Parse ``0x``-hex calldata (empty for ``None`` / ``0x``).

    Raises:
        CliUsageError: If the text is not even-length hex.
    """
    if text is None:
        return b""
    body = text[2:] if text.lower().startswith("0x") else text
    try:
        return bytes.fromhex(body)
    except ValueError as exc:
        raise CliUsageError(f"--data: expected 0x-hex bytes, got {text[:20]!r}…") from exc


def check_out_path(path: str, option: str = "--out") -> None:
    """Check, before any work is done, that ``path`` can be written as a file.

    Raises:
        CliUsageError: If it is a directory, its directory is missing or not a directory, or the directory
            is not writable (the file is written next to it and then renamed).
    """
    if not str(path).strip():
        raise CliUsageError(f"{option}: empty path")
    what, target = f"{option} {path}", pathlib.Path(path)
    try:
        if target.is_dir():
            raise CliUsageError(f"{what}: is a directory; give a file path")
        if not target.parent.exists():
            raise CliUsageError(f"{what}: directory {target.parent} does not exist (create it first)")
        if not target.parent.is_dir():
            raise CliUsageError(f"{what}: {target.parent} is not a directory")
        if not os.access(target.parent, os.W_OK | os.X_OK):
            raise CliUsageError(f"{what}: directory {target.parent} is not writable")
        if target.exists() and not target.is_file():
            raise CliUsageError(f"{what}: exists and is not a regular file")
    except OSError as exc:  # a name too long, a loop of links, ...
        raise CliUsageError(f"{option} {path:.80}: {exc.strerror or type(exc).__name__}") from exc


@contextlib.contextmanager
def writing(path: str, option: str = "--out") -> Iterator[None]:
    """Report a failed write of ``path`` (disk full, permissions changed meanwhile) as a typed error.

    Raises:
        CliUsageError: In place of the ``OSError`` (or a key file's ``KEY_FILE_NOT_WRITABLE``) raised inside.
    """
    try:
        yield
    except OSError as exc:
        raise CliUsageError(f"{option} {path}: cannot write ({exc.strerror or type(exc).__name__})") from exc
    except InvalidKey as exc:
        if exc.rule is not ErrorCode.KEY_FILE_NOT_WRITABLE:
            raise
        raise CliUsageError(f"{option} {path}: {exc}") from exc


def check_passkey_scope(rp_id: str, origin: str) -> None:
    """Check ``--rp-id`` / ``--origin`` of a new passkey as a relying party will (the same check), so no key
    file is made that no relying party or validator can ever accept.

    Raises:
        CliUsageError: If a relying party would refuse them (the web origin checks of
            :func:`~sso_signer.webauthn._origin.check_origins`).
    """
    try:
        check_rp_id(rp_id)
        check_origin(rp_id, origin)
    except ConfigurationError as exc:
        raise CliUsageError(f"--rp-id / --origin: {exc}") from exc


def store_at(url: str) -> SQLiteStore | PostgresStore:
    """The relying party's store at ``--store``: a SQLite path or a store URL (``sqlite:///…``, ``postgresql://…``).

    Raises:
        CliUsageError: If a plain SQLite path is a directory or its directory is missing.
        ConfigurationError, StoreUnavailable, StoreCorrupt: As :func:`~sso_signer.webauthn.open_store`.
    """
    if "://" not in url and not url.startswith("sqlite:"):
        check_out_path(url, "--store")  # before any work, as for --out
    return open_store(url)


def format_ether(wei: int) -> str:
    """``1.5 ETH`` style rendering of a wei amount (exact, trailing zeros trimmed)."""
    text = f"{Decimal(wei) / Decimal(10**18):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} ETH"


def load_passkey(args: argparse.Namespace) -> HeadlessPasskey:
    """Load the passkey named by ``--key`` / ``SSO_SIGNER_KEY``, decrypting with the named env var's value.

    Raises:
        ConfigurationError (``MISSING_PASSKEY_FILE``): If no key file is named.
        InvalidKey (``INVALID_KEY_FILE``), WrongPassphrase: From the passkey room.
    """
    path = getattr(args, "key", None) or os.environ.get(ENV_KEY)
    if not path:
        raise ConfigurationError(
            "no passkey file: pass --key FILE or set SSO_SIGNER_KEY", rule=ErrorCode.MISSING_PASSKEY_FILE
        )
    return HeadlessPasskey.load(path, passphrase=passphrase_from_env(args))


def load_passkey_file(path: str, passphrase_env: str | None = None) -> HeadlessPasskey:
    """Load another passkey key file, decrypting with the value of the env variable ``passphrase_env``.

    Raises:
        CliUsageError: If ``passphrase_env`` names an unset variable.
        InvalidKey (``INVALID_KEY_FILE``), WrongPassphrase: From the passkey room.
    """
    passphrase = _env_secret(passphrase_env, passphrase_env) if passphrase_env else None
    return HeadlessPasskey.load(path, passphrase=passphrase)


def passphrase_from_env(args: argparse.Namespace) -> bytes | None:
    """The passphrase from the environment variable named by ``--passphrase-env`` (default
    ``SSO_SIGNER_PASSPHRASE``), or ``None`` if that variable is unset.

    Raises:
        CliUsageError: If ``--passphrase-env`` names a variable that is not set.
    """
    name = getattr(args, "passphrase_env", None)
    if name:
        return _env_secret(name, f"--passphrase-env {name}")
    return _env_secret(ENV_PASSPHRASE, ENV_PASSPHRASE) if ENV_PASSPHRASE in os.environ else None


def _env_secret(name: str, option: str) -> bytes:
    # The variable's bytes exactly (a non-UTF-8 value arrives surrogate-escaped), never a decoding error.
    value = os.environ.get(name)
    if value is None:
        raise CliUsageError(f"{option}: that environment variable is not set")
    return value.encode("utf-8", "surrogateescape")


def key_from_env(args: argparse.Namespace, option: str, default: str) -> tuple[LocalAccount, str] | None:
    """The private key in the environment variable ``option`` (``--deployer-key-env``) names, else in
    ``default`` if that is set.

    Returns:
        ``(account, "$VARIABLE")``, or ``None`` if no variable is named and ``default`` is unset.

    Raises:
        CliUsageError: If the named variable is unset or not a private key.
    """
    name = getattr(args, option[2:].replace("-", "_"), None) or (default if default in os.environ else None)
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise CliUsageError(f"{option} {name}: that environment variable is not set")
    try:
        return Account.from_key(value.strip()), f"${name}"
    except (ValueError, TypeError):
        # ``from None``: the library's message could echo the key material.
        raise CliUsageError(f"${name} does not hold a secp256k1 private key") from None


def resolve_deployer(args: argparse.Namespace, chain_id: int) -> tuple[LocalAccount, str]:
    """The EOA that pays for deployments: from the env var named by ``--deployer-key-env`` (or
    ``SSO_SIGNER_DEPLOYER_KEY``), else the first dev account on a development chain.

    Returns:
        ``(account, where it came from)`` — the second item names the source, never the key.

    Raises:
        ConfigurationError (``MISSING_DEPLOYER_KEY``): On a non-development chain without a key.
        CliUsageError: If the named variable is unset or not a private key.
    """
    found = key_from_env(args, "--deployer-key-env", ENV_DEPLOYER_KEY)
    if found is not None:
        return found
    if chain_id in DEV_CHAIN_IDS:
        return dev_accounts(1)[0], "dev account #0 (test … junk mnemonic)"
    raise ConfigurationError(
        f"chain {chain_id} is not a local development chain: name the environment variable holding the "
        "deployer key with --deployer-key-env VAR",
        rule=ErrorCode.MISSING_DEPLOYER_KEY,
    )


@dataclass
class ChainContext:
    """The chain a command talks to, with the deployment and Era network resolved from the options; a
    context manager that closes it.

    Attributes:
        rpc_url: The node URL.
        deployment: The deployment JSON, if one was given (``--deployment`` / ``SSO_SIGNER_DEPLOYMENT``).
        era: The Era network from ``--network`` / ``--validator`` / the deployment, if any.
    """

    rpc_url: str
    deployment: Deployment | None
    era: EraNetwork | None
    _client: EthClient | None = None
    _cleanups: list[Callable[[], None]] = dataclasses.field(default_factory=list)

    @classmethod
    def from_args(cls, args: argparse.Namespace, *, need_rpc: bool = True) -> ChainContext:
        """Resolve ``--rpc``, ``--deployment``, ``--network``, ``--validator`` and ``--factory``.

        Raises:
            ConfigurationError (``MISSING_RPC_URL``): If no URL can be found and ``need_rpc``.
            ConfigurationError (``INVALID_DEPLOYMENT``, ``UNKNOWN_NETWORK``), InvalidEncoding
                (``INVALID_ADDRESS``): For bad configuration.
        """
        path = getattr(args, "deployment", None) or os.environ.get(ENV_DEPLOYMENT)
        deployment = load_deployment(path) if path else None
        network_name = getattr(args, "network", None)
        era = network_preset(network_name) if network_name else (deployment.era if deployment else None)
        validator = getattr(args, "validator", None)
        factory = getattr(args, "factory", None)
        if validator is not None or factory is not None:
            if era is None and validator is None:
                raise CliUsageError("--factory needs --validator (or a deployment/network with one)")
            base = era.to_json() if era is not None else {"name": "local", "chain_id": 260}
            if validator is not None:
                base["passkey_validator"] = validator
            if factory is not None:
                base["account_factory"] = factory
            era = EraNetwork.from_json(base)
        rpc = (
            getattr(args, "rpc", None)
            or os.environ.get(ENV_RPC)
            or (deployment.rpc_url if deployment is not None else None)
            or (era.rpc_url if era is not None else None)
        )
        if not rpc:
            if need_rpc:
                raise ConfigurationError(
                    "no node URL: pass --rpc URL, set SSO_SIGNER_RPC or use --deployment FILE",
                    rule=ErrorCode.MISSING_RPC_URL,
                )
            rpc = ""
        return cls(rpc, deployment, era)

    @property
    def client(self) -> EthClient:
        """A ``ZkSyncClient`` (an ``EthClient`` with the ``zks_`` namespace) on the URL, created once."""
        if self._client is None:
            self._client = ZkSyncClient(self.rpc_url)
        return self._client

    def chain_time(self) -> int:
        """The latest block's timestamp: the clock session expiries and recovery delays are read against.

        Raises:
            MalformedRpcResponse: If the latest block has no timestamp.
        """
        return self.client.run(latest_block_flow())[0]

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` when the context closes (e.g. close a relying-party store)."""
        self._cleanups.append(cleanup)

    def close(self) -> None:
        """Close the client's connection pool and whatever was registered with :meth:`on_close`."""
        while self._cleanups:
            self._cleanups.pop()()
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> ChainContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def require_era(self) -> EraNetwork:
        """The Era network.

        Raises:
            ConfigurationError (``MISSING_CONTRACT_ADDRESS``): If none was configured.
        """
        if self.era is None:
            raise ConfigurationError(
                "no Era network: pass --network era-sepolia, --deployment FILE or --validator ADDRESS",
                rule=ErrorCode.MISSING_CONTRACT_ADDRESS,
            )
        chain_id = self.client.chain_id()
        if chain_id != self.era.chain_id:
            if self.era.name != "local":
                raise ConfigurationError(
                    f"the node is chain {chain_id}, network {self.era.name!r} is chain {self.era.chain_id}"
                )
            # User-supplied local addresses: the node decides the chain id.
            self.era = dataclasses.replace(self.era, chain_id=chain_id)
        return self.era
