"""web3.py users' transactions: dicts signed by both passkey accounts, the middleware, clients from a Web3.

Everything talks to real web3.py objects. The Era middleware runs against plain anvil, which cannot execute
0x71: the raw bytes the middleware sends are read by a pass-through middleware inside it and checked by the
deployed WebAuthValidator (``verify_onchain``); executing them needs anvil-zksync (skipped, with the reason,
where the binary is absent). ERC-4337 dicts are executed through Alto.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
import requests
from eth_abi.abi import decode as abi_decode
from eth_typing import ChecksumAddress
from web3 import AsyncHTTPProvider, AsyncWeb3, HTTPProvider, Web3
from web3.exceptions import Web3RPCError
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from sso_signer._artifacts import load_artifact
from sso_signer.accounts import (
    AsyncEraAccount,
    AsyncErc4337Account,
    EraAccount,
    EraNetwork,
    Erc4337Account,
    PasskeyMiddlewareBuilder,
    SignedEraTransaction,
    SignedUserOperation,
)
from sso_signer.accounts._deployment import local_era_network
from sso_signer.accounts._era import add_passkey_calldata, webauthn_validation_gas
from sso_signer.erc4337 import AsyncBundlerClient, BundlerClient, UserOperation
from sso_signer.exceptions import ErrorCode, InvalidTransaction
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.node import AnvilNode
from sso_signer.rpc import AsyncEthClient, EthClient
from sso_signer.sso import account_salt
from sso_signer.webauthn import Assertion, HeadlessPasskey
from sso_signer.zksync import Eip712Transaction, PaymasterParams
from tests.errors import raises_rule
from tests.needs import require_artifacts

ORIGIN = "http://localhost:5173"
ACCOUNT = "0x1111111111111111111111111111111111111111"
TO = "0x2222222222222222222222222222222222222222"
PAYMASTER = "0x3333333333333333333333333333333333333333"
NETWORK = EraNetwork(
    name="test", chain_id=300, passkey_validator="0x006ecc2D79242F1986b7cb5F636d6E3f499f1026"
)
#: Nothing listens here: a test that must not touch the network fails loudly if it does.
NOWHERE = "http://127.0.0.1:9"


class Replaying:
    """A passkey that answers the same challenge with the same assertion (ECDSA is randomised): two signings
    of the same fields then give the same bytes, so byte-identity checks compare everything that is signed."""

    def __init__(self, passkey: HeadlessPasskey) -> None:
        self.passkey = passkey
        self.answers: dict[bytes, Assertion] = {}

    def get_assertion(self, request: Any) -> Assertion:
        if request.challenge not in self.answers:
            self.answers[request.challenge] = self.passkey.sign(
                request.challenge, origin=request.origin, user_verified=True
            )
        return self.answers[request.challenge]


@pytest.fixture
def passkey() -> HeadlessPasskey:
    return HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN)


def _full(**extra: Any) -> dict[str, Any]:
    """A dict with every field the chain would otherwise fill (signing it needs no node)."""
    return {
        "from": ACCOUNT,
        "to": TO,
        "value": 10**15,
        "data": "0x0102",
        "nonce": 7,
        "gas": 400_000,
        "maxFeePerGas": hex(25 * 10**7),
        "maxPriorityFeePerGas": 0,
        "chainId": 300,
        **extra,
    }


def tx(fields: dict[str, Any]) -> Any:
    """A dict for web3.py's ``send_transaction`` (typed Any: web3 types its keys, ZKsync extras included)."""
    return fields


def _tx(**changes: Any) -> Eip712Transaction:
    fields: dict[str, Any] = {
        "chain_id": 300,
        "nonce": 7,
        "from_address": ACCOUNT,
        "to": TO,
        "value": 10**15,
        "data": b"\x01\x02",
        "gas_limit": 400_000,
        "max_fee_per_gas": 25 * 10**7,
        "max_priority_fee_per_gas": 0,
    }
    return Eip712Transaction(**{**fields, **changes})


# --- Era: dicts, no chain needed ----------------------------------------------------------------------------


