"""The fee ceiling of an Era passkey transaction, on anvil as chain 260.

A greedy node is played by a transport that forwards to the real anvil and replaces its answer to
``eth_gasPrice`` or ``eth_estimateGas`` (fault injection; plain anvil cannot estimate a 0x71 transaction, so
the estimate is always injected): the account must refuse before the passkey is asked (the counting provider
sees no assertion). Plain anvil cannot run a 0x71 transaction, so the fair case stops at the signature.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from sso_signer.accounts import AsyncEraAccount, EraAccount, EraNetwork
from sso_signer.exceptions import ErrorCode
from sso_signer.node import AnvilNode
from sso_signer.rpc import AsyncEthClient, EthClient
from sso_signer.webauthn import HeadlessPasskey
from tests.erc4337.round_trip_helpers import AsyncHostileTransport, CountingProvider, HostileTransport, Log
from tests.errors import raises_rule
from tests.needs import started_anvil

pytestmark = pytest.mark.chain

CHAIN_ID = 260
ACCOUNT = "0x1111111111111111111111111111111111111111"
RECIPIENT = "0x2222222222222222222222222222222222222222"
NETWORK = EraNetwork(
    name="anvil-260", chain_id=CHAIN_ID, passkey_validator="0x006ecc2D79242F1986b7cb5F636d6E3f499f1026"
)
GWEI = 10**9
FAIR_PRICE = GWEI // 4  # what the injected node answers in the fair case (Era's usual 0.25 gwei)
FAIR_GAS = 400_000


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    with started_anvil(chain_id=CHAIN_ID, hardfork="osaka") as started:
        started.set_balance(ACCOUNT, 10**20)  # enough for every greedy answer: the ceiling must stop them
        yield started


class Setup:
    def __init__(self, node: AnvilNode, price: int = FAIR_PRICE, gas: int = FAIR_GAS) -> None:
        self.log: Log = []
        answers = {"eth_gasPrice": hex(price), "eth_estimateGas": hex(gas)}
        self.client = EthClient(node.url, transport=HostileTransport("node", self.log, answers))
        passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
        self.provider = CountingProvider(passkey)
        self.account = EraAccount(self.client, NETWORK, ACCOUNT, passkey, provider=self.provider)


@pytest.fixture
def setups(node: AnvilNode) -> Iterator[Any]:
    made: list[Setup] = []

    def make(**kwargs: int) -> Setup:
        made.append(Setup(node, **kwargs))
        return made[-1]

    try:
        yield make
    finally:
        for setup in made:
            setup.client.close()


def test_a_transaction_under_the_ceiling_is_signed(setups: Any) -> None:
    setup = setups()
    account = setup.account
    account.fee_ceiling = GWEI
    plan = account.prepare(RECIPIENT, 1)
    account.cost_ceiling = plan.transaction.gas_limit * plan.transaction.max_fee_per_gas  # exactly enough
    signed = account.sign_transaction(plan.transaction)
    assert signed.raw_transaction[0] == 0x71
    assert setup.provider.calls == 1


def test_a_greedy_gas_price_is_refused_before_the_passkey(setups: Any) -> None:
    greedy = 1_000 * GWEI
    setup = setups(price=greedy)
    setup.account.fee_ceiling = GWEI
    with raises_rule(ErrorCode.FEE_ABOVE_CEILING) as refused:
        setup.account.send(RECIPIENT, 1)
    # The node's price plus the account's 20 % headroom is what would be signed.
    assert f"maxFeePerGas {greedy + greedy // 5} wei" in str(refused.value)
    assert f"fee ceiling {GWEI} wei" in str(refused.value)
    assert setup.provider.calls == 0
    assert not any("eth_sendRawTransaction" in methods for _, methods in setup.log)


def test_a_greedy_estimate_is_refused_by_the_cost_ceiling(setups: Any) -> None:
    setup = setups(gas=500_000_000)
    ceiling = 10**16
    with raises_rule(ErrorCode.COST_ABOVE_CEILING) as refused:
        setup.account.send(RECIPIENT, 1, cost_ceiling=ceiling)  # a per-call ceiling
    assert "gas 500" in str(refused.value)  # the node's estimate plus the WebAuthn validation gas
    assert f"cost ceiling {ceiling} wei" in str(refused.value)
    assert setup.provider.calls == 0


def test_a_web3_style_dict_and_a_batch_are_refused_too(setups: Any) -> None:
    setup = setups(price=1_000 * GWEI)
    setup.account.fee_ceiling = GWEI
    with raises_rule(ErrorCode.FEE_ABOVE_CEILING):
        setup.account.sign_transaction({"to": RECIPIENT, "value": 1})  # what the web3 middleware signs
    with raises_rule(ErrorCode.FEE_ABOVE_CEILING):
        setup.account.send_calls([(RECIPIENT, 1, b""), (RECIPIENT, 2, b"")])
    # A call's own ceiling replaces the account's: here it would let the fee pass, and the explicit
    # transaction fee is what is then checked.
    plan = setup.account.prepare(RECIPIENT, 1, max_fee_per_gas=GWEI)
    assert setup.account.sign_transaction(plan.transaction, fee_ceiling=GWEI).raw_transaction
    assert setup.provider.calls == 1
    with raises_rule(ErrorCode.INVALID_INPUT, match="cost_ceiling"):
        setup.account.sign_transaction(plan.transaction, cost_ceiling=True)
    assert setup.provider.calls == 1


def test_the_async_account_refuses_the_same(node: AnvilNode) -> None:
    async def run() -> None:
        log: Log = []
        answers = {"eth_gasPrice": hex(1_000 * GWEI), "eth_estimateGas": hex(FAIR_GAS)}
        passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
        provider = CountingProvider(passkey)
        transport = AsyncHostileTransport("node", log, answers)
        async with AsyncEthClient(node.url, transport=transport) as client:
            account = AsyncEraAccount(client, NETWORK, ACCOUNT, passkey, provider=provider)
            account.fee_ceiling = GWEI
            with raises_rule(ErrorCode.FEE_ABOVE_CEILING):
                await account.send(RECIPIENT, 1)
        assert provider.calls == 0

    asyncio.run(run())
