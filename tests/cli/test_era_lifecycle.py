"""The Era account lifecycle (sso_signer/sso/_era_account.py, _networks.py).

What plain anvil can check is checked against the project's Era WebAuthValidator deployed on it: keys added
and removed with the lifecycle's calldata (sent from an impersonated account address, as the account itself
would), lookups, one-batch preparation, the balance check, and the 0x71 custom signature verified by
``validateTransaction`` through ``eth_call``. Running 0x71 transactions needs anvil-zksync (tests at the end).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from sso_signer._artifacts import load_artifact
from sso_signer.accounts import EraAccount, EraNetwork, network_preset
from sso_signer.accounts._deployment import ERA_SEPOLIA, FactoryInfo, local_era_network, read_factory_info
from sso_signer.accounts._era import (
    ACCOUNT_CREATED_TOPIC,
    add_passkey_calldata,
    era_account_deploy_calldata,
    era_transaction_struct,
    find_account,
    get_account_key,
    predict_era_account_address,
    prepare_era_transaction_flow,
    remove_passkey_calldata,
    webauthn_validation_gas,
)
from sso_signer.exceptions import (
    ConfigurationError,
    ErrorCode,
    ExecutionReverted,
    InsufficientBalance,
    TransactionRejected,
)
from sso_signer.node import AnvilNode
from sso_signer.rpc import AsyncEthClient, EthClient
from sso_signer.sso._owner import PasskeyInitData
from sso_signer.webauthn import HeadlessPasskey, P256PublicKey
from sso_signer.zksync import Eip712Transaction
from tests.errors import raises_rule
from tests.needs import SHARED_VECTORS

VECTORS = SHARED_VECTORS / "sso-era.json"
ORIGIN = "http://localhost:5173"


def prepare_era_transaction(client: Any, account: str, **options: Any) -> Any:
    """The preparation flow, driven by a plain client (no account object, no passkey)."""
    return client.run(prepare_era_transaction_flow(account, **options))


# --- pure: gas, calldata, addresses, networks ---------------------------------------------------------------


def test_validation_gas_follows_the_documented_formula() -> None:
    # ceil(2 × (66,444 + (12,000 − 6,900))) + 16 × (736 − 65): the measured EVM validation, Era's P-256 price,
    # the EraVM margin and the signature bytes beyond the node's 65-byte dummy.
    assert webauthn_validation_gas(736) == math.ceil(2 * (66_444 + 5_100)) + 16 * 671 == 153_824
    # A longer clientDataJSON costs more (JSON parsing, hashing): 160 gas per fat byte, doubled, + calldata.
    assert webauthn_validation_gas(736 + 64) - webauthn_validation_gas(736) == 2 * 160 * 64 + 16 * 64
    # Never the blind 10M-100M of the official code.
    assert 100_000 < webauthn_validation_gas(736) < 200_000


@pytest.mark.parametrize("bad", [-1, True, 1.5, "736"])
def test_validation_gas_rejects_bad_lengths(bad: Any) -> None:
    with raises_rule(ErrorCode.INVALID_INPUT):
        webauthn_validation_gas(bad)


@dataclass(frozen=True)
class _Owner:
    credential_id: bytes
    public_key: P256PublicKey
    origin: str


def test_deploy_calldata_on_era_sepolia_equals_the_published_sdk() -> None:
    if not VECTORS.exists():
        pytest.skip(f"shared vector file {VECTORS} not present")
    vector = json.loads(VECTORS.read_text())["vector6_sdk_run_derived"]
    expected = bytes.fromhex(
        vector["deployProxySsoAccount_calldata_(session,passkey,recovery modules; owner)"][2:]
    )
    # The passkey is the one inside the vector's passkey module entry (second initial validator).
    _, validators, owners = abi_decode(["bytes32", "bytes[]", "address[]"], expected[4:])
    _, init = abi_decode(["address", "bytes"], validators[1])
    data = PasskeyInitData.decode(init)
    owner = _Owner(data.credential_id, P256PublicKey(data.x, data.y), data.origin)
    unique_id, calldata = era_account_deploy_calldata(ERA_SEPOLIA, owner, k1_owners=list(owners))
    assert calldata == expected
    salts = [v for k, v in vector.items() if k.startswith("deployModularAccount_salt")]
    assert ["0x" + unique_id.hex()] == salts


def test_predicted_address_is_the_eravm_create2_formula() -> None:
    info = FactoryInfo(
        factory="0x7230ae6D4a2C367ff8493a76c15F8832c62f9fE9",
        beacon="0x1111111111111111111111111111111111111111",
        beacon_proxy_bytecode_hash=bytes.fromhex("0100" + "0042" + "ab" * 28),
        encoded_beacon=bytes(12) + bytes.fromhex("11" * 20),
    )
    deployer = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    unique_id = bytes(range(32))
    salt = keccak(unique_id + bytes.fromhex(deployer[2:]))
    digest = keccak(
        keccak(b"zksyncCreate2")
        + bytes(12)
        + bytes.fromhex(info.factory[2:])
        + salt
        + info.beacon_proxy_bytecode_hash
        + keccak(info.encoded_beacon)
    )
    predicted = predict_era_account_address(info, deployer=deployer, unique_id=unique_id)
    assert predicted.lower() == "0x" + digest[12:].hex()
    # The deployer is part of the salt: another sender gets another address.
    other = predict_era_account_address(info, deployer="0x" + "22" * 20, unique_id=unique_id)
    assert other != predicted


def test_add_and_remove_calldata_apply_the_validator_checks() -> None:
    key = HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN).public_key
    data = add_passkey_calldata(b"\x01" * 16, key, ORIGIN)
    assert data[:4] == keccak(b"addValidationKey(bytes,bytes32[2],string)")[:4]
    cred, (x, y), origin = abi_decode(["bytes", "bytes32[2]", "string"], data[4:])
    assert (cred, int.from_bytes(x, "big"), int.from_bytes(y, "big"), origin) == (
        b"\x01" * 16,
        key.x,
        key.y,
        ORIGIN,
    )
    with raises_rule(ErrorCode.BAD_CREDENTIAL_ID_LENGTH):
        add_passkey_calldata(b"\x01" * 15, key, ORIGIN)
    with raises_rule(ErrorCode.BAD_DOMAIN_LENGTH):
        add_passkey_calldata(b"\x01" * 16, key, "h" * 254)
    with raises_rule(ErrorCode.EMPTY_PUBLIC_KEY):
        add_passkey_calldata(b"\x01" * 16, (0, 0), ORIGIN)
    removal = remove_passkey_calldata(b"\x02" * 20, ORIGIN)
    assert removal[:4] == keccak(b"removeValidationKey(bytes,string)")[:4]
    assert abi_decode(["bytes", "string"], removal[4:]) == (b"\x02" * 20, ORIGIN)
    with raises_rule(ErrorCode.INVALID_INPUT):
        remove_passkey_calldata("not bytes", ORIGIN)  # type: ignore[arg-type]


def test_network_presets_and_json() -> None:
    assert network_preset("era-sepolia") is ERA_SEPOLIA
    assert ERA_SEPOLIA.chain_id == 300
    assert ERA_SEPOLIA.passkey_validator == "0x006ecc2D79242F1986b7cb5F636d6E3f499f1026"
    with raises_rule(ErrorCode.UNKNOWN_NETWORK, match="era-sepolia"):
        network_preset("mainnet")
    # The official auth-server store uses camelCase names; they are understood.
    official = {
        "chainId": 300,
        "passkey": "0x006ecc2d79242f1986b7cb5f636d6e3f499f1026",
        "accountFactory": "0x7230ae6d4a2c367ff8493a76c15f8832c62f9fe9",
        "session": "0x64fa4b6fcf655024e6d540e0dfca4142107d4fbc",
        "recovery": "0x6aa83e35439d71f28273df396bc7768dbaa9849d",
        "somethingElse": 1,
    }
    parsed = EraNetwork.from_json(official, name="sepolia-copy")
    assert parsed.account_factory == ERA_SEPOLIA.account_factory
    assert parsed.recovery_validator == ERA_SEPOLIA.recovery_validator
    assert EraNetwork.from_json(ERA_SEPOLIA.to_json()) == ERA_SEPOLIA
    with raises_rule(ErrorCode.INVALID_DEPLOYMENT, match="passkey_validator"):
        EraNetwork.from_json({"chain_id": 260})
    with raises_rule(ErrorCode.INVALID_DEPLOYMENT, match="chain_id"):
        EraNetwork(name="x", chain_id=0, passkey_validator=ERA_SEPOLIA.passkey_validator)
    with raises_rule(ErrorCode.INVALID_ADDRESS):
        local_era_network(passkey_validator="0x1234")
    local = local_era_network(passkey_validator="0x" + "ab" * 20)
    assert local.chain_id == 260
    assert local.account_factory is None
    with pytest.raises(Exception, match="no account factory"):
        local.require_factory()


def test_deployment_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps({"era": ERA_SEPOLIA.to_json()}))
    assert EraNetwork.from_deployment(path) == ERA_SEPOLIA
    path.write_text("{}")
    with raises_rule(ErrorCode.INVALID_DEPLOYMENT):
        EraNetwork.from_deployment(path)
    with raises_rule(ErrorCode.INVALID_DEPLOYMENT):
        EraNetwork.from_deployment(tmp_path / "missing.json")


# --- against the Era validator on anvil ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def era_validator(sso_anvil: AnvilNode) -> str:
    try:
        artifact = load_artifact("WebAuthValidator")
    except ConfigurationError as exc:
        pytest.skip(f"contracts not built: run scripts/build-contracts.sh ({exc})")
    address, _ = sso_anvil.eth.deploy_contract(sso_anvil.accounts[0], artifact.deploy_data())
    return address


def _send_from(node: AnvilNode, sender: str, to: str, data: bytes) -> None:
    # The account's own call (onInstall / addValidationKey from the account), made by impersonation on anvil.
    node.eth.rpc.request("anvil_impersonateAccount", [sender])
    try:
        node.set_balance(sender, 10**18)
        tx_hash = node.eth.rpc.request(
            "eth_sendTransaction", [{"from": sender, "to": to, "data": "0x" + data.hex()}]
        )
        node.eth.check_receipt(node.eth.wait_for_receipt(bytes.fromhex(str(tx_hash)[2:])))
    finally:
        node.eth.rpc.request("anvil_stopImpersonatingAccount", [sender])


def _new_account_address() -> str:
    return "0x" + os.urandom(20).hex()


@pytest.fixture
def registered(sso_anvil: AnvilNode, era_validator: str) -> tuple[HeadlessPasskey, str]:
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN)
    address = _new_account_address()
    _send_from(
        sso_anvil,
        address,
        era_validator,
        add_passkey_calldata(passkey.credential_id, passkey.public_key, ORIGIN),
    )
    return passkey, address


def test_keys_added_with_the_lifecycle_calldata_are_found(
    sso_anvil: AnvilNode, era_validator: str, registered: tuple[HeadlessPasskey, str]
) -> None:
    passkey, address = registered
    eth = sso_anvil.eth
    assert (
        find_account(eth, era_validator, ORIGIN, passkey.credential_id)
        == EraNetwork(name="x", chain_id=1, passkey_validator=address).passkey_validator
    )  # checksummed
    assert get_account_key(eth, era_validator, ORIGIN, passkey.credential_id, address) == passkey.public_key
    # Keys are per origin and per account.
    assert find_account(eth, era_validator, "https://other.example", passkey.credential_id) is None
    assert get_account_key(eth, era_validator, ORIGIN, passkey.credential_id, _new_account_address()) is None
    # Removing with the lifecycle's calldata, from the account, clears both mappings.
    _send_from(sso_anvil, address, era_validator, remove_passkey_calldata(passkey.credential_id, ORIGIN))
    assert find_account(eth, era_validator, ORIGIN, passkey.credential_id) is None
    assert get_account_key(eth, era_validator, ORIGIN, passkey.credential_id, address) is None


def test_factory_reader_refuses_a_contract_that_is_not_a_factory(
    sso_anvil: AnvilNode, era_validator: str
) -> None:
    with raises_rule(ErrorCode.FACTORY_UNREADABLE):
        read_factory_info(sso_anvil.eth, era_validator)


class _CountingTransport(httpx.HTTPTransport):
    """Forwards to the real node and counts HTTP round trips."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return super().handle_request(request)