def test_an_era_dict_signs_to_the_same_bytes_as_the_sdk_transaction(passkey: HeadlessPasskey) -> None:
    account = EraAccount(EthClient(NOWHERE), NETWORK, ACCOUNT, passkey, provider=Replaying(passkey))
    from_dict = account.sign_transaction(_full())  # every field given: no request is made
    from_object = account.sign_transaction(_tx())
    assert isinstance(from_dict, SignedEraTransaction)
    assert from_dict.raw_transaction == from_object.raw_transaction
    assert from_dict.raw_transaction[0] == 0x71
    assert from_dict.raw_transaction.to_0x_hex().startswith("0x71")  # eth-account's HexBytes
    assert from_dict.hash == from_object.transaction_hash() == from_dict.transaction_hash()
    # Still the signed Eip712Transaction: parsing the raw bytes gives it back.
    parsed = Eip712Transaction.parse(bytes(from_dict.raw_transaction))
    assert parsed == from_dict
    assert from_dict == parsed
    assert hash(parsed) == hash(from_dict)
    assert from_dict != from_dict.replace(nonce=8)
    assert from_dict.custom_signature == from_object.custom_signature


@pytest.mark.parametrize(
    "spelling",
    [
        {"gasPerPubdata": 800, "paymaster": PAYMASTER, "paymasterInput": "0x8c5a3445"},  # viem
        {  # zksync-ethers
            "customData": {
                "gasPerPubdata": "0x320",
                "paymasterParams": {"paymaster": PAYMASTER, "paymasterInput": bytes.fromhex("8c5a3445")},
            }
        },
        {  # zksync2-python (byte strings as lists of byte values, as the node takes them)
            "eip712Meta": {
                "gasPerPubdata": 800,
                "paymasterParams": {
                    "paymaster": PAYMASTER.lower(),
                    "paymasterInput": [0x8C, 0x5A, 0x34, 0x45],
                },
            }
        },
    ],
)
def test_zksync_spellings_of_the_0x71_extras_mean_the_same(
    passkey: HeadlessPasskey, spelling: dict[str, Any]
) -> None:
    account = EraAccount(EthClient(NOWHERE), NETWORK, ACCOUNT, passkey, provider=Replaying(passkey))
    signed = account.sign_transaction(_full(**spelling))
    assert signed.gas_per_pubdata == 800
    assert signed.paymaster_params == PaymasterParams(PAYMASTER, bytes.fromhex("8c5a3445"))
    expected = _tx(
        gas_per_pubdata=800, paymaster_params=PaymasterParams(PAYMASTER, bytes.fromhex("8c5a3445"))
    )
    assert signed.signed_hash() == expected.signed_hash()


def test_a_legacy_gas_price_pays_the_same_per_gas(passkey: HeadlessPasskey) -> None:
    account = EraAccount(EthClient(NOWHERE), NETWORK, ACCOUNT, passkey)
    fields = _full(gasPrice=10**8)
    del fields["maxFeePerGas"], fields["maxPriorityFeePerGas"]
    signed = account.sign_transaction(fields)
    assert (signed.max_fee_per_gas, signed.max_priority_fee_per_gas) == (10**8, 10**8)


