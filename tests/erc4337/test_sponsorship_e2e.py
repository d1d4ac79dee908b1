"""Sponsored UserOperations end to end: anvil + EntryPoint v0.8 + Alto + the SponsorPaymaster and its ERC-7677
sponsor service (``LocalErc4337Stack(sponsor=True)``).

Round trips are counted at the transport (the transports forward every request to the real services); the
malformed-answer tests rewrite the real service's answer in the transport (fault injection).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from sso_signer import load_artifact
from sso_signer.accounts import AsyncErc4337Account, Erc4337Account, LocalSessionKey
from sso_signer.erc4337 import (
    AsyncBundlerClient,
    AsyncPaymasterClient,
    BundlerClient,
    Call,
    EntryPoint,
    PaymasterClient,
    UserOperation,
)
from sso_signer.exceptions import (
    ConfigurationError,
    ErrorCode,
    InvalidRpcParams,
    MalformedRpcResponse,
)
from sso_signer.local_erc4337 import SPONSOR_DEPOSIT, LocalErc4337Stack
from sso_signer.rpc import AsyncEthClient, EthClient
from sso_signer.sponsor import SponsorBudget, _Served, sponsor_app, sponsorship_digest
from sso_signer.sso import CallPolicy, SessionSpec, TransferPolicy, UsageLimit, account_salt
from sso_signer.webauthn import HeadlessPasskey, open_store
from sso_signer.zksync import PaymasterParams
from tests.erc4337.round_trip_helpers import (
    AsyncCountingTransport,
    CountingProvider,
    CountingTransport,
    Log,
    ManualClock,
    until_send,
)
from tests.erc4337.test_session_e2e import KmsLikeSigner
from tests.errors import raises_rule

pytestmark = [pytest.mark.bundler, pytest.mark.chain]

BLOCKED = "0x" + keccak(b"blocked-recipient")[-20:].hex()
PRICE = ("bundler", ("pimlico_getUserOperationGasPrice",))
ESTIMATE = ("bundler", ("eth_estimateUserOperationGas",))
SEND = ("bundler", ("eth_sendUserOperation",))
STUB = ("paymaster", ("pm_getPaymasterStubData",))
FINAL = ("paymaster", ("pm_getPaymasterData",))


def _policy(
    op: UserOperation, *, calls: tuple[Call, ...], chain_id: int, context: Mapping[str, Any]
) -> str | None:
    """The service's policy: no call to BLOCKED, and no operation that could cost more than 0.1 ETH."""
    if any(call.target.lower() == BLOCKED for call in calls):
        return "calls to this address are not sponsored"
    if op.required_prefund > 10**17:
        return "too expensive"
    return None


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalErc4337Stack]:
    with LocalErc4337Stack(sponsor=True, sponsor_policy=_policy) as started:
        yield started


class Clients:
    """Counted node, bundler and paymaster-service clients (the bundler's clock moves by hand)."""

    def __init__(
        self,
        stack: LocalErc4337Stack,
        paymaster_transport: httpx.BaseTransport | None = None,
        also_pinned: tuple[str, ...] = (),
    ) -> None:
        self.log: Log = []
        self.eth = EthClient(stack.eth.rpc.url, transport=CountingTransport("node", self.log))
        self.bundler = BundlerClient(
            stack.bundler_url,
            transport=CountingTransport("bundler", self.log),
            entry_point=stack.deployment.entry_point,
            clock=ManualClock(),
        )
        self.paymaster = PaymasterClient(
            stack.sponsor_url,
            paymasters=(stack.paymaster, *also_pinned),
            transport=paymaster_transport or CountingTransport("paymaster", self.log),
        )

    def close(self) -> None:
        for client in (self.eth, self.bundler, self.paymaster):
            client.close()


@pytest.fixture
def clients(stack: LocalErc4337Stack) -> Iterator[Clients]:
    made = Clients(stack)
    try:
        yield made
    finally:
        made.close()