def test_prepare_is_one_round_trip_and_signed_tx_is_valid_on_chain(
    sso_anvil: AnvilNode, era_validator: str, registered: tuple[HeadlessPasskey, str]
) -> None:
    passkey, address = registered
    sso_anvil.set_balance(address, 10**18)
    transport = _CountingTransport()
    counted = EthClient(sso_anvil.url, transport=transport)
    gas = 21_000 + webauthn_validation_gas()
    plan = prepare_era_transaction(
        counted, address, to="0x" + "cd" * 20, value=12345, data=b"\x01\x02", gas_limit=gas
    )
    assert transport.requests == 1  # chain id, nonce, gas price, tip, balance: one JSON-RPC batch
    tx = plan.transaction
    assert (tx.chain_id, tx.from_address.lower(), tx.gas_limit, tx.value) == (31337, address, gas, 12345)
    assert tx.max_fee_per_gas == plan.gas_price + plan.gas_price // 5
    assert plan.balance == 10**18
    assert plan.max_cost == gas * tx.max_fee_per_gas + 12345

    network = local_era_network(passkey_validator=era_validator, chain_id=31337)
    account = EraAccount(sso_anvil.eth, network, address, passkey)
    signed = account.sign_transaction(tx)
    verdict = account.verify_onchain(signed)
    assert verdict.valid
    assert verdict.rule == "Valid"
    assert verdict.signed_hash == tx.signed_hash()
    # The struct handed to the validator carries the custom signature and the 0x71 type.
    struct = era_transaction_struct(signed)
    assert struct[0] == 0x71
    assert struct[12] == signed.custom_signature
    # Changing any signed field breaks it: the challenge no longer matches.
    assert account.verify_onchain(signed.replace(nonce=tx.nonce + 1)).rule == "ChallengeMismatch"
    # A key is looked up under the account: the same passkey signing for an account it is not registered to
    # is refused (preflight is off here, or the signer itself would refuse first).
    stranger = "0x" + "ee" * 20
    unchecked = EraAccount(sso_anvil.eth, network, stranger, passkey, run_preflight=False)
    foreign = unchecked.sign_transaction(tx.replace(from_address=stranger))
    verdict = account.verify_onchain(foreign)
    assert (verdict.valid, verdict.rule) == (False, "UnknownKey")


