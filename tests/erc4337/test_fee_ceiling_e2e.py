"""The fee ceiling of a passkey UserOperation, against real anvil + Alto.

A greedy bundler is played by a transport that forwards to the real Alto and replaces its answer to
``pimlico_getUserOperationGasPrice`` or ``eth_estimateUserOperationGas`` (fault injection): the account must
refuse the operation before the passkey is asked (the counting provider sees no assertion) and send nothing.
Without injection, an operation under a set ceiling goes through end to end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from eth_utils.crypto import keccak

from sso_signer.accounts import AsyncErc4337Account, Erc4337Account
from sso_signer.erc4337 import AsyncBundlerClient, BundlerClient
from sso_signer.exceptions import ErrorCode
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.rpc import AsyncEthClient, EthClient
from sso_signer.sso import account_salt
from sso_signer.webauthn import HeadlessPasskey
from tests.erc4337.round_trip_helpers import (
    AsyncHostileTransport,
    CountingProvider,
    CountingTransport,
    HostileTransport,
    Log,
)
from tests.errors import raises_rule

pytestmark = [pytest.mark.bundler, pytest.mark.chain]

ETHER = 10**18
GWEI = 10**9
GREEDY_FEE = 1_000 * GWEI  # a thousand gwei per gas: what the injected bundler asks
GREEDY_PRE_VERIFICATION_GAS = 40_000_000


def _greedy_price(fee: int) -> dict[str, Any]:
    level = {"maxFeePerGas": hex(fee), "maxPriorityFeePerGas": hex(fee)}
    return {"slow": level, "standard": level, "fast": level}


def _recipient(tag: str) -> str:
    return "0x" + keccak(tag.encode())[-20:].hex()


def _sent(log: Log) -> bool:
    return any("eth_sendUserOperation" in methods for _, methods in log)


class Setup:
    """A funded counterfactual account of a new passkey whose bundler answers go through ``answers``."""

    def __init__(self, stack: LocalErc4337Stack, answers: dict[str, Any]) -> None:
        self.log: Log = []
        self.eth = EthClient(stack.eth.rpc.url, transport=CountingTransport("node", self.log))
        self.bundler = BundlerClient(
            stack.bundler_url,
            transport=HostileTransport("bundler", self.log, answers),
            entry_point=stack.deployment.entry_point,
        )
        passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
        self.provider = CountingProvider(passkey)
        self.account = Erc4337Account.counterfactual(
            deployment=stack.deployment,
            eth=self.eth,
            bundler=self.bundler,
            credential=passkey,
            provider=self.provider,
            salt=account_salt(None),
        )
        # Enough that the greedy answers fit the prefund: the ceiling, not the balance, must stop them.
        stack.eth.send_transaction(stack.funder, to=self.account.address, value=100 * ETHER)

    def close(self) -> None:
        self.eth.close()
        self.bundler.close()


@pytest.fixture
def setups(sso_stack: LocalErc4337Stack) -> Iterator[Any]:
    made: list[Setup] = []

    def make(answers: dict[str, Any] | None = None) -> Setup:
        made.append(Setup(sso_stack, answers or {}))
        return made[-1]

    try:
        yield make
    finally:
        for setup in made:
            setup.close()


def _fair_fee(stack: LocalErc4337Stack) -> int:
    with BundlerClient(stack.bundler_url, entry_point=stack.deployment.entry_point) as bundler:
        return bundler.get_user_operation_gas_price().standard.max_fee_per_gas


def test_an_operation_under_the_ceiling_is_sent(sso_stack: LocalErc4337Stack, setups: Any) -> None:
    setup = setups()
    fair = _fair_fee(sso_stack)
    setup.account.fee_ceiling = 10 * fair
    setup.account.cost_ceiling = 3_000_000 * 10 * fair  # a creating op's gas, at the most the ceiling allows
    receipt = setup.account.send(_recipient("under-the-ceiling"), 1)
    assert receipt.success
    assert setup.provider.calls == 1
    assert sso_stack.eth.get_balance(_recipient("under-the-ceiling")) == 1


def test_a_greedy_gas_price_is_refused_before_the_passkey(sso_stack: LocalErc4337Stack, setups: Any) -> None:
    setup = setups({"pimlico_getUserOperationGasPrice": _greedy_price(GREEDY_FEE)})
    ceiling = 10 * _fair_fee(sso_stack)
    setup.account.fee_ceiling = ceiling
    with raises_rule(ErrorCode.FEE_ABOVE_CEILING) as refused:
        setup.account.send(_recipient("greedy-price"), 1)
    assert f"maxFeePerGas {GREEDY_FEE} wei" in str(refused.value)
    assert f"fee ceiling {ceiling} wei" in str(refused.value)
    assert setup.provider.calls == 0
    assert not _sent(setup.log)


def test_a_greedy_estimate_is_refused_by_the_cost_ceiling(sso_stack: LocalErc4337Stack, setups: Any) -> None:
    greedy_estimate = {
        "preVerificationGas": hex(GREEDY_PRE_VERIFICATION_GAS),
        "verificationGasLimit": hex(1_000_000),
        "callGasLimit": hex(100_000),
    }
    setup = setups({"eth_estimateUserOperationGas": greedy_estimate})
    ceiling = 3_000_000 * _fair_fee(sso_stack) * 2
    with raises_rule(ErrorCode.COST_ABOVE_CEILING) as refused:
        setup.account.send(_recipient("greedy-estimate"), 1, cost_ceiling=ceiling)  # a per-call ceiling
    message = str(refused.value)
    assert f"gas {GREEDY_PRE_VERIFICATION_GAS + 1_200_000 + 100_000} ×" in message  # 1.2 verification margin
    assert f"cost ceiling {ceiling} wei" in message
    assert setup.provider.calls == 0
    assert not _sent(setup.log)


def test_a_call_ceiling_replaces_the_accounts(sso_stack: LocalErc4337Stack, setups: Any) -> None:
    setup = setups({"pimlico_getUserOperationGasPrice": _greedy_price(GREEDY_FEE)})
    setup.account.fee_ceiling = GREEDY_FEE  # the account allows it ...
    with raises_rule(ErrorCode.FEE_ABOVE_CEILING):
        # ... this call does not.
        setup.account.send_calls([(_recipient("call-ceiling"), 1, b"")], fee_ceiling=GREEDY_FEE - 1)
    assert setup.provider.calls == 0
    with raises_rule(ErrorCode.INVALID_INPUT, match="fee_ceiling"):
        setup.account.send(_recipient("call-ceiling"), 1, fee_ceiling=-1)
    assert setup.provider.calls == 0


def test_a_web3_style_signature_is_refused_too(sso_stack: LocalErc4337Stack, setups: Any) -> None:
    setup = setups({"pimlico_getUserOperationGasPrice": _greedy_price(GREEDY_FEE)})
    setup.account.fee_ceiling = GREEDY_FEE // 2
    with raises_rule(ErrorCode.FEE_ABOVE_CEILING):
        setup.account.sign_transaction({"to": _recipient("web3"), "value": 1})
    assert setup.provider.calls == 0


def test_the_async_account_refuses_the_same(sso_stack: LocalErc4337Stack) -> None:
    async def run() -> None:
        log: Log = []
        answers = {"pimlico_getUserOperationGasPrice": _greedy_price(GREEDY_FEE)}
        passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
        provider = CountingProvider(passkey)
        async with (
            AsyncEthClient(sso_stack.eth.rpc.url) as eth,
            AsyncBundlerClient(
                sso_stack.bundler_url,
                transport=AsyncHostileTransport("bundler", log, answers),
                entry_point=sso_stack.deployment.entry_point,
            ) as bundler,
        ):
            account = await AsyncErc4337Account.counterfactual(
                deployment=sso_stack.deployment,
                eth=eth,
                bundler=bundler,
                credential=passkey,
                provider=provider,
                salt=account_salt(None),
            )
            sso_stack.eth.send_transaction(sso_stack.funder, to=account.address, value=100 * ETHER)
            account.fee_ceiling = GREEDY_FEE - 1
            with raises_rule(ErrorCode.FEE_ABOVE_CEILING):
                await account.send(_recipient("async-greedy"), 1)
        assert provider.calls == 0
        assert not _sent(log)

    asyncio.run(run())


def test_the_web3_middleware_refuses_the_same(sso_stack: LocalErc4337Stack, setups: Any) -> None:
    from web3 import HTTPProvider, Web3
    from web3.types import Wei

    from sso_signer.accounts import PasskeyMiddlewareBuilder

    setup = setups({"pimlico_getUserOperationGasPrice": _greedy_price(GREEDY_FEE)})
    setup.account.fee_ceiling = GREEDY_FEE - 1
    assert sso_stack.node is not None
    w3 = Web3(HTTPProvider(sso_stack.node.url))
    w3.middleware_onion.inject(PasskeyMiddlewareBuilder.build(setup.account), layer=0)
    with raises_rule(ErrorCode.FEE_ABOVE_CEILING):
        w3.eth.send_transaction(
            {"from": setup.account.address, "to": Web3.to_checksum_address(_recipient("mw")), "value": Wei(1)}
        )
    assert setup.provider.calls == 0
    assert not _sent(setup.log)