MALFORMED: list[tuple[dict[str, Any], ErrorCode, str]] = [
    ({"value": "12"}, ErrorCode.INVALID_FIELD_TYPE, "value"),
    ({"value": -1}, ErrorCode.INTEGER_OUT_OF_RANGE, "value"),
    ({"nonce": 2**256}, ErrorCode.INTEGER_OUT_OF_RANGE, "nonce"),
    ({"gas": True}, ErrorCode.INVALID_FIELD_TYPE, "gas"),
    ({"gas": 1.5}, ErrorCode.INVALID_FIELD_TYPE, "gas"),
    ({"maxFeePerGas": "0xzz"}, ErrorCode.INVALID_FIELD_TYPE, "maxFeePerGas"),
    ({"data": "0x123"}, ErrorCode.INVALID_FIELD_TYPE, "data"),
    ({"data": 5}, ErrorCode.INVALID_FIELD_TYPE, "data"),
    ({"to": "0x1234"}, ErrorCode.INVALID_ADDRESS, "to"),
    ({"to": 5}, ErrorCode.INVALID_ADDRESS, "to"),
    ({"from": "nobody"}, ErrorCode.INVALID_ADDRESS, "from"),
    ({"type": 2}, ErrorCode.WRONG_TRANSACTION_TYPE, "type"),
    ({"accessList": []}, ErrorCode.UNSUPPORTED_TRANSACTION_FIELD, "accessList"),
    ({"gasPrice": 1}, ErrorCode.UNSUPPORTED_TRANSACTION_FIELD, "gasPrice"),
    ({"maxPriorityFeePerGas": 10**18}, ErrorCode.PRIORITY_FEE_ABOVE_MAX_FEE, "maxPriorityFeePerGas"),
    ({"customData": "x"}, ErrorCode.INVALID_FIELD_TYPE, "customData"),
    ({"customData": {"paymasterParams": {}}}, ErrorCode.UNSUPPORTED_TRANSACTION_FIELD, "paymaster"),
    ({"customData": {"customSignature": "0x01"}}, ErrorCode.UNSUPPORTED_TRANSACTION_FIELD, "customSignature"),
    (
        {"customData": {"gasPerPubdata": 1}, "gasPerPubdata": 1},
        ErrorCode.UNSUPPORTED_TRANSACTION_FIELD,
        "twice",
    ),
    ({"factoryDeps": "0x00"}, ErrorCode.INVALID_FIELD_TYPE, "factoryDeps"),
    ({"from": TO}, ErrorCode.ACCOUNT_MISMATCH, "from"),
    ({"chainId": 1}, ErrorCode.ACCOUNT_MISMATCH, "chainId"),
]


@pytest.mark.parametrize(("change", "rule", "named"), MALFORMED)
def test_malformed_era_dicts_are_typed_errors_naming_the_field(
    passkey: HeadlessPasskey, change: dict[str, Any], rule: ErrorCode, named: str
) -> None:
    account = EraAccount(EthClient(NOWHERE), NETWORK, ACCOUNT, passkey)
    with raises_rule(rule, match=named):
        account.sign_transaction(_full(**change))


def test_sending_an_unsigned_dict_says_to_sign_it_first(passkey: HeadlessPasskey) -> None:
    account = EraAccount(EthClient(NOWHERE), NETWORK, ACCOUNT, passkey)
    with raises_rule(ErrorCode.INVALID_INPUT, match="sign a dict first"):
        account.send_transaction(_full())  # type: ignore[arg-type]


@pytest.mark.parametrize("not_a_dict", ["0x71", 5, None, [("to", TO)]])
def test_what_is_no_transaction_is_refused_with_a_typed_error(
    passkey: HeadlessPasskey, not_a_dict: Any
) -> None:
    account = EraAccount(EthClient(NOWHERE), NETWORK, ACCOUNT, passkey)
    with pytest.raises(InvalidTransaction, match="transaction: expected a dict"):
        account.sign_transaction(not_a_dict)


# --- ERC-4337: dict errors are found before any request ---------------------------------------------------


ERC4337_MALFORMED: list[tuple[dict[str, Any], ErrorCode, str]] = [
    ({"gas": 100_000}, ErrorCode.UNSUPPORTED_TRANSACTION_FIELD, "gas"),
    ({"to": None}, ErrorCode.UNSUPPORTED_TRANSACTION_FIELD, "to"),
    ({"maxFeePerGas": 10}, ErrorCode.UNSUPPORTED_TRANSACTION_FIELD, "maxPriorityFeePerGas"),
    ({"paymasterData": "0x01"}, ErrorCode.UNSUPPORTED_TRANSACTION_FIELD, "paymasterData"),
    ({"gasPerPubdata": 800}, ErrorCode.UNSUPPORTED_TRANSACTION_FIELD, "gasPerPubdata"),
    ({"type": "0x71"}, ErrorCode.WRONG_TRANSACTION_TYPE, "type"),
    ({"value": "ten"}, ErrorCode.INVALID_FIELD_TYPE, "value"),
    ({"from": TO}, ErrorCode.ACCOUNT_MISMATCH, "from"),
]


def _offline_erc4337_account(passkey: HeadlessPasskey, provider: Any = None) -> Erc4337Account:
    from sso_signer.accounts import MsaDeployment

    deployment = MsaDeployment(
        chain_id=31337,
        entry_point="0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108",
        factory="0x" + "44" * 20,
        beacon="0x" + "66" * 20,
        account_implementation="0x" + "77" * 20,
        webauthn_validator="0x" + "55" * 20,
    )
    return Erc4337Account.at(
        ACCOUNT, deployment=deployment, eth=NOWHERE, bundler=NOWHERE, credential=passkey, provider=provider
    )