def test_insufficient_balance_is_raised_before_anything_is_signed(
    sso_anvil: AnvilNode, era_validator: str, registered: tuple[HeadlessPasskey, str]
) -> None:
    passkey, address = registered
    sso_anvil.set_balance(address, 1000)
    calls: list[bytes] = []

    class Recording:
        def get_assertion(self, request: Any) -> Any:
            calls.append(request.challenge)
            return passkey.sign(request.challenge)

    network = local_era_network(passkey_validator=era_validator, chain_id=31337)
    account = EraAccount(sso_anvil.eth, network, address, passkey, provider=Recording())
    with pytest.raises(InsufficientBalance) as info:
        account.send(to="0x" + "cd" * 20, value=10**15, gas_limit=200_000)
    assert info.value.available == 1000
    assert info.value.required > 10**15
    assert calls == []  # nothing was signed


def test_add_and_remove_refuse_before_signing(
    sso_anvil: AnvilNode, era_validator: str, registered: tuple[HeadlessPasskey, str]
) -> None:
    passkey, address = registered
    network = local_era_network(passkey_validator=era_validator, chain_id=31337)
    account = EraAccount(sso_anvil.eth, network, _new_account_address(), passkey)
    with raises_rule(ErrorCode.PASSKEY_ALREADY_REGISTERED):
        account.add_passkey(passkey.credential_id, passkey.public_key, ORIGIN)
    with raises_rule(ErrorCode.PASSKEY_NOT_OWNED_BY_ACCOUNT):
        account.remove_passkey(passkey.credential_id, ORIGIN)
    found = EraAccount.find(sso_anvil.eth, network, passkey)
    assert found is not None
    assert found.address.lower() == address


