"""Where the SSO contracts live: Era network presets and the factory facts read at run time; the ERC-4337
deployment (:class:`MsaDeployment`) and :func:`deploy_msa_contracts`, which puts it on a chain.

The official ZKsync Era Sepolia contracts (chain 300, ``sso-era.md`` §5) are known addresses; the factory's
immutables are not copied here but read each time (:func:`read_factory_info`), so an upgrade cannot leave a
stale constant. A local anvil-zksync node (chain 260) has no official deployment: its addresses come from the
user (:func:`local_era_network`) or a deployment JSON from ``sso-signer deploy``
(:meth:`EraNetwork.from_deployment`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields, replace
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount

from sso_signer._artifacts import load_artifact
from sso_signer._json import CONFIG_FILE_LIMITS, parse_json, read_json_file
from sso_signer.erc4337 import deploy_entry_point_v08
from sso_signer.exceptions import ConfigurationError, ErrorCode, RemoteError, RpcError
from sso_signer.rpc import EthClient
from sso_signer.sso._signature import checksum_address, function_selector

__all__ = [
    "ERA_SEPOLIA",
    "ERA_SEPOLIA_CHAIN_ID",
    "LOCAL_ERA_CHAIN_ID",
    "NETWORK_PRESETS",
    "EraNetwork",
    "FactoryInfo",
    "MsaDeployment",
    "deploy_msa_contracts",
    "local_era_network",
    "network_preset",
    "read_factory_info",
]

ERA_SEPOLIA_CHAIN_ID = 300
LOCAL_ERA_CHAIN_ID = 260


def required_contract(address: str | None, missing: str) -> str:
    """``address``, or ConfigurationError (``MISSING_CONTRACT_ADDRESS``) saying what is ``missing``."""
    if address is None:
        raise ConfigurationError(missing, rule=ErrorCode.MISSING_CONTRACT_ADDRESS)
    return address


def _optional_address(value: object, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{field}: expected an address string, got {type(value).__name__}",
            rule=ErrorCode.INVALID_DEPLOYMENT,
        )
    return checksum_address(value, field=field)


_ERA_OPTIONAL_ADDRESSES: Final = (
    "account_factory",
    "session_validator",
    "recovery_validator",
    "oidc_recovery_validator",
    "paymaster",
)


@dataclass(frozen=True, slots=True)
class EraNetwork:
    """Where the Era SSO contracts of one chain live.

    Attributes:
        name: Preset or user name (``"era-sepolia"``, ``"local"``).
        chain_id: The L2 chain id.
        passkey_validator: The WebAuthValidator (proxy) address: the one contract every passkey flow needs.
        rpc_url: A default JSON-RPC endpoint, or ``None`` if the user must give one.
        account_factory: The AAFactory (proxy), needed to create accounts.
        session_validator: SessionKeyValidator, installed without data when creating accounts if set.
        recovery_validator: GuardianRecoveryValidator, installed without data when creating accounts if set.
        oidc_recovery_validator: OidcRecoveryValidator (informational).
        paymaster: A paymaster that sponsors account operations (the auth server's), informational.

    Raises (at construction):
        InvalidEncoding (``INVALID_ADDRESS``): If an address is not 0x + 40 hex digits or has a bad EIP-55
            checksum.
        ConfigurationError (``INVALID_DEPLOYMENT``): If ``chain_id`` is not a positive integer.
    """

    name: str
    chain_id: int
    passkey_validator: str
    rpc_url: str | None = None
    account_factory: str | None = None
    session_validator: str | None = None
    recovery_validator: str | None = None
    oidc_recovery_validator: str | None = None
    paymaster: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int) or self.chain_id <= 0:
            raise ConfigurationError(
                f"chain_id: expected a positive integer, got {self.chain_id!r}",
                rule=ErrorCode.INVALID_DEPLOYMENT,
            )
        object.__setattr__(
            self, "passkey_validator", checksum_address(self.passkey_validator, field="passkey_validator")
        )
        for name in _ERA_OPTIONAL_ADDRESSES:
            object.__setattr__(self, name, _optional_address(getattr(self, name), name))

    def require_factory(self) -> str:
        """Return the factory address.

        Raises:
            ConfigurationError (``MISSING_CONTRACT_ADDRESS``): If the network has none (a local node without a
                deployed factory).
        """
        return required_contract(
            self.account_factory,
            f"network {self.name!r} (chain {self.chain_id}) has no account factory; "
            "give one with --factory or in the deployment JSON",
        )

    def with_rpc_url(self, rpc_url: str | None) -> EraNetwork:
        """A copy with another RPC endpoint (``None`` keeps the current one)."""
        return self if rpc_url is None else replace(self, rpc_url=rpc_url)

    def to_json(self) -> dict[str, Any]:
        """The network as a JSON object (the ``era`` section of a deployment file)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, name: str | None = None) -> EraNetwork:
        """Build a network from a JSON object (as :meth:`to_json` writes it).

        Args:
            data: Keys ``chain_id``, ``passkey_validator`` and optionally the other attributes. camelCase
                keys as the official ``era-sepolia.json`` uses (``passkey``, ``accountFactory``, ``session``,
                ``recovery``, ``recoveryOidc``, ``accountPaymaster``) are accepted too.
            name: Overrides ``data["name"]``.

        Returns:
            The network.

        Raises:
            ConfigurationError (``INVALID_DEPLOYMENT``): If ``chain_id`` or ``passkey_validator`` is missing
                or malformed.
            InvalidEncoding (``INVALID_ADDRESS``): If an address is malformed.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError("network: expected a JSON object", rule=ErrorCode.INVALID_DEPLOYMENT)
        aliases = {
            "passkey": "passkey_validator",
            "accountFactory": "account_factory",
            "session": "session_validator",
            "recovery": "recovery_validator",
            "recoveryOidc": "oidc_recovery_validator",
            "accountPaymaster": "paymaster",
            "chainId": "chain_id",
            "rpcUrl": "rpc_url",
        }
        known = {f.name for f in fields(cls)}
        values = {aliases.get(k, k): v for k, v in data.items() if aliases.get(k, k) in known}
        if name is not None:
            values["name"] = name
        values.setdefault("name", "custom")
        for required in ("chain_id", "passkey_validator"):
            if required not in values:
                raise ConfigurationError(f"network: missing {required!r}", rule=ErrorCode.INVALID_DEPLOYMENT)
        if values.get("rpc_url") is not None and not isinstance(values["rpc_url"], str):
            raise ConfigurationError("rpc_url: expected a string", rule=ErrorCode.INVALID_DEPLOYMENT)
        if not isinstance(values["name"], str):
            raise ConfigurationError("name: expected a string", rule=ErrorCode.INVALID_DEPLOYMENT)
        return cls(**values)

    @classmethod
    def from_deployment(cls, path: str | os.PathLike[str]) -> EraNetwork:
        """Read the ``era`` section of a deployment JSON written by ``sso-signer deploy``.

        Raises:
            ConfigurationError (``INVALID_DEPLOYMENT``): If the file is unreadable, not JSON or has no usable
                ``era`` section.
        """
        data = read_json_file(
            path,
            limits=CONFIG_FILE_LIMITS,
            error=lambda message: ConfigurationError(f"{path}: {message}", rule=ErrorCode.INVALID_DEPLOYMENT),
            what="deployment JSON",
        )
        if not isinstance(data, dict) or not isinstance(data.get("era"), dict):
            raise ConfigurationError(
                f"{path}: no 'era' object in the deployment JSON", rule=ErrorCode.INVALID_DEPLOYMENT
            )
        era = dict(data["era"])
        era.setdefault("chain_id", data.get("chain_id"))
        era.setdefault("rpc_url", data.get("rpc_url"))
        return cls.from_json(era)


#: ZKsync Era Sepolia, official native-AA deployment (sso-era.md §5, last native-AA auth-server store).
ERA_SEPOLIA = EraNetwork(
    name="era-sepolia",
    chain_id=ERA_SEPOLIA_CHAIN_ID,
    rpc_url="https://sepolia.era.zksync.dev",
    passkey_validator="0x006ecc2D79242F1986b7cb5F636d6E3f499f1026",
    account_factory="0x7230ae6D4a2C367ff8493a76c15F8832c62f9fE9",
    session_validator="0x64Fa4b6fCF655024e6d540E0dFcA4142107D4fBC",
    recovery_validator="0x6AA83E35439D71F28273Df396BC7768dbaA9849D",
    oidc_recovery_validator="0x6E4085794CaaEa6A24E1F9a1B9dAF155e57FD5bb",
    paymaster="0x173acECF12b50D805Df78125d90CABC6Bf81A291",
)

NETWORK_PRESETS: Mapping[str, EraNetwork] = {ERA_SEPOLIA.name: ERA_SEPOLIA}


def network_preset(name: str) -> EraNetwork:
    """Return a named preset.

    Raises:
        ConfigurationError (``UNKNOWN_NETWORK``): If no preset has that name. (A local node has no preset: use
            :func:`local_era_network` or a deployment JSON.)
    """
    try:
        return NETWORK_PRESETS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(NETWORK_PRESETS))
        raise ConfigurationError(
            f"unknown network {name!r}; presets: {known} (a local node needs its addresses: "
            "--deployment FILE or --validator/--factory)",
            rule=ErrorCode.UNKNOWN_NETWORK,
        ) from None


def local_era_network(
    *,
    passkey_validator: str,
    account_factory: str | None = None,
    rpc_url: str | None = None,
    chain_id: int = LOCAL_ERA_CHAIN_ID,
    session_validator: str | None = None,
    recovery_validator: str | None = None,
) -> EraNetwork:
    """A local anvil-zksync network with user-supplied addresses (there is no official local deployment).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If an address is malformed.
    """
    return EraNetwork(
        name="local",
        chain_id=chain_id,
        passkey_validator=passkey_validator,
        rpc_url=rpc_url,
        account_factory=account_factory,
        session_validator=session_validator,
        recovery_validator=recovery_validator,
    )


@dataclass(frozen=True, slots=True)
class FactoryInfo:
    """The AAFactory immutables that decide an account's address, read from the chain.

    Attributes:
        factory: The factory (proxy) address.
        beacon: The SsoBeacon every account proxy points at.
        beacon_proxy_bytecode_hash: EraVM bytecode hash of AccountProxy.
        encoded_beacon: ``getEncodedBeacon()``, i.e. ``abi.encode(beacon)``: the proxies' constructor input.
        passkey_module: ``passKeyModule()`` if the factory exposes it, else ``None``.
        session_module: ``sessionKeyModule()`` if the factory exposes it, else ``None``.
    """

    factory: str
    beacon: str
    beacon_proxy_bytecode_hash: bytes
    encoded_beacon: bytes
    passkey_module: str | None = None
    session_module: str | None = None


def _view(client: EthClient, factory: str, function: str) -> bytes:
    """Call one of the AAFactory's view functions (sso-era.md §2.1) without arguments."""
    try:
        return bytes(client.call({"to": factory, "data": function_selector(function, [])}))
    except RpcError as exc:
        raise RemoteError(
            f"factory {factory}: {function}() failed ({exc})", rule=ErrorCode.FACTORY_UNREADABLE
        ) from exc