@pytest.mark.parametrize(("change", "rule", "named"), ERC4337_MALFORMED)
def test_malformed_erc4337_dicts_are_typed_errors_naming_the_field(
    passkey: HeadlessPasskey, change: dict[str, Any], rule: ErrorCode, named: str
) -> None:
    account = _offline_erc4337_account(passkey)
    fields = {"from": ACCOUNT, "to": TO, "value": 1, **change}
    with raises_rule(rule, match=named):
        account.sign_transaction({k: v for k, v in fields.items() if v is not None})


def test_an_erc4337_sign_transaction_takes_a_call_fee_ceiling(passkey: HeadlessPasskey) -> None:
    # docs/accounts.md: sign_transaction takes fee_ceiling= / cost_ceiling= on both generations, and a call's
    # figure replaces the account's (a UserOperation signs with no node or bundler).
    provider = Replaying(passkey)
    account = _offline_erc4337_account(passkey, provider)
    op = UserOperation(
        sender=ACCOUNT,
        nonce=0,
        call_gas_limit=100_000,
        verification_gas_limit=400_000,
        pre_verification_gas=50_000,
        max_fee_per_gas=10 * 10**9,
        max_priority_fee_per_gas=10**9,
    )
    account.fee_ceiling = 10**9  # the account refuses 10 gwei ...
    with raises_rule(ErrorCode.FEE_ABOVE_CEILING):
        account.sign_transaction(op)
    with raises_rule(ErrorCode.COST_ABOVE_CEILING):
        account.sign_transaction(op, fee_ceiling=10 * 10**9, cost_ceiling=550_000 * 10 * 10**9 - 1)
    assert provider.answers == {}  # the passkey was not asked
    signed = account.sign_transaction(op, fee_ceiling=10 * 10**9)  # ... this call allows it
    assert signed.user_operation.signature
    assert len(provider.answers) == 1


def test_the_cost_ceiling_counts_a_sponsored_ops_paymaster_gas(passkey: HeadlessPasskey) -> None:
    # The EntryPoint's prefund (what maxFeePerGas multiplies) includes the paymaster's verification and postOp
    # gas: a paymaster (or its service's final data) asking a large postOp limit cannot slip past the ceiling.
    provider = Replaying(passkey)
    account = _offline_erc4337_account(passkey, provider)
    fee = 10**9
    op = UserOperation(
        sender=ACCOUNT,
        nonce=0,
        call_gas_limit=100_000,
        verification_gas_limit=400_000,
        pre_verification_gas=50_000,
        max_fee_per_gas=fee,
        max_priority_fee_per_gas=fee,
        paymaster=PAYMASTER,
        paymaster_verification_gas_limit=60_000,
        paymaster_post_op_gas_limit=5_000_000,
    )
    total = 100_000 + 400_000 + 50_000 + 60_000 + 5_000_000
    with raises_rule(ErrorCode.COST_ABOVE_CEILING, match=f"gas {total} "):
        account.sign_user_operation(op, cost_ceiling=total * fee - 1)
    assert provider.answers == {}
    assert account.sign_user_operation(op, cost_ceiling=total * fee).signature


# --- clients from a Web3 -----------------------------------------------------------------------------------


