"""Round trips of a passkey UserOperation, counted at the transport, against real anvil + Alto.

The transports only count and forward (``tests.erc4337.round_trip_helpers``); every answer comes from the
running node or bundler. The bundler clients read a clock the test moves by hand, so the gas price cache
does not depend on how long a step takes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils.crypto import keccak

from sso_signer.accounts import AsyncErc4337Account, Erc4337Account
from sso_signer.erc4337 import AsyncBundlerClient, BundlerClient, UserOperation
from sso_signer.exceptions import (
    ErrorCode,
    InvalidRpcParams,
)
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.rpc import AsyncEthClient, EthClient, RetryPolicy
from sso_signer.sso import account_salt
from sso_signer.webauthn import HeadlessPasskey
from tests.erc4337.round_trip_helpers import (
    AnswerLosingTransport,
    AsyncCountingTransport,
    CountingProvider,
    CountingTransport,
    Log,
    ManualClock,
    until_send,
)
from tests.errors import raises_rule

pytestmark = [pytest.mark.bundler, pytest.mark.chain]

ETHER = 10**18
PRICE = ("bundler", ("pimlico_getUserOperationGasPrice",))
ESTIMATE = ("bundler", ("eth_estimateUserOperationGas",))
SEND = ("bundler", ("eth_sendUserOperation",))
NODE_STATE = ("node", ("eth_getCode", "eth_call"))  # one batch: code + EntryPoint.getNonce


def _passkey() -> HeadlessPasskey:
    return HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")


def _recipient(tag: str) -> str:
    return "0x" + keccak(tag.encode())[-20:].hex()


class Clients:
    """A counted node client and a counted bundler client with a hand-moved clock."""

    def __init__(self, stack: LocalErc4337Stack) -> None:
        self.log: Log = []
        self.clock = ManualClock()
        self.eth = EthClient(stack.eth.rpc.url, transport=CountingTransport("node", self.log))
        self.bundler = BundlerClient(
            stack.bundler_url,
            transport=CountingTransport("bundler", self.log),
            entry_point=stack.deployment.entry_point,
            clock=self.clock,
        )

    def close(self) -> None:
        self.eth.close()
        self.bundler.close()


@pytest.fixture
def clients(sso_stack: LocalErc4337Stack) -> Iterator[Clients]:
    made = Clients(sso_stack)
    try:
        yield made
    finally:
        made.close()


def _counterfactual(
    stack: LocalErc4337Stack,
    clients: Clients,
    passkey: HeadlessPasskey,
    provider: CountingProvider,
    salt: bytes,
    bundler: BundlerClient | None = None,
) -> Erc4337Account:
    return Erc4337Account.counterfactual(
        deployment=stack.deployment,
        eth=clients.eth,
        bundler=bundler or clients.bundler,
        credential=passkey,
        provider=provider,
        salt=salt,
    )


def _funded(
    stack: LocalErc4337Stack, clients: Clients, bundler: BundlerClient | None = None
) -> tuple[Erc4337Account, CountingProvider]:
    """A funded (1 ETH) counterfactual account of a new passkey, and the provider counting its signatures."""
    provider = CountingProvider(_passkey())
    account = _counterfactual(stack, clients, provider.passkey, provider, account_salt(None), bundler=bundler)
    stack.eth.send_transaction(stack.funder, to=account.address, value=ETHER)
    return account, provider


def test_second_operation_of_one_account_object_takes_two_requests(
    sso_stack: LocalErc4337Stack, clients: Clients
) -> None:
    account, provider = _funded(sso_stack, clients)
    recipient = _recipient("steady-state")

    clients.log.clear()
    first = account.send_calls([(recipient, 1, b"")])
    # Counterfactual: not deployed and nonce 0 are known without asking the node.
    assert until_send(clients.log) == [PRICE, ESTIMATE, SEND]
    assert first.success
    assert first.nonce == 0

    clients.log.clear()
    second = account.send_calls([(recipient, 2, b"")])
    assert until_send(clients.log) == [ESTIMATE, SEND]  # state counted locally, price cached
    assert second.success
    assert second.nonce == 1
    assert provider.calls == 2
    assert sso_stack.eth.get_balance(recipient) == 3
    assert account.get_nonce() == 2  # the chain agrees with the local count

    # With explicit gas and a cached price only the balance is read before the send: no estimate runs the
    # calls, so the value is checked before the passkey signs.
    op = account.build_user_operation([(recipient, 4, b"")])
    gas = {
        "call_gas_limit": op.call_gas_limit,
        "verification_gas_limit": op.verification_gas_limit,
        "pre_verification_gas": op.pre_verification_gas,
    }
    clients.log.clear()
    third = account.send_calls([(recipient, 4, b"")], gas=gas)
    assert until_send(clients.log) == [("node", ("eth_getBalance",)), SEND]
    assert third.success
    assert third.nonce == 2


def test_refused_send_and_forget_state_make_the_next_operation_read_the_chain(
    sso_stack: LocalErc4337Stack, clients: Clients
) -> None:
    account, _ = _funded(sso_stack, clients)
    recipient = _recipient("refused-then-forgotten")
    account.send_calls([(recipient, 1, b"")])

    # The stub signature is well-formed but by another key: the bundler refuses the send (AA24).
    op = account.build_user_operation([(recipient, 2, b"")])
    with raises_rule(ErrorCode.SIGNATURE_VALIDATION_FAILED):
        account.send_user_operation(op.replace(signature=account.stub_signature()))
    clients.log.clear()
    receipt = account.send_calls([(recipient, 2, b"")])
    # Both caches were dropped by the refusal: the state is read again and so is the gas price.
    assert until_send(clients.log) == [NODE_STATE, PRICE, ESTIMATE, SEND]
    assert receipt.nonce == 1

    account.forget_state()
    clients.log.clear()
    assert account.send_calls([(recipient, 3, b"")]).nonce == 2
    assert until_send(clients.log) == [NODE_STATE, ESTIMATE, SEND]


def test_first_operation_of_an_at_account_reads_the_state_in_one_batch(
    sso_stack: LocalErc4337Stack, clients: Clients
) -> None:
    creator, provider = _funded(sso_stack, clients)
    creator.send_calls([])
    passkey = provider.passkey

    account = Erc4337Account.at(
        creator.address,
        deployment=sso_stack.deployment,
        eth=clients.eth,
        bundler=clients.bundler,
        credential=passkey,
        provider=provider,
    )
    clients.log.clear()
    receipt = account.send_calls([(_recipient("at-first"), 5, b"")])
    assert until_send(clients.log) == [NODE_STATE, ESTIMATE, SEND]  # the price is still cached
    assert receipt.success
    assert receipt.nonce == 1


def test_stale_nonce_is_found_at_estimation_and_resynced_before_signing(
    sso_stack: LocalErc4337Stack, clients: Clients
) -> None:
    account, provider = _funded(sso_stack, clients)
    account.send_calls([])  # created; this object now counts nonce 1

    # Another account object on the same address sends first: the chain's nonce moves to 2.
    other = Erc4337Account.at(
        account.address,
        deployment=sso_stack.deployment,
        eth=sso_stack.eth,
        bundler=sso_stack.bundler,
        credential=provider.passkey,
    )
    assert other.send_calls([(_recipient("other-sender"), 7, b"")]).nonce == 1

    signed_before = provider.calls
    clients.log.clear()
    receipt = account.send_calls([(_recipient("after-the-other"), 8, b"")])
    # The estimate with the stale nonce 1 is refused (AA25), the state is read, the estimate repeated.
    assert until_send(clients.log) == [ESTIMATE, NODE_STATE, ESTIMATE, SEND]
    assert provider.calls == signed_before + 1  # one passkey signature for the one operation
    assert receipt.success
    assert receipt.nonce == 2

    clients.log.clear()
    account.send_calls([(_recipient("after-the-other"), 9, b"")])
    assert until_send(clients.log) == [ESTIMATE, SEND]  # back in step


def test_account_created_by_another_object_is_found_at_estimation(
    sso_stack: LocalErc4337Stack, clients: Clients
) -> None:
    passkey = _passkey()
    salt = account_salt(None)
    creator = _counterfactual(sso_stack, clients, passkey, CountingProvider(passkey), salt)
    provider = CountingProvider(passkey)
    late = _counterfactual(sso_stack, clients, passkey, provider, salt)
    assert late.address == creator.address
    sso_stack.eth.send_transaction(sso_stack.funder, to=creator.address, value=ETHER)
    creator.send_calls([])  # the other object creates it; ``late`` still assumes "not deployed"
    # A third object cannot be made now: the factory will not create the account twice, so the EntryPoint
    # cannot predict its address (it answers 0x0, which is not taken for an address).
    with raises_rule(ErrorCode.FACTORY_CALL_FAILED, match="may already exist"):
        _counterfactual(sso_stack, clients, passkey, CountingProvider(passkey), salt)

    clients.log.clear()
    receipt = late.send_calls([(_recipient("late-object"), 3, b"")])
    # initCode for an existing account is refused at estimation; the state is read and the op rebuilt.
    assert until_send(clients.log) == [ESTIMATE, NODE_STATE, ESTIMATE, SEND]
    assert provider.calls == 1
    assert receipt.success
    assert receipt.nonce == 1
    assert late.factory_data is None


def test_a_lost_send_answer_makes_the_next_operation_read_the_chain(
    sso_stack: LocalErc4337Stack, clients: Clients
) -> None:
    losing = BundlerClient(
        sso_stack.bundler_url,
        transport=AnswerLosingTransport("bundler", clients.log),
        entry_point=sso_stack.deployment.entry_point,
        clock=clients.clock,
        retry=RetryPolicy(attempts=1),
    )
    try:
        account, provider = _funded(sso_stack, clients, bundler=losing)
        with raises_rule(ErrorCode.USER_OPERATION_OUTCOME_UNKNOWN) as caught:
            account.send_calls([(_recipient("lost-answer"), 5, b"")])
        lost = caught.value
        assert lost.user_operation is not None
        assert lost.user_op_hash is not None
        assert lost.user_operation.nonce == 0
        # The bundler did get it: the hash the error names is included.
        receipt = losing.wait_for_user_operation_receipt(lost.user_op_hash, timeout=30)
        assert receipt.success
        assert account.is_deployed()

        clients.log.clear()
        after = account.send_calls([(_recipient("after-lost-answer"), 6, b"")])
        # Nothing is assumed after a lost answer: the state is read, then the op built on it (nonce 1, no
        # initCode) goes through with one new signature.
        assert until_send(clients.log)[0] == NODE_STATE
        assert until_send(clients.log)[-2:] == [ESTIMATE, SEND]
        assert after.success
        assert after.nonce == 1
        assert provider.calls == 2
        assert account.factory_data is None
    finally:
        losing.close()


async def test_async_account_counts_its_state_and_resyncs(sso_stack: LocalErc4337Stack) -> None:
    log: Log = []
    clock = ManualClock()
    passkey = _passkey()
    provider = CountingProvider(passkey)
    async with (
        AsyncEthClient(sso_stack.eth.rpc.url, transport=AsyncCountingTransport("node", log)) as eth,
        AsyncBundlerClient(
            sso_stack.bundler_url,
            transport=AsyncCountingTransport("bundler", log),
            entry_point=sso_stack.deployment.entry_point,
            clock=clock,
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
        sso_stack.eth.send_transaction(sso_stack.funder, to=account.address, value=ETHER)
        recipient = _recipient("async-steady")

        log.clear()
        assert (await account.send_calls([(recipient, 1, b"")])).nonce == 0
        assert until_send(log) == [PRICE, ESTIMATE, SEND]
        log.clear()
        assert (await account.send_calls([(recipient, 2, b"")])).nonce == 1
        assert until_send(log) == [ESTIMATE, SEND]

        other = Erc4337Account.at(
            account.address,
            deployment=sso_stack.deployment,
            eth=sso_stack.eth,
            bundler=sso_stack.bundler,
            credential=passkey,
        )
        other.send_calls([(recipient, 3, b"")])
        signed_before = provider.calls
        log.clear()
        receipt = await account.send_calls([(recipient, 4, b"")])
        assert until_send(log) == [ESTIMATE, NODE_STATE, ESTIMATE, SEND]
        assert provider.calls == signed_before + 1
        assert receipt.nonce == 3
    assert sso_stack.eth.get_balance(recipient) == 10


# -- the gas price cache -------------------------------------------------------------------------------------


def test_gas_price_cache_honours_its_ttl(sso_stack: LocalErc4337Stack) -> None:
    log: Log = []
    clock = ManualClock()
    with BundlerClient(
        sso_stack.bundler_url,
        transport=CountingTransport("bundler", log),
        entry_point=sso_stack.deployment.entry_point,
        gas_price_ttl=10,
        clock=clock,
    ) as bundler:
        first = bundler.get_user_operation_gas_price()
        clock.now += 9.9
        assert bundler.get_user_operation_gas_price() is first
        assert log == [PRICE]
        clock.now += 0.1  # exactly the ttl: too old
        bundler.get_user_operation_gas_price()
        assert log == [PRICE, PRICE]
        bundler.gas_price_cache.clear()
        bundler.get_user_operation_gas_price()
        assert len(log) == 3

        # A refused send drops the cached price (the refusal may be about fees).
        bogus = UserOperation(sender=_recipient("no-such-account"), nonce=0, max_fee_per_gas=1)
        with raises_rule(ErrorCode.ACCOUNT_VALIDATION_FAILED):
            bundler.send_user_operation(bogus)
        log.clear()
        bundler.get_user_operation_gas_price()
        assert log == [PRICE]

    log.clear()
    with BundlerClient(
        sso_stack.bundler_url,
        transport=CountingTransport("bundler", log),
        entry_point=sso_stack.deployment.entry_point,
        gas_price_ttl=0,
        clock=clock,
    ) as uncached:
        uncached.get_user_operation_gas_price()
        uncached.get_user_operation_gas_price()
    assert log == [PRICE, PRICE]


async def test_async_gas_price_cache_honours_its_ttl(sso_stack: LocalErc4337Stack) -> None:
    log: Log = []
    clock = ManualClock()
    async with AsyncBundlerClient(
        sso_stack.bundler_url,
        transport=AsyncCountingTransport("bundler", log),
        entry_point=sso_stack.deployment.entry_point,
        gas_price_ttl=5,
        clock=clock,
    ) as bundler:
        first = await bundler.get_user_operation_gas_price()
        clock.now += 4.9
        assert await bundler.get_user_operation_gas_price() is first
        assert log == [PRICE]
        clock.now += 0.1
        await bundler.get_user_operation_gas_price()
        assert log == [PRICE, PRICE]


@pytest.mark.parametrize("ttl", [-1, float("nan"), "10"])
def test_gas_price_ttl_must_be_a_non_negative_number(ttl: object) -> None:
    with pytest.raises(InvalidRpcParams, match="gas_price_ttl"):
        BundlerClient("http://127.0.0.1:9", gas_price_ttl=ttl)  # type: ignore[arg-type]
