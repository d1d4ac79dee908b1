"""Deploy the project's contracts to a node and read/write the deployment JSON the other commands use.

Two stacks:

* **era**: the Era ``WebAuthValidator`` (contracts/src/era). On plain anvil it verifies 0x71 transaction
  signatures through ``eth_call``; there is no AAFactory here (it is EraVM code), so accounts are created on
  a ZKsync node with the official factory, whose address the user gives.
* **erc4337**: EntryPoint v0.8 at its canonical address (deterministic deployer), the ``WebAuthnValidator``
  module, the ``ModularSmartAccount`` implementation, its beacon and the ``MSAFactory``.

The deployment JSON::

    {"chain_id": 31337, "rpc_url": "http://127.0.0.1:8545",
     "era": {"name": "local", "chain_id": 31337, "passkey_validator": "0x…", "account_factory": null, …},
     "erc4337": {"chainId": 31337, "entryPoint": "0x4337…", "factory": "0x…", "beacon": "0x…",
                 "accountImplementation": "0x…", "webauthnValidator": "0x…"}}
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from tempfile import mkstemp
from typing import TYPE_CHECKING, Any

from sso_signer._artifacts import load_artifact
from sso_signer._json import CONFIG_FILE_LIMITS, read_json_file
from sso_signer.accounts import EraNetwork, MsaDeployment, deploy_msa_contracts
from sso_signer.erc4337 import BundlerClient
from sso_signer.exceptions import ConfigurationError, ErrorCode, NodeStartFailed, RemoteError
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.rpc import EthClient, RetryPolicy

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

__all__ = [
    "Deployment",
    "deploy_contracts",
    "deployment_problem",
    "load_deployment",
    "local_stack_deployment",
    "wait_for_deployment",
]


@dataclass(frozen=True, slots=True)
class Deployment:
    """What ``sso-signer deploy`` wrote: the chain and the addresses of each stack deployed on it.

    Attributes:
        chain_id: The chain id.
        rpc_url: The node's URL at deployment time (``None`` if unknown).
        era: The Era network (passkey validator; factory if the user gave one), or ``None``.
        erc4337: The ERC-4337 stack, or ``None``.
        bundler_url: A bundler serving the stack's EntryPoint, if one was started with it.
    """

    chain_id: int
    rpc_url: str | None
    era: EraNetwork | None
    erc4337: MsaDeployment | None
    bundler_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to the deployment file."""
        return {
            "chain_id": self.chain_id,
            "rpc_url": self.rpc_url,
            "era": self.era.to_json() if self.era is not None else None,
            "erc4337": self.erc4337.to_json() if self.erc4337 is not None else None,
            "bundler_url": self.bundler_url,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the deployment JSON (replacing the file atomically, so it is never half-written).

        The temporary file is a new one with a random name (``mkstemp``, ``O_EXCL``): a link planted in the
        directory is never followed, and concurrent saves never write into each other's file.
        """
        target = pathlib.Path(path)
        fd, temporary = mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(self.to_json(), indent=2) + "\n")
            os.chmod(temporary, 0o644)  # mkstemp's 0600; the file holds no secret and is shared like before
            os.replace(temporary, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)

    def require_erc4337(self) -> MsaDeployment:
        """The ERC-4337 section.

        Raises:
            ConfigurationError (``INVALID_DEPLOYMENT``): If the deployment has no ERC-4337 stack.
        """
        if self.erc4337 is None:
            raise ConfigurationError(
                "the deployment has no 'erc4337' section (deploy with --stack erc4337)",
                rule=ErrorCode.INVALID_DEPLOYMENT,
            )
        return self.erc4337


def load_deployment(path: str | os.PathLike[str]) -> Deployment:
    """Read a deployment JSON.

    Raises:
        ConfigurationError (``INVALID_DEPLOYMENT``): If the file is unreadable or malformed.
    """
    data = read_json_file(
        path,
        limits=CONFIG_FILE_LIMITS,
        error=lambda message: ConfigurationError(f"{path}: {message}", rule=ErrorCode.INVALID_DEPLOYMENT),
        what="deployment JSON",
    )
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: expected a JSON object", rule=ErrorCode.INVALID_DEPLOYMENT)
    chain_id = data.get("chain_id")
    if isinstance(chain_id, bool) or not isinstance(chain_id, int):
        raise ConfigurationError(f"{path}: chain_id must be an integer", rule=ErrorCode.INVALID_DEPLOYMENT)
    rpc_url, era, erc, bundler = (data.get(k) for k in ("rpc_url", "era", "erc4337", "bundler_url"))
    return Deployment(
        chain_id,
        rpc_url if isinstance(rpc_url, str) else None,
        EraNetwork.from_json({"chain_id": chain_id, **era}) if isinstance(era, dict) else None,
        MsaDeployment.from_json(erc) if isinstance(erc, dict) else None,
        bundler if isinstance(bundler, str) else None,
    )


def local_stack_deployment(stack: LocalErc4337Stack) -> Deployment:
    """A running local ERC-4337 stack's addresses, plus an Era ``WebAuthValidator`` deployed on its chain.

    Raises:
        NodeStartFailed: If the stack is not running.
        TransactionReverted, RpcError: If the validator's deployment failed.
    """
    node = stack.node
    if node is None:
        raise NodeStartFailed("the local stack is not running")
    validator, _ = stack.eth.deploy_contract(stack.deployer, load_artifact("WebAuthValidator").deploy_data())
    chain_id = stack.deployment.chain_id
    era = EraNetwork(name="local", chain_id=chain_id, passkey_validator=validator, rpc_url=node.url)
    return Deployment(chain_id, node.url, era, stack.deployment, stack.bundler_url)


def deploy_contracts(
    eth: EthClient,
    deployer: LocalAccount,
    *,
    stacks: tuple[str, ...] = ("era", "erc4337"),
    rpc_url: str | None = None,
    era_factory: str | None = None,
    test_token: bool = False,
    progress: Callable[[str], None] = lambda _message: None,
) -> Deployment:
    """Deploy the chosen stacks with ``deployer`` and return their addresses.

    Args:
        eth: A client of the target chain.
        deployer: A funded EOA (its key stays in eth-account).
        stacks: ``"era"`` and/or ``"erc4337"``.
        rpc_url: Recorded in the deployment JSON.
        era_factory: An AAFactory already on the chain (ZKsync nodes), recorded in the Era section.
        test_token: Also deploy the mintable test ERC-20 of the ERC-4337 stack.
        progress: Called with one line per contract.

    Returns:
        The deployment.

    Raises:
        ConfigurationError (``ARTIFACT_NOT_FOUND``): The contracts are not built (scripts/build-contracts.sh).
        ConfigurationError: An unknown stack name.
        TransactionReverted, RpcError: A deployment failed.
    """
    unknown = set(stacks) - {"era", "erc4337"}
    if unknown or not stacks:
        raise ConfigurationError(f"unknown stack(s) {sorted(unknown)}; choose from era, erc4337")
    chain_id = eth.chain_id()
    era: EraNetwork | None = None
    erc: MsaDeployment | None = None
    if "era" in stacks:
        validator, _ = eth.deploy_contract(deployer, load_artifact("WebAuthValidator").deploy_data())
        progress(f"Era WebAuthValidator at {validator}")
        era = EraNetwork(
            name="local",
            chain_id=chain_id,
            passkey_validator=validator,
            rpc_url=rpc_url,
            account_factory=era_factory,
        )
    if "erc4337" in stacks:
        erc = deploy_msa_contracts(eth, deployer, test_token=test_token)
        progress(f"EntryPoint v0.8 at {erc.entry_point}")
        progress(f"ERC-4337 WebAuthnValidator at {erc.webauthn_validator}")
        progress(f"ModularSmartAccount implementation at {erc.account_implementation}")
        progress(f"MSABeacon at {erc.beacon}")
        progress(f"MSAFactory at {erc.factory}")
        if erc.test_token is not None:
            progress(f"test ERC-20 token at {erc.test_token}")
    return Deployment(chain_id, rpc_url, era, erc)


def deployment_problem(deployment: Deployment, *, timeout: float = 2.0) -> str | None:
    """Why the services a deployment names are not ready, or ``None`` when every one answers.

    The node must answer ``eth_chainId`` with the recorded chain id and hold the recorded contracts' code; the
    bundler (if any) must serve the recorded EntryPoint.

    Args:
        deployment: The deployment to check.
        timeout: Seconds per request.

    Returns:
        ``None`` when ready, else a short reason.
    """
    if deployment.rpc_url is None:
        return "the deployment records no rpc_url"
    once = RetryPolicy(attempts=1)
    try:
        with EthClient(deployment.rpc_url, timeout=timeout, retry=once) as eth:
            chain_id = eth.chain_id()
            if chain_id != deployment.chain_id:
                return f"{deployment.rpc_url} is chain {chain_id}, the deployment says {deployment.chain_id}"
            contracts = []
            if deployment.erc4337 is not None:
                contracts += [deployment.erc4337.entry_point, deployment.erc4337.factory]
            if deployment.era is not None:
                contracts.append(deployment.era.passkey_validator)
            for address in contracts:
                if not eth.get_code(address):
                    return f"no contract at {address} on {deployment.rpc_url}"
        if deployment.bundler_url is not None and deployment.erc4337 is not None:
            entry_point = deployment.erc4337.entry_point
            with BundlerClient(
                deployment.bundler_url, entry_point=entry_point, timeout=timeout, retry=once
            ) as b:
                served = {e.lower() for e in b.supported_entry_points()}
            if entry_point.lower() not in served:
                return f"the bundler at {deployment.bundler_url} does not serve {entry_point}"
    except RemoteError as exc:  # refused connections, timeouts, error answers: not ready yet
        return f"not answering: {exc}"
    return None


def wait_for_deployment(
    path: str | os.PathLike[str], *, timeout: float = 120.0, interval: float = 0.25
) -> Deployment:
    """Block until ``path`` holds a deployment whose node (and bundler) answer.

    ``sso-signer node start`` writes the file atomically once everything is up, so a reader never sees a
    half-written file; this also probes the services, so a file left over from a stopped node is not taken
    for a ready one.

    Args:
        path: The deployment JSON ``node start --out`` writes.
        timeout: Seconds to wait.
        interval: Seconds between checks.

    Returns:
        The ready deployment.

    Raises:
        NodeStartFailed: If it is not ready within ``timeout`` (the message says what was missing last).
    """
    deadline = time.monotonic() + timeout
    target = pathlib.Path(path)
    while True:
        if not target.exists():
            reason = f"{target} does not exist yet"
        else:
            try:
                deployment = load_deployment(target)
            except ConfigurationError as exc:
                if exc.rule is not ErrorCode.INVALID_DEPLOYMENT:
                    raise
                reason = str(exc)
            else:
                problem = deployment_problem(deployment)
                if problem is None:
                    return deployment
                reason = problem
        if time.monotonic() >= deadline:
            raise NodeStartFailed(f"{target} not ready within {timeout:g} s: {reason}")
        time.sleep(interval)