def test_clients_reuse_a_web3_providers_endpoint_headers_timeout_and_retries() -> None:
    w3 = Web3(
        HTTPProvider(
            "http://127.0.0.1:8545/api-key",
            request_kwargs={
                "timeout": (3, 7),
                "headers": {"Content-Type": "application/json", "x-api-key": "secret"},
            },
            exception_retry_configuration=ExceptionRetryConfiguration(
                errors=(ConnectionError,), retries=4, backoff_factor=0.5
            ),
        )
    )
    eth = EthClient.from_web3(w3)
    assert eth.rpc.url == "http://127.0.0.1:8545/api-key"
    assert eth.rpc.timeout == 7.0  # requests' (connect, read): the longer bound
    assert eth.rpc._http.headers["x-api-key"] == "secret"
    assert eth.rpc._http.headers.get_list("content-type") == ["application/json"]  # sent once
    retry = eth.rpc.core.retry
    assert (retry.attempts, retry.backoff, retry.multiplier) == (4, 0.5, 2.0)  # web3: 4 tries, 0.5·2^i apart
    assert "secret" not in repr(eth)
    assert "api-key" not in repr(eth)
    bundler = BundlerClient.from_web3(w3, entry_point=TO)
    assert (bundler.rpc.url, bundler.entry_point) == ("http://127.0.0.1:8545/api-key", TO)
    # No retry configuration in web3 means none here either; web3's default timeout is 30 s.
    plain = AsyncEthClient.from_web3(
        AsyncWeb3(AsyncHTTPProvider("http://127.0.0.1:8545", exception_retry_configuration=None))
    )
    assert (plain.rpc.timeout, plain.rpc.core.retry.attempts) == (30.0, 1)
    assert isinstance(AsyncBundlerClient.from_web3(w3.provider, entry_point=TO), AsyncBundlerClient)


def test_only_http_providers_can_be_shared() -> None:
    from web3 import IPCProvider

    with raises_rule(ErrorCode.INVALID_RPC_PARAMS, match="IPCProvider"):
        EthClient.from_web3(Web3(IPCProvider("/nonexistent.ipc")))
    with raises_rule(ErrorCode.INVALID_RPC_PARAMS, match="str"):
        EthClient.from_web3("http://127.0.0.1:8545")


def test_accounts_take_a_url_or_a_web3_for_their_clients(passkey: HeadlessPasskey) -> None:
    w3 = Web3(HTTPProvider("http://127.0.0.1:8545"))
    assert isinstance(EraAccount(w3, NETWORK, ACCOUNT, passkey).client, EthClient)
    assert isinstance(EraAccount(NOWHERE, NETWORK, ACCOUNT, passkey).client, EthClient)
    async_account = AsyncEraAccount(
        AsyncWeb3(AsyncHTTPProvider("http://127.0.0.1:8545")), NETWORK, ACCOUNT, passkey
    )
    assert isinstance(async_account.client, AsyncEthClient)


# --- on a chain -------------------------------------------------------------------------------------------


class _Recorder:
    """A pass-through middleware that keeps the raw transactions sent below it (nothing is changed)."""

    sent: ClassVar[list[bytes]] = []

    def __init__(self, w3: Any) -> None:
        pass

    def wrap_make_request(self, make_request: Callable[..., Any]) -> Callable[..., Any]:
        def middleware(method: str, params: Any) -> Any:
            if method == "eth_sendRawTransaction":
                _Recorder.sent.append(bytes.fromhex(params[0][2:]))
            return make_request(method, params)

        return middleware

    async def async_wrap_make_request(self, make_request: Callable[..., Any]) -> Callable[..., Any]:
        async def middleware(method: str, params: Any) -> Any:
            if method == "eth_sendRawTransaction":
                _Recorder.sent.append(bytes.fromhex(params[0][2:]))
            return await make_request(method, params)

        return middleware


@pytest.fixture
def recorder() -> Any:
    _Recorder.sent.clear()
    return _Recorder  # typed Any: web3 types the onion's entries as Web3Middleware classes


@pytest.fixture(scope="module")
def era_chain(sso_anvil: AnvilNode) -> tuple[AnvilNode, str]:
    require_artifacts("WebAuthValidator")
    validator, _ = sso_anvil.eth.deploy_contract(
        sso_anvil.accounts[0], load_artifact("WebAuthValidator").deploy_data()
    )
    return sso_anvil, validator


def registered_era_account(node: AnvilNode, validator: str, passkey: HeadlessPasskey) -> ChecksumAddress:
    """A fresh Era account address holding the passkey (registered by impersonation, as the account would)."""
    address = Web3.to_checksum_address("0x" + os.urandom(20).hex())
    node.eth.rpc.request("anvil_impersonateAccount", [address])
    try:
        node.set_balance(address, 10**18)
        data = add_passkey_calldata(passkey.credential_id, passkey.public_key, ORIGIN)
        tx_hash = node.eth.rpc.request(
            "eth_sendTransaction", [{"from": address, "to": validator, "data": "0x" + data.hex()}]
        )
        node.eth.check_receipt(node.eth.wait_for_receipt(bytes.fromhex(str(tx_hash)[2:])))
    finally:
        node.eth.rpc.request("anvil_stopImpersonatingAccount", [address])
    return address


