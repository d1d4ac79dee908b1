"""Shared plumbing of the subcommands: chain, deployment, passkey and deployer-key resolution, value parsing.

Secrets never come from the command line (where ``ps`` and shell history would show them): a passkey
passphrase and a deployer private key are read from environment variables the user names.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sso_signer._errors import ConfigurationError
from sso_signer.cli._output import CliUsageError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from sso_signer.cli._deploy import Deployment
    from sso_signer.rpc import EthClient
    from sso_signer.sso import EraNetwork
    from sso_signer.webauthn import HeadlessPasskey

__all__ = [
    "DEV_CHAIN_IDS",
    "ENV_DEPLOYER_KEY",
    "ENV_DEPLOYMENT",
    "ENV_KEY",
    "ENV_PASSPHRASE",
    "ENV_RPC",
    "ChainContext",
    "MissingDeployerKey",
    "MissingPasskeyFile",
    "MissingRpcUrl",
    "load_passkey",
    "load_passkey_file",
    "parse_data",
    "parse_wei",
    "resolve_deployer",
]

ENV_RPC = "SSO_SIGNER_RPC"
ENV_DEPLOYMENT = "SSO_SIGNER_DEPLOYMENT"
ENV_KEY = "SSO_SIGNER_KEY"
ENV_PASSPHRASE = "SSO_SIGNER_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
ENV_DEPLOYER_KEY = "SSO_SIGNER_DEPLOYER_KEY"
#: Chains whose funded dev accounts (mnemonic ``test … junk``) are used without asking (anvil, anvil-zksync).
DEV_CHAIN_IDS = frozenset({31337, 260})

_UNITS = {"wei": 0, "gwei": 9, "ether": 18, "eth": 18}
_AMOUNT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")
_MAX_WEI = 2**256 - 1
# 2**256 - 1 has 78 digits; room for a unit, a point and trailing zeros, not for a denial of service.
_MAX_AMOUNT_TEXT = 128


class MissingRpcUrl(ConfigurationError):
    """No node URL: pass --rpc, set SSO_SIGNER_RPC, or use a deployment JSON that records one."""


class MissingPasskeyFile(ConfigurationError):
    """No passkey key file: pass --key or set SSO_SIGNER_KEY (create one with ``passkey create``)."""


class MissingDeployerKey(ConfigurationError):
    """No deployer key for a non-development chain: name an environment variable with --deployer-key-env."""


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


def format_ether(wei: int) -> str:
    """``1.5 ETH`` style rendering of a wei amount (exact, trailing zeros trimmed)."""
    text = f"{Decimal(wei) / Decimal(10**18):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} ETH"


def load_passkey(args: argparse.Namespace) -> HeadlessPasskey:
    """Load the passkey named by ``--key`` / ``SSO_SIGNER_KEY``, decrypting with the named env var's value.

    Raises:
        MissingPasskeyFile: If no key file is named.
        InvalidKeyFile, WrongPassphrase: From the passkey room.
    """
    from sso_signer.webauthn import HeadlessPasskey

    path = getattr(args, "key", None) or os.environ.get(ENV_KEY)
    if not path:
        raise MissingPasskeyFile("no passkey file: pass --key FILE or set SSO_SIGNER_KEY")
    return HeadlessPasskey.load(path, passphrase=passphrase_from_env(args))


def load_passkey_file(path: str, passphrase_env: str | None = None) -> HeadlessPasskey:
    """Load another passkey key file, decrypting with the value of the env variable ``passphrase_env``.

    Raises:
        CliUsageError: If ``passphrase_env`` names an unset variable.
        InvalidKeyFile, WrongPassphrase: From the passkey room.
    """
    from sso_signer.webauthn import HeadlessPasskey

    passphrase = None
    if passphrase_env:
        passphrase = os.environ.get(passphrase_env)
        if passphrase is None:
            raise CliUsageError(f"{passphrase_env}: that environment variable is not set")
    return HeadlessPasskey.load(path, passphrase=passphrase)


def passphrase_from_env(args: argparse.Namespace) -> str | None:
    """The passphrase from the environment variable named by ``--passphrase-env`` (default
    ``SSO_SIGNER_PASSPHRASE``), or ``None`` if that variable is unset.

    Raises:
        CliUsageError: If ``--passphrase-env`` names a variable that is not set.
    """
    name = getattr(args, "passphrase_env", None)
    if name:
        value = os.environ.get(name)
        if value is None:
            raise CliUsageError(f"--passphrase-env {name}: that environment variable is not set")
        return value
    return os.environ.get(ENV_PASSPHRASE)


def resolve_deployer(args: argparse.Namespace, chain_id: int) -> tuple[LocalAccount, str]:
    """The EOA that pays for deployments: from the env var named by ``--deployer-key-env`` (or
    ``SSO_SIGNER_DEPLOYER_KEY``), else the first dev account on a development chain.

    Returns:
        ``(account, where it came from)`` — the second item names the source, never the key.

    Raises:
        MissingDeployerKey: On a non-development chain without a key.
        CliUsageError: If the named variable is unset or not a private key.
    """
    from eth_account import Account

    name = getattr(args, "deployer_key_env", None) or (
        ENV_DEPLOYER_KEY if ENV_DEPLOYER_KEY in os.environ else None
    )
    if name:
        value = os.environ.get(name)
        if not value:
            raise CliUsageError(f"--deployer-key-env {name}: that environment variable is not set")
        try:
            return Account.from_key(value.strip()), f"${name}"
        except (ValueError, TypeError):
            # ``from None``: the library's message could echo the key material.
            raise CliUsageError(f"${name} does not hold a secp256k1 private key") from None
    if chain_id in DEV_CHAIN_IDS:
        from sso_signer.node import dev_accounts

        return dev_accounts(1)[0], "dev account #0 (test … junk mnemonic)"
    raise MissingDeployerKey(
        f"chain {chain_id} is not a local development chain: name the environment variable holding the "
        "deployer key with --deployer-key-env VAR"
    )


@dataclass
class ChainContext:
    """The chain a command talks to, with the deployment and Era network resolved from the options.

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
            MissingRpcUrl: If no URL can be found and ``need_rpc``.
            InvalidDeployment, UnknownNetwork, MalformedAddress: For bad configuration.
        """
        from sso_signer.cli._deploy import load_deployment
        from sso_signer.sso import EraNetwork, network_preset

        path = getattr(args, "deployment", None) or os.environ.get(ENV_DEPLOYMENT)
        deployment = load_deployment(path) if path else None
        era: EraNetwork | None = None
        network_name = getattr(args, "network", None)
        if network_name:
            era = network_preset(network_name)
        elif deployment is not None and deployment.era is not None:
            era = deployment.era
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
                raise MissingRpcUrl(
                    "no node URL: pass --rpc URL, set SSO_SIGNER_RPC or use --deployment FILE"
                )
            rpc = ""
        return cls(rpc, deployment, era)

    @property
    def client(self) -> EthClient:
        """A ``ZkSyncClient`` (an ``EthClient`` with the ``zks_`` namespace) on the URL, created once."""
        if self._client is None:
            # Not re-exported by sso_signer.zksync yet (rpc helper's room): the private path until it is.
            from sso_signer.zksync._client import ZkSyncClient

            self._client = ZkSyncClient(self.rpc_url)
        return self._client

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` when the context closes (e.g. close a relying-party store)."""
        self._cleanups.append(cleanup)

    def close(self) -> None:
        """Close the client's connection pool and whatever was registered with :meth:`on_close`."""
        while self._cleanups:
            self._cleanups.pop()()
        if self._client is not None:
            self._client.close()

    def require_era(self) -> EraNetwork:
        """The Era network.

        Raises:
            MissingContractAddress: If none was configured.
        """
        from sso_signer.sso import MissingContractAddress

        if self.era is None:
            raise MissingContractAddress(
                "no Era network: pass --network era-sepolia, --deployment FILE or --validator ADDRESS"
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