def _optional_module(client: EthClient, factory: str, function: str) -> str | None:
    try:
        (address,) = abi_decode(["address"], _view(client, factory, function))
    except RemoteError as exc:
        if exc.rule is not ErrorCode.FACTORY_UNREADABLE:
            raise  # a failed transport or a malformed answer is not a missing getter
        return None  # older factories do not expose the module getters (the call reverts)
    except (DecodingError, ValueError, OverflowError):
        return None
    return checksum_address(str(address))


def read_factory_info(client: EthClient, factory: str) -> FactoryInfo:
    """Read ``beaconProxyBytecodeHash()`` and ``getEncodedBeacon()`` (and the module getters) from a factory.

    Args:
        client: An ``EthClient`` (anything with ``call(tx)``) on the factory's chain.
        factory: The AAFactory (proxy) address.

    Returns:
        The factory facts needed to predict account addresses.

    Raises:
        RemoteError (``FACTORY_UNREADABLE``): If a call fails or answers something that is not an AAFactory's
            answer.
        InvalidEncoding (``INVALID_ADDRESS``): If ``factory`` is malformed.
    """
    factory = checksum_address(factory, field="factory")
    raw_hash = _view(client, factory, "beaconProxyBytecodeHash")
    raw_beacon = _view(client, factory, "getEncodedBeacon")
    try:
        (bytecode_hash,) = abi_decode(["bytes32"], raw_hash)
        (encoded,) = abi_decode(["bytes"], raw_beacon)
        (beacon,) = abi_decode(["address"], bytes(encoded))
    except (DecodingError, ValueError, OverflowError) as exc:
        raise RemoteError(
            f"factory {factory}: answers do not decode as an AAFactory's ({exc})",
            rule=ErrorCode.FACTORY_UNREADABLE,
        ) from exc
    if len(raw_hash) != 32 or bytes(bytecode_hash)[:1] != b"\x01":
        raise RemoteError(
            f"factory {factory}: beaconProxyBytecodeHash is not an EraVM bytecode hash",
            rule=ErrorCode.FACTORY_UNREADABLE,
        )
    return FactoryInfo(
        factory=factory,
        beacon=checksum_address(str(beacon)),
        beacon_proxy_bytecode_hash=bytes(bytecode_hash),
        encoded_beacon=bytes(encoded),
        passkey_module=_optional_module(client, factory, "passKeyModule"),
        session_module=_optional_module(client, factory, "sessionKeyModule"),
    )


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
        session_validator: The ``SessionKeyValidator`` module (session keys), when deployed.
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
    session_validator: str | None = None

    def __post_init__(self) -> None:
        for name in ("entry_point", "factory", "beacon", "account_implementation", "webauthn_validator"):
            object.__setattr__(self, name, checksum_address(getattr(self, name), field=name))
        for name in ("eoa_validator", "test_token", "guardian_executor", "session_validator"):
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
            # The attributes in camelCase; those without a default are required.
            values: dict[str, Any] = {
                f.name: data[_camel(f.name)] if f.default is MISSING else data.get(_camel(f.name))
                for f in fields(cls)
            }
            return cls(**{**values, "chain_id": int(values["chain_id"])})
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
    factory, WebAuthn and EOA validators, the ``GuardianExecutor`` bound to those two validators, the
    ``SessionKeyValidator``) from the built artifacts.

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
        EntryPointError (``ENTRY_POINT_DEPLOYMENT_FAILED``, ``ENTRY_POINT_ARTIFACT_MISMATCH``): If EntryPoint
            v0.8 cannot be put in place.
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
    session_validator, _ = eth.deploy_contract(deployer, load_artifact("SessionKeyValidator").deploy_data())
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
        session_validator=session_validator,
    )