@pytest.mark.chain
def test_the_middleware_sends_the_sdk_signers_0x71_bytes(
    era_chain: tuple[AnvilNode, str], passkey: HeadlessPasskey, recorder: Any
) -> None:
    node, validator = era_chain
    address = registered_era_account(node, validator, passkey)
    w3 = Web3(HTTPProvider(node.url))
    network = local_era_network(passkey_validator=validator, chain_id=31337)
    account = EraAccount(w3, network, address, passkey, provider=Replaying(passkey))
    paymaster = PaymasterParams.general(PAYMASTER)
    w3.middleware_onion.inject(PasskeyMiddlewareBuilder.build(account, paymaster=paymaster), layer=0)
    w3.middleware_onion.inject(recorder, name="recorder", layer=0)  # below it: sees what it sends

    # web3's own gas-estimate middleware asks eth_estimateGas: the account answers with WebAuthn counted.
    estimate = w3.eth.estimate_gas(tx({"from": address, "to": TO, "value": 12345}))
    plan = account.prepare(TO, 12345, paymaster=paymaster)
    assert estimate == plan.node_estimate + webauthn_validation_gas() == plan.transaction.gas_limit

    # Plain anvil cannot run 0x71: the node refuses it as web3.py reports any refusal.
    with pytest.raises(Web3RPCError, match="decode"):
        w3.eth.send_transaction(tx({"from": address, "to": TO, "value": 12345}))
    (raw,) = recorder.sent
    sent = Eip712Transaction.parse(raw)
    assert (sent.from_address, sent.to, sent.value, sent.chain_id) == (address, TO, 12345, 31337)
    assert sent.nonce == w3.eth.get_transaction_count(address, "pending")
    assert sent.gas_limit >= estimate  # web3 adds its buffer to the account's estimate
    assert sent.paymaster_params == paymaster  # the builder's paymaster, as the dict named none
    # Byte-identical to the SDK's own signer for the same fields, and valid for the deployed validator.
    own = account.sign_transaction(sent.replace(custom_signature=b""))
    assert own.raw_transaction == raw
    assert account.verify_onchain(sent).rule == "Valid"


@pytest.mark.chain
def test_the_middleware_leaves_other_senders_alone(
    era_chain: tuple[AnvilNode, str], passkey: HeadlessPasskey
) -> None:
    node, validator = era_chain
    address = registered_era_account(node, validator, passkey)
    w3 = Web3(HTTPProvider(node.url))
    network = local_era_network(passkey_validator=validator, chain_id=31337)
    w3.middleware_onion.inject(
        PasskeyMiddlewareBuilder.build(EraAccount(w3, network, address, passkey)), layer=0
    )
    dev = w3.eth.accounts[0]  # an anvil dev account the node signs for
    before = w3.eth.get_balance(Web3.to_checksum_address(TO))
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction(tx({"from": dev, "to": TO, "value": 7}))
    )
    assert receipt["status"] == 1
    assert w3.eth.get_balance(Web3.to_checksum_address(TO)) == before + 7
    # A sync Web3 with an async account is a configuration error, said before anything is signed.
    other = Web3(HTTPProvider(node.url))
    other.middleware_onion.inject(
        PasskeyMiddlewareBuilder.build(AsyncEraAccount(NOWHERE, network, address, passkey)), layer=0
    )
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION, match="AsyncWeb3"):
        other.eth.send_transaction(tx({"from": address, "to": TO, "value": 1, "gas": 10**6}))


