"""The Era account's session-key flows (accounts/_era_sessions.py).

What plain anvil can check is checked against the project's Era SessionKeyValidator on anvil as chain 260 (a
TimestampAsserter stand-in at that chain's asserter address; the validator installed on the EraTestAccount
stand-in): the account's flow builds and signs real 0x71 session transactions, the validator accepts them (and
records their usage through the account's validation), the preflight refuses each forbidden call naming the
rule, and the same transaction forced past the preflight is refused by the validator with the same rule.
Running 0x71 transactions needs anvil-zksync and EraVM builds of the SSO contracts (the test at the end).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from sso_signer.accounts import AsyncEraAccount, EraAccount, EraNetwork, LocalSessionKey
from sso_signer.accounts._era_sessions import era_session_validation_gas
from sso_signer.exceptions import ErrorCode
from sso_signer.rpc import AsyncEthClient, EthClient, RetryPolicy
from sso_signer.sso import (
    CallPolicy,
    Condition,
    Constraint,
    SessionCall,
    SessionKeyValidator,
    SessionSpec,
    TransferPolicy,
    UsageLimit,
)
from sso_signer.webauthn import HeadlessPasskey
from tests.contracts.era_session_chain import ERA_CHAIN_ID, EraSessionChain, era_session_anvil
from tests.erc4337.round_trip_helpers import HostileTransport
from tests.errors import raises_rule
from tests.needs import live_era_network

R1 = "0x1111111111111111111111111111111111111111"
R2 = "0x2222222222222222222222222222222222222222"
TOKEN = "0x1d1499e622D69689cdf9004d05Ec547d650Ff211"
TRANSFER = keccak(text="transfer(address,uint256)")[:4]
GAS = 1_000_000
PASSKEY_VALIDATOR = "0x006ecc2D79242F1986b7cb5F636d6E3f499f1026"


def transfer_call(to: str, amount: int) -> bytes:
    return TRANSFER + abi_encode(["address", "uint256"], [to, amount])


def make_spec(signer: str, expires_at: int, fee_limit: int = 10**16) -> SessionSpec:
    """Transfers of at most 100 wei to R1 (150 in all), and token transfers to R1 of at most 100 with an
    hourly allowance of 150 on the amount."""
    return SessionSpec(
        signer,
        expires_at,
        UsageLimit.lifetime(fee_limit),
        call_policies=(
            CallPolicy(
                TOKEN,
                TRANSFER,
                constraints=(
                    Constraint(Condition.EQUAL, 0, int(R1, 16)),
                    Constraint(Condition.LESS_OR_EQUAL, 1, 100, UsageLimit.allowance(150, 3600)),
                ),
            ),
        ),
        transfer_policies=(TransferPolicy(R1, 100, UsageLimit.lifetime(150)),),
    )


def _passkey() -> HeadlessPasskey:
    return HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")


# --- no node ----------------------------------------------------------------------------------------------


def _offline_account(chain_id: int = ERA_CHAIN_ID, session_validator: str | None = R2) -> EraAccount:
    network = EraNetwork(
        name="test",
        chain_id=chain_id,
        passkey_validator=PASSKEY_VALIDATOR,
        session_validator=session_validator,
    )
    return EraAccount(EthClient("http://127.0.0.1:9"), network, TOKEN, _passkey())


def test_what_is_refused_before_any_request() -> None:
    key = LocalSessionKey.generate()
    spec = make_spec(key.address, 2_000_000_000)
    with raises_rule(ErrorCode.MISSING_CONTRACT_ADDRESS):
        next(
            EraAccount.build_session_transaction.flow(_offline_account(session_validator=None), spec, key, R1)
        )
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION, match="not the session's signer"):
        next(
            EraAccount.build_session_transaction.flow(
                _offline_account(), spec, LocalSessionKey.generate(), R1
            )
        )
    # One signer interface on both generations: a bare eth-account key is pointed at LocalSessionKey.
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION, match="LocalSessionKey"):
        next(EraAccount.build_session_transaction.flow(_offline_account(), spec, key.account, R1))  # type: ignore[arg-type]
    # Only chains 260, 300 and 324 have the TimestampAsserter the validator calls.
    with raises_rule(ErrorCode.SESSION_REFUSED) as refused:
        next(EraAccount.build_session_transaction.flow(_offline_account(chain_id=31337), spec, key, R1))
    assert refused.value.verdict == "NO_TIMESTAMP_ASSERTER"


def test_the_validation_gas_follows_the_documented_formula() -> None:
    spec = make_spec(R1, 2_000_000_000)
    # Transfer: the fee limit and the transfer's lifetime value limit are written.
    assert (
        era_session_validation_gas(spec, SessionCall(R1, 1), 1000)
        == 2 * (45_000 + 20_000 + 50_000) + 16 * 935
    )
    # Token call: the fee limit and the amount's allowance (the value limit is unlimited).
    call = SessionCall(TOKEN, 0, transfer_call(R1, 1))
    assert era_session_validation_gas(spec, call, 1000) == 2 * (45_000 + 20_000 + 50_000) + 16 * 935
    # A call no policy allows still pays for the fee limit (the preflight refuses it first anyway).
    assert era_session_validation_gas(spec, SessionCall(R2, 0, b"\x01\x02\x03\x04"), 65) == 2 * (
        45_000 + 1_300 + 25_000
    )


# --- anvil as chain 260, with the stand-ins -----------------------------------------------------------------


@pytest.fixture(scope="module")
def chain() -> Iterator[EraSessionChain]:
    with era_session_anvil() as node:
        deployed = EraSessionChain.deploy(node)
        node.set_balance(deployed.account, 10**20)
        yield deployed


@pytest.fixture
def snapshot(chain: EraSessionChain) -> Iterator[None]:
    taken = chain.node.snapshot()
    try:
        yield
    finally:
        chain.node.revert(taken)


def _network(chain: EraSessionChain) -> EraNetwork:
    return EraNetwork(
        name="anvil-260",
        chain_id=ERA_CHAIN_ID,
        passkey_validator=PASSKEY_VALIDATOR,
        session_validator=chain.validator,
    )


def _now(chain: EraSessionChain) -> int:
    latest = chain.node.eth.get_block("latest")
    assert latest is not None
    return int(latest["timestamp"], 16)


def _open(chain: EraSessionChain, **kwargs: Any) -> tuple[EraAccount, LocalSessionKey, SessionSpec]:
    key = LocalSessionKey.generate()
    spec = make_spec(key.address, _now(chain) + 86_400, **kwargs)
    chain.create(spec)
    return EraAccount(chain.node.eth, _network(chain), chain.account, _passkey()), key, spec


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_a_session_transaction_is_accepted_and_its_usage_counted(chain: EraSessionChain) -> None:
    account, key, spec = _open(chain)
    tx = account.build_session_transaction(spec, key, R1, 60, gas_limit=GAS)
    assert (tx.chain_id, tx.from_address, tx.to, tx.value, tx.gas_limit) == (
        ERA_CHAIN_ID,
        chain.account,
        R1,
        60,
        GAS,
    )
    assert account.check_session_onchain(spec, tx) is None
    assert chain.verdict(tx) is None  # and through the account's own validation
    chain.validate(tx)  # what the bootloader's validation records
    # The next one sees the recorded usage: 60 of 150 are gone, so 100 more is over the lifetime value limit.
    with raises_rule(ErrorCode.SESSION_LIFETIME_LIMIT) as refused:
        account.build_session_transaction(spec, key, R1, 100, gas_limit=GAS)
    assert (refused.value.limit, refused.value.verdict) == ("value", "SESSION_LIFETIME_USAGE_EXCEEDED")
    assert account.build_session_transaction(spec, key, R1, 90, gas_limit=GAS).value == 90
    # Any SessionSigner serves; a wrong answer is caught before use.
    assert (
        chain.verdict(account.build_session_transaction(spec, CountingSigner(key), R1, 1, gas_limit=GAS))
        is None
    )
    with raises_rule(ErrorCode.SESSION_SIGNATURE_INVALID):
        account.build_session_transaction(spec, WrongSigner(key.address), R1, 1, gas_limit=GAS)


class CountingSigner:
    """A blocking SessionSigner over a local key that counts what it signed."""

    def __init__(self, key: LocalSessionKey) -> None:
        self.key = key
        self.address = key.address
        self.digests: list[bytes] = []

    def sign_hash(self, digest: bytes) -> bytes:
        self.digests.append(digest)
        return self.key.sign_hash(digest)


class WrongSigner:
    """A SessionSigner whose answers are not signatures."""

    def __init__(self, address: str) -> None:
        self.address = address

    def sign_hash(self, digest: bytes) -> bytes:
        return bytes(65)


class KmsLikeSigner:
    """An async session signer as a KMS client is: a remote round trip (awaited), and an answer with ``v``
    as 0/1 (the account normalises it to 27/28 after checking it recovers to the address)."""

    def __init__(self) -> None:
        self.key = LocalSessionKey.generate()
        self.address = self.key.address
        self.digests: list[bytes] = []

    async def sign_hash(self, digest: bytes) -> bytes:
        await asyncio.sleep(0.01)  # the request to the key service
        self.digests.append(digest)
        signature = self.key.sign_hash(digest)
        return signature[:64] + bytes([signature[64] - 27])


def _refusals(chain: EraSessionChain) -> list[tuple[str, ErrorCode, str, int, bytes]]:
    return [
        ("value per use", ErrorCode.SESSION_VALUE_PER_USE, R1, 101, b""),
        ("disallowed target", ErrorCode.SESSION_TRANSFER_NOT_ALLOWED, R2, 1, b""),
        (
            "disallowed selector",
            ErrorCode.SESSION_CALL_NOT_ALLOWED,
            TOKEN,
            0,
            keccak(text="approve(address,uint256)")[:4] + bytes(64),
        ),
        ("broken constraint", ErrorCode.SESSION_CONSTRAINT, TOKEN, 0, transfer_call(R2, 1)),
        ("argument missing", ErrorCode.SESSION_CALL_DATA, TOKEN, 0, transfer_call(R1, 1)[:40]),
    ]


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_each_refusal_is_named_by_the_preflight_and_by_the_validator(chain: EraSessionChain) -> None:
    account, key, spec = _open(chain)
    for name, rule, to, value, data in _refusals(chain):
        with raises_rule(rule) as refused:
            account.build_session_transaction(spec, key, to, value, data, gas_limit=GAS)
        assert refused.value.source == "preflight", name
        forced = account.build_session_transaction(spec, key, to, value, data, gas_limit=GAS, preflight=False)
        onchain = account.check_session_onchain(spec, forced)
        assert onchain is not None, name
        assert (onchain.rule, onchain.source, onchain.verdict) == (
            rule,
            "validator",
            refused.value.verdict,
        ), name


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_exhausted_expired_revoked_and_fee_limit(chain: EraSessionChain) -> None:
    account, key, spec = _open(chain)
    call = transfer_call(R1, 100)
    chain.validate(account.build_session_transaction(spec, key, TOKEN, 0, call, gas_limit=GAS))
    # 100 of the hour's 150 are used: another 100 exhausts the periodic limit of the constraint.
    for preflight in (True, False):
        if preflight:
            with raises_rule(ErrorCode.SESSION_PERIOD_LIMIT) as refused:
                account.build_session_transaction(spec, key, TOKEN, 0, call, gas_limit=GAS)
            assert (refused.value.limit, refused.value.constraint) == ("constraint", 1)
        else:
            forced = account.build_session_transaction(
                spec, key, TOKEN, 0, call, gas_limit=GAS, preflight=False
            )
            onchain = account.check_session_onchain(spec, forced)
            assert onchain is not None
            assert onchain.rule is ErrorCode.SESSION_PERIOD_LIMIT
    # The fee limit counts maxFeePerGas x gasLimit: a gas limit that could cost more than it is refused.
    tx = account.build_session_transaction(spec, key, R1, 1, gas_limit=GAS)
    too_much = spec.fee_limit.limit // tx.max_fee_per_gas + 1
    with raises_rule(ErrorCode.SESSION_LIFETIME_LIMIT) as refused:
        account.build_session_transaction(spec, key, R1, 1, gas_limit=too_much)
    assert refused.value.limit == "fee"
    forced = account.build_session_transaction(spec, key, R1, 1, gas_limit=too_much, preflight=False)
    onchain = account.check_session_onchain(spec, forced)
    assert onchain is not None
    assert onchain.rule is ErrorCode.SESSION_LIFETIME_LIMIT

    chain.revoke(spec)
    with raises_rule(ErrorCode.SESSION_NOT_ACTIVE):
        account.build_session_transaction(spec, key, R1, 1, gas_limit=GAS)
    forced = account.build_session_transaction(spec, key, R1, 1, gas_limit=GAS, preflight=False)
    onchain = account.check_session_onchain(spec, forced)
    assert onchain is not None
    assert onchain.rule is ErrorCode.SESSION_NOT_ACTIVE


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_an_expired_session_is_refused_by_both(chain: EraSessionChain) -> None:
    account, key, spec = _open(chain)
    chain.node.increase_time(86_400 + 10)
    chain.node.mine()
    with raises_rule(ErrorCode.SESSION_EXPIRED) as refused:
        account.build_session_transaction(spec, key, R1, 1, gas_limit=GAS)
    assert refused.value.verdict == "TimestampOutOfRange"
    forced = account.build_session_transaction(spec, key, R1, 1, gas_limit=GAS, preflight=False)
    onchain = account.check_session_onchain(spec, forced)
    assert onchain is not None
    assert (onchain.rule, onchain.verdict) == (ErrorCode.SESSION_EXPIRED, "TimestampOutOfRange")


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
async def test_the_async_account_runs_the_same_flow(chain: EraSessionChain) -> None:
    key = LocalSessionKey.generate()
    spec = make_spec(key.address, _now(chain) + 86_400)
    chain.create(spec)
    async with AsyncEthClient(chain.node.url) as client:
        account = AsyncEraAccount(client, _network(chain), chain.account, _passkey())
        tx = await account.build_session_transaction(spec, key, R1, 5, gas_limit=GAS)
        assert await account.check_session_onchain(spec, tx) is None
        with raises_rule(ErrorCode.SESSION_TRANSFER_NOT_ALLOWED):
            await account.build_session_transaction(spec, key, R2, 5, gas_limit=GAS)
        # A blocking signer runs in a worker thread of the async account, through the same step.
        counting = CountingSigner(key)
        tx = await account.build_session_transaction(spec, counting, R1, 6, gas_limit=GAS)
        assert counting.digests == [tx.signed_hash()]
        assert await account.check_session_onchain(spec, tx) is None


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
async def test_an_async_kms_like_signer_signs_era_session_transactions(chain: EraSessionChain) -> None:
    signer = KmsLikeSigner()
    spec = make_spec(signer.address, _now(chain) + 86_400)
    chain.create(spec)
    async with AsyncEthClient(chain.node.url) as client:
        account = AsyncEraAccount(client, _network(chain), chain.account, _passkey())
        tx = await account.build_session_transaction(spec, signer, R1, 7, gas_limit=GAS)
    assert signer.digests == [tx.signed_hash()]  # one request to the key service, for the 0x71 hash
    assert chain.verdict(tx) is None  # through the account's own validation
    chain.validate(tx)  # the validator records it, as the bootloader's validation would
    # The sync account refuses an async signer instead of blocking on it (nothing is signed).
    sync = EraAccount(chain.node.eth, _network(chain), chain.account, _passkey())
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION, match="async"):
        sync.build_session_transaction(spec, signer, R1, 7, gas_limit=GAS)
    assert len(signer.digests) == 1


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_a_node_claiming_another_chain_gets_no_session_signature(chain: EraSessionChain) -> None:
    """The session key signs the 0x71 hash, whose EIP-712 domain holds the chain id: a node answering
    another chain's id (300, which also has sessions) must not get a signature valid there."""
    _, key, spec = _open(chain)
    counting = CountingSigner(key)
    # A hostile node (fault injection): the real chain's answers, but eth_chainId (alone or batched) is 300.
    transport = HostileTransport("node", [], {"eth_chainId": hex(300)})
    hostile = EthClient(chain.node.url, transport=transport, retry=RetryPolicy(attempts=1))
    account = EraAccount(hostile, _network(chain), chain.account, _passkey())
    with raises_rule(ErrorCode.ACCOUNT_MISMATCH, match="chain 300"):
        account.build_session_transaction(spec, counting, R1, 5)
    assert counting.digests == []
    hostile.close()


# --- live Era (anvil-zksync) --------------------------------------------------------------------------------


@pytest.mark.anvil_zksync
def test_send_with_session_on_anvil_zksync(anvil_zksync_node: Any) -> None:
    eth, network = live_era_network(anvil_zksync_node, session_validator="SSO_SIGNER_ERA_SESSION_VALIDATOR")
    deployer = anvil_zksync_node.accounts[0]
    passkey = _passkey()
    account, _ = EraAccount.create(eth, network, deployer, passkey)
    eth.send_transaction(deployer, to=account.address, value=10**18)
    key = LocalSessionKey.generate()
    latest = eth.get_block("latest")
    assert latest is not None
    spec = make_spec(key.address, int(latest["timestamp"], 16) + 86_400, fee_limit=10**17)
    assert network.session_validator is not None
    create = SessionKeyValidator.era_create_session(spec)
    assert account.send(network.session_validator, data=create).success  # the passkey
    receipt = account.send_with_session(spec, key, R1, 100)  # no passkey
    assert receipt.success
    assert eth.get_balance(R1) >= 100
    with raises_rule(ErrorCode.SESSION_VALUE_PER_USE):
        account.send_with_session(spec, key, R1, 101)
