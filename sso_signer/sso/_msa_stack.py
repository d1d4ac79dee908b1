"""Deploying the ERC-4337 SSO contracts on a chain: EntryPoint v0.8, the WebAuthn validator, the modular
account behind a beacon and its factory, and the guardian recovery executor.

:func:`deploy_msa_contracts` only sends transactions through an :class:`~sso_signer.rpc.EthClient`; starting
processes (anvil, Alto) is left to :class:`sso_signer.local_erc4337.LocalErc4337Stack`, since this room
does not manage processes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from sso_signer._artifacts import load_artifact
from sso_signer._json import CONFIG_FILE_LIMITS, parse_json
from sso_signer.erc4337 import deploy_entry_point_v08
from sso_signer.exceptions import ConfigurationError, ErrorCode
from sso_signer.rpc import EthClient
from sso_signer.sso._signature import checksum_address

__all__ = ["MsaDeployment", "deploy_msa_contracts"]


@dataclass(frozen=True, slots=True)
class MsaDeployment:
    """Where the ERC-4337 SSO contracts live on one chain (what the official ``contracts.json`` lists).

    Attributes:
        chain_id: The chain.
        entry_point: EntryPoint v0.8.
        factory: ``MSAFactory`` (``deployAccount(bytes32,bytes)``).
        beacon: The beacon the account proxies follow.
        account_implementation: The ``ModularSmartAccount`` implementation behind the beacon.
        webauthn_validator: The ``WebAuthnValidator`` module.
        eoa_validator: The ``EOAKeyValidator`` module, when deployed.
        test_token: A mintable ERC-20 for local tests, when deployed.
        guardian_executor: The ``GuardianExecutor`` module (guardian recovery), when deployed.
    """

    chain_id: int
    entry_point: str
    factory: str
    beacon: str
    account_implementation: str
    webauthn_validator: str
    eoa_validator: str | None = None
    test_token: str | None = None
    guardian_executor: str | None = None

    def __post_init__(self) -> None:
        for name in ("entry_point", "factory", "beacon", "account_implementation", "webauthn_validator"):
            object.__setattr__(self, name, checksum_address(getattr(self, name), field=name))
        for name in ("eoa_validator", "test_token", "guardian_executor"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, checksum_address(value, field=name))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (camelCase keys)."""
        data = asdict(self)
        return {_camel(k): v for k, v in data.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> MsaDeployment:
        """Parse :meth:`to_json` output (a dict or its JSON text).

        Raises:
            ConfigurationError (``SIGNER_CONFIGURATION``): If a key is missing or the text is not JSON.
            InvalidEncoding (``INVALID_ADDRESS``): If an address is malformed.
        """
        if isinstance(data, str):
            data = parse_json(
                data,
                limits=CONFIG_FILE_LIMITS,
                error=functools.partial(ConfigurationError, rule=ErrorCode.SIGNER_CONFIGURATION),
                what="deployment JSON",
            )
        if not isinstance(data, Mapping):
            raise ConfigurationError("deployment JSON must be an object", rule=ErrorCode.SIGNER_CONFIGURATION)
        try:
            return cls(
                chain_id=int(data["chainId"]),
                entry_point=data["entryPoint"],
                factory=data["factory"],
                beacon=data["beacon"],
                account_implementation=data["accountImplementation"],
                webauthn_validator=data["webauthnValidator"],
                eoa_validator=data.get("eoaValidator"),
                test_token=data.get("testToken"),
                guardian_executor=data.get("guardianExecutor"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"deployment JSON: missing or bad key {exc}", rule=ErrorCode.SIGNER_CONFIGURATION
            ) from exc


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def deploy_msa_contracts(
    eth: EthClient, deployer: LocalAccount, *, test_token: bool = False, beacon_owner: str | None = None
) -> MsaDeployment:
    """Deploy EntryPoint v0.8 (if absent) and the SSO ERC-4337 contracts (account implementation, beacon,
    factory, WebAuthn and EOA validators, the ``GuardianExecutor`` bound to those two validators) from the
    built artifacts.

    Args:
        eth: A client of the chain.
        deployer: A funded account sending the deployments.
        test_token: Also deploy the mintable ``Erc4337TestToken``.
        beacon_owner: Who may upgrade the beacon; default the deployer.

    Returns:
        The addresses.

    Raises:
        ConfigurationError (``ARTIFACT_NOT_FOUND``): If the contracts are not built (run
            ``scripts/build-contracts.sh``).
        EntryPointDeploymentFailed, EntryPointArtifactMismatch: If EntryPoint v0.8 cannot be put in place.
        TransactionReverted, RpcError: If a deployment fails.
    """
    chain_id = eth.chain_id()
    entry_point = deploy_entry_point_v08(eth, deployer)
    validator, _ = eth.deploy_contract(deployer, load_artifact("WebAuthnValidator").deploy_data())
    eoa_validator, _ = eth.deploy_contract(deployer, load_artifact("EOAKeyValidator").deploy_data())
    implementation, _ = eth.deploy_contract(deployer, load_artifact("ModularSmartAccount").deploy_data())
    owner = checksum_address(beacon_owner or deployer.address, field="beacon_owner")
    beacon, _ = eth.deploy_contract(deployer, load_artifact("MSABeacon").deploy_data(implementation, owner))
    factory, _ = eth.deploy_contract(deployer, load_artifact("MSAFactory").deploy_data(beacon))
    guardian_executor, _ = eth.deploy_contract(
        deployer, load_artifact("GuardianExecutor").deploy_data(validator, eoa_validator)
    )
    token = None
    if test_token:
        token, _ = eth.deploy_contract(deployer, load_artifact("Erc4337TestToken").deploy_data())
    return MsaDeployment(
        chain_id=chain_id,
        entry_point=entry_point,
        factory=factory,
        beacon=beacon,
        account_implementation=implementation,
        webauthn_validator=validator,
        eoa_validator=eoa_validator,
        test_token=token,
        guardian_executor=guardian_executor,
    )