class _AnswerLost(requests.Session):
    """Fault injection: ``eth_sendRawTransaction`` reaches the node, then its answer is lost."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        if b"eth_sendRawTransaction" in (request.body or b""):  # type: ignore[operator]
            raise requests.ConnectionError("connection reset while reading the answer")
        return response


@pytest.mark.chain
def test_a_send_whose_answer_is_lost_carries_the_signed_bytes(
    era_chain: tuple[AnvilNode, str], passkey: HeadlessPasskey
) -> None:
    node, validator = era_chain
    address = registered_era_account(node, validator, passkey)
    w3 = Web3(HTTPProvider(node.url, session=_AnswerLost(), exception_retry_configuration=None))
    network = local_era_network(passkey_validator=validator, chain_id=31337)
    account = EraAccount(w3, network, address, passkey)
    w3.middleware_onion.inject(PasskeyMiddlewareBuilder.build(account), layer=0)
    with raises_rule(ErrorCode.SEND_OUTCOME_UNKNOWN) as info:
        w3.eth.send_transaction(tx({"from": address, "to": TO, "value": 5}))
    error = info.value
    sent = Eip712Transaction.parse(error.raw_transaction)
    assert (sent.from_address, sent.value) == (address, 5)
    assert error.tx_hash == sent.transaction_hash()
    assert account.verify_onchain(sent).valid


@pytest.mark.chain
@pytest.mark.parametrize("kind", [AsyncEraAccount, EraAccount])  # a sync account runs in a worker thread
async def test_the_async_middleware_sends_the_same_bytes(
    era_chain: tuple[AnvilNode, str], passkey: HeadlessPasskey, recorder: Any, kind: Any
) -> None:
    node, validator = era_chain
    address = registered_era_account(node, validator, passkey)
    w3 = AsyncWeb3(AsyncHTTPProvider(node.url))
    network = local_era_network(passkey_validator=validator, chain_id=31337)
    account = kind(w3, network, address, passkey, provider=Replaying(passkey))
    w3.middleware_onion.inject(
        PasskeyMiddlewareBuilder.build(account, paymaster=PaymasterParams(PAYMASTER)), layer=0
    )
    w3.middleware_onion.inject(recorder, name="recorder", layer=0)
    with pytest.raises(Web3RPCError, match="decode"):
        await w3.eth.send_transaction(
            tx({"from": address, "to": TO, "value": "0x3039", "customData": {"gasPerPubdata": 800}})
        )
    (raw,) = recorder.sent
    sent = Eip712Transaction.parse(raw)
    assert (sent.value, sent.gas_per_pubdata) == (12345, 800)
    assert sent.paymaster_params == PaymasterParams(
        PAYMASTER
    )  # the builder's: the dict's customData has none
    if isinstance(account, AsyncEraAccount):
        own = await account.sign_transaction(sent.replace(custom_signature=b""))
        assert (await account.verify_onchain(sent)).rule == "Valid"
        await account.client.aclose()
    else:
        own = account.sign_transaction(sent.replace(custom_signature=b""))
        assert account.verify_onchain(sent).rule == "Valid"
        account.client.close()
    assert own.raw_transaction == raw


@pytest.mark.chain
@pytest.mark.anvil_zksync
def test_the_middleware_executes_on_anvil_zksync(anvil_zksync_node: Any) -> None:
    validator = os.environ.get("SSO_SIGNER_ERA_VALIDATOR")
    factory = os.environ.get("SSO_SIGNER_ERA_FACTORY")
    if not validator or not factory:
        pytest.skip(
            "set SSO_SIGNER_ERA_VALIDATOR and SSO_SIGNER_ERA_FACTORY to the SSO contracts deployed on this "
            "anvil-zksync (EraVM builds need zksolc, which no reachable registry offers)"
        )
    from sso_signer.accounts._era import create_era_account

    w3 = Web3(HTTPProvider(anvil_zksync_node.url))
    eth = EthClient.from_web3(w3)
    network = local_era_network(
        passkey_validator=validator, account_factory=factory, rpc_url=anvil_zksync_node.url
    )
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN)
    deployer = anvil_zksync_node.accounts[0]
    created = create_era_account(eth, network, deployer, passkey)
    eth.send_transaction(deployer, to=created.address, value=10**18)
    account = EraAccount(w3, network, created.address, passkey)
    w3.middleware_onion.inject(PasskeyMiddlewareBuilder.build(account), layer=0)
    tx_hash = w3.eth.send_transaction(tx({"from": account.address, "to": deployer.address, "value": 10**15}))
    assert w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1


# --- ERC-4337 through Alto ---------------------------------------------------------------------------------


@pytest.fixture
def stack_account(sso_stack: LocalErc4337Stack, passkey: HeadlessPasskey) -> Erc4337Account:
    """A counterfactual account built from web3.py objects (node and bundler), funded."""
    assert sso_stack.node is not None
    w3 = Web3(HTTPProvider(sso_stack.node.url))
    account = Erc4337Account.counterfactual(
        deployment=sso_stack.deployment,
        eth=w3,
        bundler=Web3(HTTPProvider(sso_stack.bundler_url)),
        credential=passkey,
        salt=account_salt(None),
    )
    sso_stack.fund(account.address, 10**18)
    return account


@pytest.mark.chain
@pytest.mark.bundler
def test_an_erc4337_dict_is_signed_as_a_user_operation_and_runs(
    sso_stack: LocalErc4337Stack, stack_account: Erc4337Account
) -> None:
    account = stack_account
    assert isinstance(account.eth, EthClient)
    assert isinstance(account.bundler, BundlerClient)
    eth = sso_stack.eth
    target = Web3.to_checksum_address("0x" + os.urandom(20).hex())
    signed = account.sign_transaction(
        {"from": account.address, "to": target, "value": hex(10**15), "chainId": 31337}
    )
    assert isinstance(signed, SignedUserOperation)
    op = signed.user_operation
    assert signed.hash == account.user_operation_hash(op)
    (packed,) = abi_decode(
        ["(address,uint256,bytes,bytes,bytes32,uint256,bytes32,bytes,bytes)"], signed.raw_transaction
    )
    assert (packed[0], packed[2], packed[8]) == (account.address.lower(), op.init_code, op.signature)
    assert account.send_user_operation(op) == signed.hash
    receipt = account.bundler.wait_for_user_operation_receipt(signed.hash)
    assert receipt.success
    assert eth.get_balance(target) == 10**15


@pytest.mark.chain
@pytest.mark.bundler
def test_send_transaction_through_web3_runs_a_user_operation(
    sso_stack: LocalErc4337Stack, stack_account: Erc4337Account
) -> None:
    assert sso_stack.node is not None
    w3 = Web3(HTTPProvider(sso_stack.node.url))
    w3.middleware_onion.inject(PasskeyMiddlewareBuilder.build(stack_account), layer=0)
    target = Web3.to_checksum_address("0x" + os.urandom(20).hex())
    tx_hash = w3.eth.send_transaction(tx({"from": stack_account.address, "to": target, "value": 10**15}))
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)  # the bundle transaction that included the op
    assert receipt["status"] == 1
    assert w3.eth.get_balance(target) == 10**15
    assert w3.eth.get_code(
        Web3.to_checksum_address(stack_account.address)
    )  # the first op created the account
    with raises_rule(ErrorCode.UNSUPPORTED_TRANSACTION_FIELD, match="nonce"):
        w3.eth.send_transaction(tx({"from": stack_account.address, "to": target, "value": 1, "nonce": 0}))


@pytest.mark.chain
@pytest.mark.bundler
async def test_async_send_transaction_runs_a_user_operation(
    sso_stack: LocalErc4337Stack, passkey: HeadlessPasskey
) -> None:
    assert sso_stack.node is not None
    w3 = AsyncWeb3(AsyncHTTPProvider(sso_stack.node.url))
    account = await AsyncErc4337Account.counterfactual(
        deployment=sso_stack.deployment,
        eth=w3,
        bundler=AsyncWeb3(AsyncHTTPProvider(sso_stack.bundler_url)),
        credential=passkey,
        salt=account_salt(None),
    )
    sso_stack.fund(account.address, 10**18)
    w3.middleware_onion.inject(PasskeyMiddlewareBuilder.build(account), layer=0)
    target = Web3.to_checksum_address("0x" + os.urandom(20).hex())
    tx_hash = await w3.eth.send_transaction(tx({"from": account.address, "to": target, "value": 10**15}))
    assert (await w3.eth.wait_for_transaction_receipt(tx_hash))["status"] == 1
    assert await w3.eth.get_balance(target) == 10**15
    await account.eth.aclose()
    await account.bundler.aclose()


def test_the_builder_wants_passkey_accounts() -> None:
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
        PasskeyMiddlewareBuilder.build([])
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
        PasskeyMiddlewareBuilder.build(5)  # type: ignore[arg-type]
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
        PasskeyMiddlewareBuilder.build("0x" + "11" * 20)  # type: ignore[arg-type]