def test_a_0x71_transaction_sent_to_plain_anvil_is_reported_as_rejected(
    sso_anvil: AnvilNode, era_validator: str, registered: tuple[HeadlessPasskey, str]
) -> None:
    passkey, address = registered
    sso_anvil.set_balance(address, 10**18)
    network = local_era_network(passkey_validator=era_validator, chain_id=31337)
    account = EraAccount(sso_anvil.eth, network, address, passkey)
    signed = account.sign_transaction(
        account.prepare(to="0x" + "cd" * 20, value=1, gas_limit=300_000).transaction
    )
    with pytest.raises(TransactionRejected):
        account.send_transaction(signed, timeout=5)
    with raises_rule(ErrorCode.INVALID_INPUT):
        account.send_transaction(signed.replace(custom_signature=b""))


# --- live Era (anvil-zksync) --------------------------------------------------------------------------------


@pytest.mark.anvil_zksync
def test_create_send_add_remove_on_anvil_zksync(anvil_zksync_node: Any) -> None:
    validator = os.environ.get("SSO_SIGNER_ERA_VALIDATOR")
    factory = os.environ.get("SSO_SIGNER_ERA_FACTORY")
    if not validator or not factory:
        pytest.skip(
            "set SSO_SIGNER_ERA_VALIDATOR and SSO_SIGNER_ERA_FACTORY to the SSO contracts deployed on this "
            "anvil-zksync (EraVM builds need zksolc, which no reachable registry offers)"
        )
    from sso_signer.accounts._era import create_era_account
    from sso_signer.zksync._client import ZkSyncClient

    eth = ZkSyncClient(anvil_zksync_node.url)
    network = local_era_network(
        passkey_validator=validator, account_factory=factory, rpc_url=anvil_zksync_node.url
    )
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN)
    deployer = anvil_zksync_node.accounts[0]
    created = create_era_account(eth, network, deployer, passkey)
    assert any(log.topics[:1] == (ACCOUNT_CREATED_TOPIC,) for log in created.receipt.logs)
    eth.send_transaction(deployer, to=created.address, value=10**18)
    account = EraAccount(eth, network, created.address, passkey)
    receipt = account.send(to=deployer.address, value=10**15)
    assert receipt.success
    second = HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN)
    account.add_passkey(second.credential_id, second.public_key, ORIGIN)
    assert find_account(eth, validator, ORIGIN, second.credential_id) == created.address
    account.remove_passkey(second.credential_id, ORIGIN)
    assert find_account(eth, validator, ORIGIN, second.credential_id) is None
    assert isinstance(account.prepare(to=deployer.address).transaction, Eip712Transaction)


