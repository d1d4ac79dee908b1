"""An ERC-4337 send of more ETH than the account holds is refused as ``InsufficientBalance`` before the
passkey signs (the bundler's estimate only said ``user_operation_execution_reverted … [FailedCall()]``),
sponsored or not: a paymaster pays the gas, never the value. The balance is one ``eth_getBalance`` in the
send's flow, read once the estimate failed (before building when ``gas=`` skips the estimate); a send that
goes through reads nothing more. Real anvil, Alto and sponsor service; requests are counted at the
transport, passkey prompts at the provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils.crypto import keccak

from sso_signer.accounts import Erc4337Account
from sso_signer.erc4337 import BundlerClient, Call, PaymasterClient
from sso_signer.exceptions import ErrorCode, InsufficientBalance, ToolNotFound
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.rpc import EthClient
from sso_signer.sso import account_salt
from sso_signer.webauthn import HeadlessPasskey
from tests.erc4337.round_trip_helpers import CountingProvider, CountingTransport, Log
from tests.erc4337.test_sponsorship_e2e import _async_sponsored_account
from tests.errors import raises_rule
from tests.needs import ERC4337_CONTRACTS, require_artifacts

pytestmark = [pytest.mark.bundler, pytest.mark.chain]

BALANCE = ("node", ("eth_getBalance",))
ESTIMATE = ("bundler", ("eth_estimateUserOperationGas",))
SEND = ("bundler", ("eth_sendUserOperation",))
FINAL = ("paymaster", ("pm_getPaymasterData",))
GAS = {"call_gas_limit": 100_000, "verification_gas_limit": 1_000_000, "pre_verification_gas": 100_000}
ETHER = 10**18


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalErc4337Stack]:
    require_artifacts(*ERC4337_CONTRACTS, "SponsorPaymaster")
    try:
        started = LocalErc4337Stack(test_token=False, sponsor=True, sponsor_any_sender=True).start()
    except ToolNotFound as exc:
        pytest.skip(f"anvil, node or npm @pimlico/alto missing: {exc}")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def log() -> Log:
    return []


@pytest.fixture
def clients(stack: LocalErc4337Stack, log: Log) -> Iterator[tuple[EthClient, BundlerClient, PaymasterClient]]:
    eth = EthClient(stack.eth.rpc.url, transport=CountingTransport("node", log))
    bundler = BundlerClient(
        stack.bundler_url,
        transport=CountingTransport("bundler", log),
        entry_point=stack.deployment.entry_point,
    )
    paymaster = PaymasterClient(
        stack.sponsor_url, paymasters=stack.paymaster, transport=CountingTransport("paymaster", log)
    )
    try:
        yield eth, bundler, paymaster
    finally:
        for client in (eth, bundler, paymaster):
            client.close()


def _account(
    stack: LocalErc4337Stack, clients: tuple[EthClient, BundlerClient, PaymasterClient], tag: str
) -> tuple[Erc4337Account, CountingProvider]:
    provider = CountingProvider(HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173"))
    account = Erc4337Account.counterfactual(
        deployment=stack.deployment,
        eth=clients[0],
        bundler=clients[1],
        credential=provider.passkey,
        provider=provider,
        salt=account_salt(tag),
    )
    return account, provider


def _recipient(tag: str) -> str:
    return "0x" + keccak(tag.encode())[-20:].hex()


def test_a_value_above_the_balance_is_refused_before_the_passkey_signs(
    stack: LocalErc4337Stack, clients: tuple[EthClient, BundlerClient, PaymasterClient], log: Log
) -> None:
    account, provider = _account(stack, clients, "value-over-balance")
    stack.fund(account.address, ETHER // 10)
    recipient = _recipient("value-over-balance-recipient")
    log.clear()  # the counterfactual address was read from the factory

    with raises_rule(ErrorCode.INSUFFICIENT_BALANCE, match="holds 100000000000000000 wei") as info:
        account.send(recipient, ETHER // 5)
    assert isinstance(info.value, InsufficientBalance)
    assert (info.value.account, info.value.required, info.value.available) == (
        account.address,
        ETHER // 5,
        ETHER // 10,
    )
    assert "nothing was signed or sent" in str(info.value)
    assert provider.calls == 0
    assert log[-2:] == [ESTIMATE, BALANCE]  # the failed estimate, then one read
    assert SEND not in log

    # Each call alone is covered, their sum is not.
    log.clear()
    halves = [Call(recipient, ETHER // 15), Call(recipient, ETHER // 15)]
    with raises_rule(ErrorCode.INSUFFICIENT_BALANCE):
        account.send_calls(halves)
    assert (provider.calls, log) == (0, [ESTIMATE, BALANCE])

    # With explicit gas no estimate runs the calls before signing: the balance is read first, alone.
    log.clear()
    with raises_rule(ErrorCode.INSUFFICIENT_BALANCE):
        account.send(recipient, ETHER // 5, gas=GAS)
    assert (provider.calls, log) == (0, [BALANCE])

    # A value the account holds goes through without the read.
    log.clear()
    assert account.send(recipient, ETHER // 100).success
    assert provider.calls == 1
    assert BALANCE not in log
    assert stack.eth.get_balance(recipient) == ETHER // 100

    # An object that does not know the account's state yet reads it with the balance, in one batch.
    fresh = Erc4337Account.at(
        account.address,
        deployment=stack.deployment,
        eth=clients[0],
        bundler=clients[1],
        credential=provider.passkey,
        provider=provider,
    )
    log.clear()
    with raises_rule(ErrorCode.INSUFFICIENT_BALANCE):
        fresh.send(recipient, ETHER, gas=GAS)
    assert log == [("node", ("eth_getCode", "eth_call", "eth_getBalance"))]
    assert provider.calls == 1  # still only the one operation that went through


def test_a_sponsored_send_still_needs_the_value_in_the_account(
    stack: LocalErc4337Stack, clients: tuple[EthClient, BundlerClient, PaymasterClient], log: Log
) -> None:
    account, provider = _account(stack, clients, "sponsored-value-over-balance")
    account.paymaster = clients[2]
    assert stack.eth.get_balance(account.address) == 0
    recipient = _recipient("sponsored-value-recipient")
    log.clear()

    with raises_rule(ErrorCode.INSUFFICIENT_BALANCE, match="even when a paymaster pays the gas") as info:
        account.send(recipient, 1)
    assert isinstance(info.value, InsufficientBalance)
    assert (info.value.required, info.value.available) == (1, 0)
    assert provider.calls == 0
    assert log[-2:] == [ESTIMATE, BALANCE]
    assert FINAL not in log  # the sponsor service only gave its stub for the estimate
    assert SEND not in log

    # No value, no read: the sponsored send runs as before (the paymaster pays, the account holds nothing).
    log.clear()
    assert account.send(recipient, 0).success
    assert BALANCE not in log
    assert provider.calls == 1
    assert stack.eth.get_balance(account.address) == 0


async def test_the_async_account_refuses_the_same_way(stack: LocalErc4337Stack) -> None:
    log: Log = []  # the sponsor service's requests
    async with _async_sponsored_account(stack, "async-value-over-balance", log) as (account, provider):
        with raises_rule(ErrorCode.INSUFFICIENT_BALANCE) as info:
            await account.send(_recipient("async-value-recipient"), 1)
    assert isinstance(info.value, InsufficientBalance)
    assert (info.value.required, info.value.available) == (1, 0)
    assert provider.calls == 0
    assert log == [("paymaster", ("pm_getPaymasterStubData",))]  # the stub for the estimate, no final data