def _account(stack: LocalErc4337Stack, clients: Clients, tag: str) -> tuple[Erc4337Account, CountingProvider]:
    provider = CountingProvider(HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173"))
    account = Erc4337Account.counterfactual(
        deployment=stack.deployment,
        eth=clients.eth,
        bundler=clients.bundler,
        credential=provider.passkey,
        provider=provider,
        salt=account_salt(tag),
    )
    return account, provider


def _token_calls(stack: LocalErc4337Stack, account: str, recipient: str, amount: int) -> list[Call]:
    """Mint test tokens to the account and transfer some on: a transfer that needs no ETH."""
    token = stack.deployment.test_token
    assert token is not None
    erc20 = load_artifact("Erc4337TestToken")
    return [
        Call(token, 0, erc20.encode_call("mint", account, amount)),
        Call(token, 0, erc20.encode_call("transfer", recipient, amount // 2)),
    ]


def _token_balance(stack: LocalErc4337Stack, holder: str) -> int:
    token = stack.deployment.test_token
    assert token is not None
    raw = stack.eth.call(
        {"to": token, "data": load_artifact("Erc4337TestToken").encode_call("balanceOf", holder)}
    )
    return int.from_bytes(raw, "big")


def test_a_zero_balance_account_is_created_and_transfers_with_fees_paid_by_the_paymaster(
    stack: LocalErc4337Stack, clients: Clients
) -> None:
    account, provider = _account(stack, clients, "sponsored-zero-balance")
    account.paymaster = clients.paymaster
    entry_point = EntryPoint(stack.eth)
    recipient = "0x" + keccak(b"sponsored-token-recipient")[-20:].hex()
    assert stack.eth.get_balance(account.address) == 0
    assert not account.is_deployed()
    deposit_before = entry_point.balance_of(stack.paymaster)
    assert deposit_before == SPONSOR_DEPOSIT

    clients.log.clear()
    receipt = account.send_calls(_token_calls(stack, account.address, recipient, 1000))
    # Stub before the estimate, final data after it; nothing else is asked (the state of a counterfactual
    # account is known, and no call could share a batch: each needs the answer before it).
    assert until_send(clients.log) == [PRICE, STUB, ESTIMATE, FINAL, SEND]
    assert receipt.success
    assert receipt.paymaster == stack.paymaster
    assert account.is_deployed()
    assert provider.calls == 1
    assert stack.eth.get_balance(account.address) == 0  # the account paid nothing
    assert entry_point.balance_of(account.address) == 0
    assert entry_point.balance_of(stack.paymaster) == deposit_before - receipt.actual_gas_cost
    assert receipt.actual_gas_cost > 0
    assert _token_balance(stack, recipient) == 500

    clients.log.clear()
    second = account.send_calls(_token_calls(stack, account.address, recipient, 10))
    assert until_send(clients.log) == [STUB, ESTIMATE, FINAL, SEND]  # price cached, state counted
    assert second.success
    assert second.paymaster == stack.paymaster
    assert stack.eth.get_balance(account.address) == 0
    assert _token_balance(stack, recipient) == 505


def test_the_services_approval_is_the_digest_the_contract_checks(stack: LocalErc4337Stack) -> None:
    op = UserOperation(
        sender="0x" + "11" * 20,
        nonce=5,
        call_data=b"\xe9\xae\x5c\x53",
        call_gas_limit=70_000,
        verification_gas_limit=300_000,
        pre_verification_gas=50_000,
        max_fee_per_gas=3,
        max_priority_fee_per_gas=2,
        paymaster=stack.paymaster,
        paymaster_verification_gas_limit=40_000,
        paymaster_post_op_gas_limit=1,
        paymaster_data=bytes(77),
    )
    artifact = load_artifact("SponsorPaymaster")
    on_chain = stack.eth.call(
        {"to": stack.paymaster, "data": artifact.encode_call("sponsorshipHash", op.packed(), 1234, 56)}
    )
    expected = sponsorship_digest(
        op, paymaster=stack.paymaster, chain_id=stack.deployment.chain_id, valid_until=1234, valid_after=56
    )
    assert on_chain == expected


def test_a_refusing_policy_is_a_typed_error_before_the_passkey_signs(
    stack: LocalErc4337Stack, clients: Clients
) -> None:
    account, provider = _account(stack, clients, "sponsored-refused")
    clients.log.clear()
    with raises_rule(ErrorCode.SPONSORSHIP_REFUSED) as caught:
        account.send_calls([Call(BLOCKED, 0, b"")], paymaster=clients.paymaster)
    assert "not sponsored" in caught.value.reason
    assert caught.value.code is not None
    assert provider.calls == 0  # the passkey was never asked
    assert SEND not in clients.log
    assert ESTIMATE not in clients.log

    # A policy on the client refuses before the service is asked at all.
    def small_only(
        op: UserOperation, *, calls: tuple[Call, ...], chain_id: int, context: Mapping[str, Any]
    ) -> str | None:
        return "values above 0 are not sponsored" if any(call.value for call in calls) else None

    local = PaymasterClient(
        stack.sponsor_url,
        paymasters=stack.paymaster,
        policy=small_only,
        transport=CountingTransport("paymaster", clients.log),
    )
    clients.log.clear()
    with raises_rule(ErrorCode.SPONSORSHIP_REFUSED) as refused_locally:
        account.send_calls([Call(BLOCKED, 1, b"")], paymaster=local)
    assert refused_locally.value.code is None
    assert STUB not in clients.log
    assert provider.calls == 0
    local.close()


class RewritingTransport(httpx.BaseTransport):
    """Forwards to the real sponsor service, then rewrites the answer of ``method`` (fault injection)."""

    def __init__(self, method: str, rewrite: Callable[[dict[str, Any]], Any]) -> None:
        self.inner = httpx.HTTPTransport()
        self.method = method
        self.rewrite = rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        if json.loads(request.content).get("method") != self.method:
            return response
        body = response.json()
        rewritten = self.rewrite(body["result"])
        content = (
            rewritten if isinstance(rewritten, bytes) else json.dumps({**body, "result": rewritten}).encode()
        )
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    def close(self) -> None:
        self.inner.close()


OTHER_PAYMASTER = "0x" + keccak(b"other")[-20:].hex()
MALFORMED = ErrorCode.MALFORMED_PAYMASTER_RESPONSE
HOSTILE = {
    "paymaster is not an address": ("pm_getPaymasterStubData", lambda r: {**r, "paymaster": "0x1234"}),
    "zero paymaster": ("pm_getPaymasterStubData", lambda r: {**r, "paymaster": "0x" + "00" * 20}),
    "huge paymasterData": ("pm_getPaymasterStubData", lambda r: {**r, "paymasterData": "0x" + "ab" * 9000}),
    "paymasterData not hex": ("pm_getPaymasterData", lambda r: {**r, "paymasterData": "0xzz"}),
    "gas limit above uint128": (
        "pm_getPaymasterStubData",
        lambda r: {**r, "paymasterPostOpGasLimit": "0x1" + "0" * 32},
    ),
    "isFinal not a boolean": ("pm_getPaymasterStubData", lambda r: {**r, "isFinal": "yes"}),
    "sponsor without a name": ("pm_getPaymasterStubData", lambda r: {**r, "sponsor": {"icon": "data:,"}}),
    "result not an object": ("pm_getPaymasterStubData", lambda r: [r]),
}
# A compromised service names another paymaster (one the account approved tokens to, say).
UNPINNED = {
    "stub names an unpinned paymaster": ("pm_getPaymasterStubData", ErrorCode.UNEXPECTED_PAYMASTER, ()),
    "final names an unpinned paymaster": ("pm_getPaymasterData", ErrorCode.UNEXPECTED_PAYMASTER, ()),
    # Both pinned, but the final answer switches contracts: the gas was estimated for the stub's one.
    "final names another pinned paymaster": (
        "pm_getPaymasterData",
        ErrorCode.PAYMASTER_CHANGED,
        (OTHER_PAYMASTER,),
    ),
}


def _refused_before_signing(
    stack: LocalErc4337Stack, made: Clients, case: str, rule: ErrorCode
) -> tuple[Erc4337Account, CountingProvider]:
    account, provider = _account(stack, made, f"hostile-{case}")
    with raises_rule(rule):
        account.send_calls(_token_calls(stack, account.address, account.address, 2), paymaster=made.paymaster)
    assert provider.calls == 0  # the passkey was never asked
    assert SEND not in made.log
    return account, provider


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_malformed_service_answer_is_a_typed_error_before_signing(
    stack: LocalErc4337Stack, case: str
) -> None:
    method, rewrite = HOSTILE[case]
    made = Clients(stack, paymaster_transport=RewritingTransport(method, rewrite))
    try:
        _refused_before_signing(stack, made, case, MALFORMED)
    finally:
        made.close()


@pytest.mark.parametrize("case", sorted(UNPINNED))
def test_a_paymaster_the_client_is_not_pinned_to_is_refused_before_signing(
    stack: LocalErc4337Stack, case: str
) -> None:
    method, rule, also_pinned = UNPINNED[case]
    made = Clients(
        stack,
        paymaster_transport=RewritingTransport(method, lambda r: {**r, "paymaster": OTHER_PAYMASTER}),
        also_pinned=also_pinned,
    )
    try:
        account, _ = _refused_before_signing(stack, made, case, rule)
        assert not account.is_deployed()
    finally:
        made.close()


def test_a_deeply_nested_answer_is_a_typed_error(stack: LocalErc4337Stack) -> None:
    nested = b'{"jsonrpc":"2.0","id":1,"result":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    made = Clients(stack, paymaster_transport=RewritingTransport("pm_getPaymasterStubData", lambda r: nested))
    try:
        account, provider = _account(stack, made, "hostile-nested")
        with pytest.raises(MalformedRpcResponse):
            account.send_calls([], paymaster=made.paymaster)
        assert provider.calls == 0
    finally:
        made.close()


def test_a_final_stub_skips_the_second_request(stack: LocalErc4337Stack, clients: Clients) -> None:
    # A paymaster that needs no approval (the test paymaster sponsors any op with empty data): its service
    # answers the stub with isFinal, and the account asks nothing more of it.
    artifact = load_artifact("Erc4337TestPaymaster")
    paymaster, _ = stack.eth.deploy_contract(stack.funder, artifact.deploy_data(stack.deployment.entry_point))
    stack.eth.send_transaction(stack.funder, to=paymaster, data=artifact.encode_call("deposit"), value=10**18)
    app = sponsor_app(
        paymaster=paymaster, signer=None, chain_id=stack.deployment.chain_id, allow_any_sender=True
    )
    served = _Served(app).start()
    try:
        with PaymasterClient(
            served.url, paymasters=paymaster, transport=CountingTransport("paymaster", clients.log)
        ) as service:
            account, provider = _account(stack, clients, "sponsored-final-stub")
            clients.log.clear()
            receipt = account.send_calls(
                _token_calls(stack, account.address, account.address, 4), paymaster=service
            )
        assert until_send(clients.log) == [PRICE, STUB, ESTIMATE, SEND]  # no pm_getPaymasterData
        assert receipt.success
        assert receipt.paymaster == paymaster
        assert provider.calls == 1
        assert stack.eth.get_balance(account.address) == 0
    finally:
        served.stop()

    # The same paymaster as a fixed one (address and data, as on Era): no service is asked at all.
    fixed, _ = _account(stack, clients, "sponsored-fixed")
    fixed.paymaster = PaymasterParams(paymaster)
    clients.log.clear()
    receipt = fixed.send_calls(_token_calls(stack, fixed.address, fixed.address, 4))
    assert until_send(clients.log) == [ESTIMATE, SEND]
    assert receipt.paymaster == paymaster
    assert stack.eth.get_balance(fixed.address) == 0


def test_a_paymaster_client_of_the_other_world_is_refused(stack: LocalErc4337Stack, clients: Clients) -> None:
    account, provider = _account(stack, clients, "wrong-world")
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION) as caught:
        account.build_user_operation(
            [], paymaster=AsyncPaymasterClient(stack.sponsor_url, paymasters=stack.paymaster)
        )
    assert isinstance(caught.value, ConfigurationError)
    with pytest.raises(InvalidRpcParams):
        account.build_user_operation([], paymaster=clients.paymaster, paymaster_data=b"\x01")
    assert provider.calls == 0


@contextlib.asynccontextmanager
async def _async_sponsored_account(
    stack: LocalErc4337Stack, tag: str, log: Log
) -> AsyncIterator[tuple[AsyncErc4337Account, CountingProvider]]:
    """A counterfactual async account whose operations the sponsor service pays (its requests in ``log``)."""
    provider = CountingProvider(HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173"))
    async with (
        AsyncEthClient(stack.eth.rpc.url) as eth,
        AsyncBundlerClient(stack.bundler_url, entry_point=stack.deployment.entry_point) as bundler,
        AsyncPaymasterClient(
            stack.sponsor_url, paymasters=stack.paymaster, transport=AsyncCountingTransport("paymaster", log)
        ) as service,
    ):
        account = await AsyncErc4337Account.counterfactual(
            deployment=stack.deployment,
            eth=eth,
            bundler=bundler,
            credential=provider.passkey,
            provider=provider,
            salt=account_salt(tag),
        )
        account.paymaster = service
        yield account, provider


async def test_async_account_is_sponsored_too(stack: LocalErc4337Stack) -> None:
    log: Log = []
    async with _async_sponsored_account(stack, "sponsored-async", log) as (account, provider):
        receipt = await account.send_calls(_token_calls(stack, account.address, account.address, 6))
    assert receipt.success
    assert receipt.paymaster == stack.paymaster
    assert [entry for entry in log] == [STUB, FINAL]
    assert provider.calls == 1
    assert stack.eth.get_balance(account.address) == 0


async def test_async_client_pinned_to_another_paymaster_refuses_before_signing(
    stack: LocalErc4337Stack,
) -> None:
    log: Log = []
    async with (
        _async_sponsored_account(stack, "sponsored-async-unpinned", log) as (account, provider),
        AsyncPaymasterClient(stack.sponsor_url, paymasters=OTHER_PAYMASTER) as wary,
    ):
        with raises_rule(ErrorCode.UNEXPECTED_PAYMASTER):
            await account.send_calls(_token_calls(stack, account.address, account.address, 6), paymaster=wary)
    assert provider.calls == 0
    assert log == []  # the account's own (pinned) client was never asked


def test_an_expired_approval_is_refused_by_the_bundler(stack: LocalErc4337Stack, clients: Clients) -> None:
    # A sponsor whose clock is an hour behind signs windows that ended before the chain's time.
    sponsor_key = Account.create()
    artifact = load_artifact("SponsorPaymaster")
    data = artifact.deploy_data(stack.deployment.entry_point, sponsor_key.address, stack.funder.address)
    paymaster, _ = stack.eth.deploy_contract(stack.funder, data)
    stack.eth.send_transaction(stack.funder, to=paymaster, data=artifact.encode_call("deposit"), value=10**18)
    block = stack.eth.get_block("latest")
    assert block is not None
    behind = int(block["timestamp"], 16) - 3600
    app = sponsor_app(
        paymaster=paymaster,
        signer=sponsor_key,
        chain_id=stack.deployment.chain_id,
        allow_any_sender=True,
        validity=60,
        clock=lambda: behind,
    )
    served = _Served(app).start()
    try:
        with PaymasterClient(served.url, paymasters=paymaster) as service:
            account, provider = _account(stack, clients, "sponsored-expired")
            with raises_rule(ErrorCode.PAYMASTER_VALIDATION_FAILED) as caught:
                calls = _token_calls(stack, account.address, account.address, 2)
                account.send_calls(calls, paymaster=service)
        assert caught.value.aa_code == "AA32"  # paymaster expired or not due
        # The bundler's simulation ignores validity windows, so this is found at the send: the passkey has
        # signed, the bundler refused, nothing ran and the account still does not exist.
        assert provider.calls == 1
        assert not account.is_deployed()
    finally:
        served.stop()


def test_a_senders_budget_is_spent_on_chain_then_refused_before_the_passkey_signs(
    stack: LocalErc4337Stack, clients: Clients, tmp_path: Path
) -> None:
    # A service that fails closed: it sponsors one listed (still counterfactual) account, once per hour.
    sponsor_key = Account.create()
    artifact = load_artifact("SponsorPaymaster")
    data = artifact.deploy_data(stack.deployment.entry_point, sponsor_key.address, stack.funder.address)
    paymaster, _ = stack.eth.deploy_contract(stack.funder, data)
    stack.eth.send_transaction(stack.funder, to=paymaster, data=artifact.encode_call("deposit"), value=10**18)
    account, provider = _account(stack, clients, "sponsored-budget")
    stranger, stranger_provider = _account(stack, clients, "sponsored-budget-stranger")
    with open_store(f"sqlite:///{tmp_path / 'budget.db'}") as store:
        app = sponsor_app(
            paymaster=paymaster,
            signer=sponsor_key,
            chain_id=stack.deployment.chain_id,
            entry_point=stack.deployment.entry_point,
            policy=_policy,
            senders=[account.address],
            budget=SponsorBudget(store, period=3600, max_operations=1),
        )
        served = _Served(app).start()
        try:
            with PaymasterClient(served.url, paymasters=paymaster) as service:
                receipt = account.send_calls(
                    _token_calls(stack, account.address, account.address, 4), paymaster=service
                )
                assert receipt.success
                assert receipt.paymaster == paymaster
                assert provider.calls == 1
                assert stack.eth.get_balance(account.address) == 0
                with raises_rule(ErrorCode.SPONSOR_BUDGET_EXCEEDED) as caught:
                    account.send_calls(
                        _token_calls(stack, account.address, account.address, 4), paymaster=service
                    )
                assert caught.value.code == -32040
                assert isinstance(caught.value.data, dict)
                assert caught.value.data["periodEnds"] % 3600 == 0
                assert provider.calls == 1  # refused at the stub: the passkey was not asked
                with raises_rule(ErrorCode.SPONSOR_SENDER_NOT_ALLOWED):
                    stranger.send_calls(
                        _token_calls(stack, stranger.address, stranger.address, 4), paymaster=service
                    )
                assert stranger_provider.calls == 0
                assert not stranger.is_deployed()
        finally:
            served.stop()


class CountingSessionKey:
    """A session signer that counts what it signed (to show a refusal comes before the key is asked)."""

    def __init__(self) -> None:
        self.key = LocalSessionKey.generate()
        self.address = self.key.address
        self.signed = 0

    def sign_hash(self, digest: bytes) -> bytes:
        self.signed += 1
        return self.key.sign_hash(digest)


def test_a_zero_balance_accounts_session_key_sends_with_fees_paid_by_the_paymaster(
    stack: LocalErc4337Stack, clients: Clients
) -> None:
    token = stack.deployment.test_token
    assert token is not None
    erc20 = load_artifact("Erc4337TestToken")
    recipient = "0x" + keccak(b"sponsored-session-recipient")[-20:].hex()
    account, provider = _account(stack, clients, "sponsored-session")
    account.paymaster = clients.paymaster  # the passkey's operations are sponsored too
    assert account.send_calls([Call(token, 0, erc20.encode_call("mint", account.address, 1000))]).success
    signer = CountingSessionKey()
    block = stack.eth.get_block("latest")
    assert block is not None
    spec = SessionSpec(
        signer=signer.address,
        expires_at=int(block["timestamp"], 16) + 86_400,
        # 1 wei: any operation the account paid for would exceed it. The validator counts fees only when
        # paymasterAndData is empty (sso-sessions.md 2.7 step 12), so sponsored operations never touch it.
        fee_limit=UsageLimit.lifetime(1),
        call_policies=(CallPolicy(token, erc20.selector("transfer")),),
        transfer_policies=(TransferPolicy(BLOCKED, 0),),
    )
    assert account.create_session(spec, signer).success
    assert provider.calls == 2  # the mint (which created the account) and the session: no more prompts
    assert signer.signed == 1  # the session proof

    transfer = erc20.encode_call("transfer", recipient, 100)
    clients.log.clear()
    receipt = account.send_with_session(spec, signer, token, 0, transfer, paymaster=clients.paymaster)
    # The service's stub goes into the estimate; its final data comes after it, before the key signs.
    sent = [entry for entry in until_send(clients.log) if entry[0] != "node"]
    assert sent[-4:] == [STUB, ESTIMATE, FINAL, SEND]
    assert receipt.success
    assert receipt.paymaster == stack.paymaster
    assert provider.calls == 2  # no passkey
    assert signer.signed == 2
    assert stack.eth.get_balance(account.address) == 0  # the account paid nothing
    assert _token_balance(stack, recipient) == 100
    assert account.session_state(spec).fees_remaining == 1  # nothing counted against the fee limit

    # The account's paymaster serves as the default, as for send_calls.
    assert account.send_with_session(spec, signer, token, 0, transfer).paymaster == stack.paymaster
    assert _token_balance(stack, recipient) == 200
    assert signer.signed == 3

    # Unsponsored (and with ETH to pay), the same call would be charged its fee: the preflight refuses it
    # before signing.
    account.paymaster = None
    stack.fund(account.address, 10**17)
    with raises_rule(ErrorCode.SESSION_LIFETIME_LIMIT) as refused:
        account.send_with_session(spec, signer, token, 0, transfer)
    assert refused.value.limit == "fee"
    assert signer.signed == 3

    # The service's refusal comes before the session key is asked.
    with raises_rule(ErrorCode.SPONSORSHIP_REFUSED):
        account.send_with_session(spec, signer, BLOCKED, 0, paymaster=clients.paymaster)
    assert signer.signed == 3
    # So does a paymaster the client is not pinned to.
    with (
        PaymasterClient(stack.sponsor_url, paymasters=OTHER_PAYMASTER) as wary,
        raises_rule(ErrorCode.UNEXPECTED_PAYMASTER),
    ):
        account.send_with_session(spec, signer, token, 0, transfer, paymaster=wary)
    assert signer.signed == 3


async def test_the_async_accounts_session_key_is_sponsored_too(stack: LocalErc4337Stack) -> None:
    token = stack.deployment.test_token
    assert token is not None
    erc20 = load_artifact("Erc4337TestToken")
    recipient = "0x" + keccak(b"sponsored-async-session-recipient")[-20:].hex()
    log: Log = []
    signer = KmsLikeSigner()  # an async session signer
    async with _async_sponsored_account(stack, "sponsored-async-session", log) as (account, provider):
        mint = Call(token, 0, erc20.encode_call("mint", account.address, 100))
        assert (await account.send_calls([mint])).success
        latest = await account.eth.get_block("latest")
        assert latest is not None
        spec = SessionSpec(
            signer.address,
            int(latest["timestamp"], 16) + 86_400,
            UsageLimit.lifetime(1),  # never touched: every operation is sponsored
            call_policies=(CallPolicy(token, erc20.selector("transfer")),),
        )
        assert (await account.create_session(spec, signer)).success
        log.clear()
        transfer = erc20.encode_call("transfer", recipient, 40)
        receipt = await account.send_with_session(spec, signer, token, 0, transfer)
        assert (await account.session_state(spec)).fees_remaining == 1
    assert receipt.success
    assert receipt.paymaster == stack.paymaster
    assert log == [STUB, FINAL]
    assert (provider.calls, signer.signed) == (2, 2)  # the passkey: mint, session; the key: proof, send
    assert stack.eth.get_balance(account.address) == 0
    assert _token_balance(stack, recipient) == 40