def test_prepare_with_the_node_estimate_is_still_one_round_trip(
    sso_anvil: AnvilNode, era_validator: str
) -> None:
    address = _new_account_address()
    sso_anvil.set_balance(address, 10**18)
    transport = _CountingTransport()
    plan = prepare_era_transaction(
        EthClient(sso_anvil.url, transport=transport), address, to="0x" + "cd" * 20, value=5
    )
    assert transport.requests == 1  # the estimate rides in the same batch
    assert plan.node_estimate == 21_000  # anvil estimates a plain transfer
    assert plan.validation_gas == webauthn_validation_gas()
    assert plan.transaction.gas_limit == plan.node_estimate + plan.validation_gas
    # A call that would revert is reported by the estimate, before anything is signed.
    with pytest.raises(ExecutionReverted):
        prepare_era_transaction(sso_anvil.eth, address, to=era_validator, data=b"\xde\xad\xbe\xef")


async def test_the_preparation_flow_runs_on_the_async_client(sso_anvil: AnvilNode) -> None:
    address = _new_account_address()
    sso_anvil.set_balance(address, 10**18)
    async with AsyncEthClient(sso_anvil.url) as client:
        plan = await client.run(prepare_era_transaction_flow(address, to="0x" + "cd" * 20, value=7))
    assert plan.transaction.value == 7
    assert plan.transaction.gas_limit == 21_000 + webauthn_validation_gas()


def test_with_a_paymaster_the_balance_only_covers_the_value(sso_anvil: AnvilNode) -> None:
    from sso_signer.zksync import PaymasterParams
    from sso_signer.zksync._paymaster import general_paymaster_input

    address = _new_account_address()
    sso_anvil.set_balance(address, 100)
    paymaster = PaymasterParams("0x" + "99" * 20, general_paymaster_input())
    plan = prepare_era_transaction(
        sso_anvil.eth, address, to="0x" + "cd" * 20, value=100, gas_limit=300_000, paymaster=paymaster
    )
    assert plan.transaction.paymaster_params == paymaster
    assert plan.max_cost == 100
    # The paymaster is part of what the passkey signs.
    assert plan.transaction.signed_hash() != plan.transaction.replace(paymaster_params=None).signed_hash()
    with pytest.raises(InsufficientBalance, match="a paymaster pays the fee"):
        prepare_era_transaction(
            sso_anvil.eth, address, to="0x" + "cd" * 20, value=101, gas_limit=300_000, paymaster=paymaster
        )
    with pytest.raises(InsufficientBalance):
        prepare_era_transaction(sso_anvil.eth, address, to="0x" + "cd" * 20, value=1, gas_limit=300_000)
