"""Session keys end to end on anvil + EntryPoint v0.8 + the SSO ERC-4337 contracts + Alto.

A passkey account opens a session (one passkey-signed UserOperation that also creates the account and
installs the SessionKeyValidator); the backend's session key then sends a transfer and a constrained token
call with no passkey prompt. Each forbidden call (over the value limit, a disallowed selector, an exhausted
periodic allowance, a revoked and an expired session) is refused by the preflight, and, forced past it, by the
validator in Alto's simulation, with the same rule. The passkey fallback runs the call the session cannot.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak

from sso_signer.accounts import (
    AssertionRequest,
    Erc4337Account,
    HeadlessAssertionProvider,
    LocalSessionKey,
    SessionInfo,
)
from sso_signer.exceptions import ErrorCode, SessionRefused, UserOperationRejected
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.rpc import EthClient
from sso_signer.sso import (
    CallPolicy,
    Condition,
    Constraint,
    SessionSpec,
    TransferPolicy,
    UsageLimit,
    account_salt,
)
from sso_signer.sso._session_spec import SessionStatus
from sso_signer.sso._signature import abi_call
from sso_signer.webauthn import Assertion, HeadlessPasskey
from tests.errors import raises_rule
from tests.needs import started_erc4337_stack

pytestmark = [pytest.mark.bundler, pytest.mark.chain]

ETHER = 10**18
DAY = 86_400
RECIPIENT = "0x1111111111111111111111111111111111111111"
TRANSFER = keccak(text="transfer(address,uint256)")[:4]
APPROVE = keccak(text="approve(address,uint256)")[:4]
BALANCE_OF = keccak(text="balanceOf(address)")[:4]


class CountingProvider:
    """A passkey provider that counts the assertions it was asked for."""

    def __init__(self, passkey: HeadlessPasskey) -> None:
        self.inner = HeadlessAssertionProvider(passkey)
        self.calls = 0

    def get_assertion(self, request: AssertionRequest) -> Assertion:
        self.calls += 1
        return self.inner.get_assertion(request)


@dataclass
class World:
    stack: LocalErc4337Stack
    account: Erc4337Account
    provider: CountingProvider
    token: str


def funded_account(
    stack: LocalErc4337Stack, passkey: HeadlessPasskey, user: str, **options: Any
) -> Erc4337Account:
    """A counterfactual passkey account with 1 ETH (its first UserOperation creates it)."""
    account = Erc4337Account.counterfactual(
        deployment=stack.deployment,
        eth=stack.eth,
        bundler=stack.bundler,
        credential=passkey,
        salt=account_salt(user),
        **options,
    )
    stack.fund(account.address, ETHER)
    return account


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with started_erc4337_stack(test_token=True) as stack:
        passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
        provider = CountingProvider(passkey)
        account = funded_account(stack, passkey, "session-e2e@example.org", provider=provider)
        token = stack.deployment.test_token
        assert token is not None
        yield World(stack, account, provider, token)


def token_call(selector: bytes, to: str, amount: int) -> bytes:
    return selector + abi_encode(["address", "uint256"], [to, amount])


def chain_time(world: World) -> int:
    block = world.stack.eth.get_block("latest")
    assert block is not None
    return int(block["timestamp"], 16)


def token_balance(world: World, owner: str) -> int:
    data = BALANCE_OF + abi_encode(["address"], [owner])
    return int.from_bytes(world.stack.eth.call({"to": world.token, "data": data}), "big")


def make_spec(world: World, key: LocalSessionKey, expires_at: int) -> SessionSpec:
    return SessionSpec(
        signer=key.address,
        expires_at=expires_at,
        fee_limit=UsageLimit.lifetime(ETHER // 10),
        call_policies=(
            CallPolicy(
                world.token,
                TRANSFER,
                constraints=(
                    Constraint(Condition.EQUAL, 0, int(RECIPIENT, 16)),  # only to RECIPIENT
                    Constraint(Condition.LESS_OR_EQUAL, 1, 100, UsageLimit.allowance(250, DAY)),
                ),
            ),
        ),
        # A daily value allowance: past the expiry, today's window starts after expires_at, so the
        # validator itself reverts (EmptyTimeRange) whatever the bundler's clock says.
        transfer_policies=(TransferPolicy(RECIPIENT, 10**15, UsageLimit.allowance(3 * 10**15, DAY)),),
    )


def refused_both_ways(
    world: World, spec: SessionSpec, key: LocalSessionKey, rule: ErrorCode, to: str, value: int, data: bytes
) -> tuple[SessionRefused, SessionRefused]:
    """The preflight refuses the call with ``rule``; forced past it, the validator (in Alto) does too."""
    account = world.account
    with raises_rule(rule) as by_preflight:
        account.send_with_session(spec, key, to, value, data)
    assert by_preflight.value.source == "preflight"
    with raises_rule(rule) as by_validator:
        account.send_with_session(spec, key, to, value, data, preflight=False)
    assert by_validator.value.source == "validator"
    assert by_validator.value.verdict == by_preflight.value.verdict or rule is ErrorCode.SESSION_EXPIRED
    return by_preflight.value, by_validator.value


def away_from_midnight(world: World) -> None:
    """Wait out the last two minutes of a day, so the daily allowances are not split by the clock (Alto
    judges validity windows by its own clock, so the chain is not moved forward for this)."""
    left = DAY - chain_time(world) % DAY
    if left < 120:
        time.sleep(left + 2)


class KmsLikeSigner:
    """An async session signer (as a KMS client would be): the async account awaits it."""

    def __init__(self) -> None:
        self.key = LocalSessionKey.generate()
        self.address = self.key.address
        self.signed = 0

    async def sign_hash(self, digest: bytes) -> bytes:
        self.signed += 1
        return self.key.sign_hash(digest)


async def test_the_async_account_awaits_an_async_session_signer(world: World) -> None:
    from sso_signer.accounts import AsyncErc4337Account
    from sso_signer.erc4337 import AsyncBundlerClient
    from sso_signer.rpc import AsyncEthClient

    stack = world.stack
    validator = stack.deployment.session_validator
    assert validator is not None
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
    signer = KmsLikeSigner()
    async with AsyncEthClient(stack.eth.rpc.url) as eth, AsyncBundlerClient(stack.bundler_url) as bundler:
        account = await AsyncErc4337Account.counterfactual(
            deployment=stack.deployment,
            eth=eth,
            bundler=bundler,
            credential=passkey,
            salt=account_salt("session-async@example.org"),
            extra_modules=[(validator, b"")],  # installed at creation
        )
        stack.fund(account.address, ETHER)
        spec = make_spec(world, signer.key, chain_time(world) + DAY)
        spec = SessionSpec(signer.address, spec.expires_at, spec.fee_limit, (), spec.transfer_policies)
        assert (await account.create_session(spec, signer)).success
        assert signer.signed == 1  # the proof
        before = stack.eth.get_balance(RECIPIENT)
        assert (await account.send_with_session(spec, signer, RECIPIENT, 10**15)).success
        assert signer.signed == 2
        assert stack.eth.get_balance(RECIPIENT) == before + 10**15
        (info,) = await account.list_sessions()
        assert info.active
        assert info.transfer_value[0].remaining == 2 * 10**15
        with raises_rule(ErrorCode.SESSION_TRANSFER_NOT_ALLOWED):
            await account.send_with_session(spec, signer, "0x2222222222222222222222222222222222222222", 1)
        # The sync account refuses an async signer instead of blocking on it.
        sync = Erc4337Account.at(
            account.address,
            deployment=stack.deployment,
            eth=stack.eth,
            bundler=stack.bundler,
            credential=passkey,
        )
        with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
            sync.send_with_session(spec, signer, RECIPIENT, 10**15)


def test_the_fee_limit_is_refused_by_the_preflight_and_at_send_by_the_validator(world: World) -> None:
    stack = world.stack
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
    account = funded_account(stack, passkey, "session-fees@example.org")
    assert account.list_sessions() == ()
    key = LocalSessionKey.generate()
    now = chain_time(world)
    with raises_rule(ErrorCode.INVALID_SESSION_SPEC) as too_soon:  # SessionExpiresTooSoon, nothing sent
        account.create_session(make_spec(world, key, now + 30), key)
    assert too_soon.value.field == "expires_at"
    spec = make_spec(world, key, now + DAY)
    spec = SessionSpec(spec.signer, spec.expires_at, UsageLimit.lifetime(1), (), spec.transfer_policies)
    assert account.create_session(spec, key).success
    with raises_rule(ErrorCode.ALREADY_EXISTS):  # a signer serves one session, ever
        account.create_session(make_spec(world, key, now + DAY), key)

    with raises_rule(ErrorCode.SESSION_LIFETIME_LIMIT) as by_preflight:
        account.send_with_session(spec, key, RECIPIENT, 1)
    assert (by_preflight.value.source, by_preflight.value.limit) == ("preflight", "fee")
    # Forced: the estimate's stub signature stops before the fee accounting, so the refusal comes from the
    # bundler's simulation of the signed operation at send, mapped to the same rule.
    with raises_rule(ErrorCode.SESSION_LIFETIME_LIMIT) as by_validator:
        account.send_with_session(spec, key, RECIPIENT, 1, preflight=False)
    assert by_validator.value.source == "validator"
    assert by_validator.value.verdict == "LifetimeUsageExceeded"


def test_a_session_sends_within_its_limits_and_every_forbidden_call_is_refused_by_both(world: World) -> None:
    # The last chain test of the module: it moves the chain's clock past the session's expiry.
    account = world.account
    key = LocalSessionKey.generate()
    now = chain_time(world)
    spec = make_spec(world, key, now + 2 * 86_400)

    # The passkey opens the session: this first UserOperation also creates the account and installs the
    # validator (installModule, then createSession).
    receipt = account.create_session(spec, key)
    assert receipt.success
    assert world.provider.calls == 1
    info = account.session_state(spec)
    assert isinstance(info, SessionInfo)
    assert info.active
    assert not info.revoked
    assert not info.expired
    world.stack.eth.send_transaction(
        world.stack.funder,
        to=world.token,
        data=keccak(text="mint(address,uint256)")[:4]
        + abi_encode(["address", "uint256"], [account.address, 10**6]),
    )

    # Within limits, with no passkey: a transfer, and token transfers within the daily allowance.
    away_from_midnight(world)
    before = world.stack.eth.get_balance(RECIPIENT)
    assert account.send_with_session(spec, key, RECIPIENT, 10**15).success
    assert world.stack.eth.get_balance(RECIPIENT) == before + 10**15
    assert account.send_with_session(spec, key, world.token, 0, token_call(TRANSFER, RECIPIENT, 100)).success
    assert account.send_with_session(spec, key, world.token, 0, token_call(TRANSFER, RECIPIENT, 100)).success
    assert token_balance(world, RECIPIENT) == 200
    assert world.provider.calls == 1  # the passkey was not asked again

    state = account.session_state(spec)
    assert state.transfer_value[0].remaining == 2 * 10**15
    assert state.call_params[0].remaining == 50  # 250 a day, 200 used today
    assert state.fees_remaining < ETHER // 10

    # Over the value limit (per use), a disallowed selector, a constraint broken, the day's allowance used up.
    refused_both_ways(world, spec, key, ErrorCode.SESSION_VALUE_PER_USE, RECIPIENT, 2 * 10**15, b"")
    refused_both_ways(
        world,
        spec,
        key,
        ErrorCode.SESSION_CALL_NOT_ALLOWED,
        world.token,
        0,
        token_call(APPROVE, RECIPIENT, 1),
    )
    wrong_recipient = token_call(TRANSFER, "0x2222222222222222222222222222222222222222", 1)
    refusal, _ = refused_both_ways(
        world, spec, key, ErrorCode.SESSION_CONSTRAINT, world.token, 0, wrong_recipient
    )
    assert refusal.constraint == 0
    refusal, _ = refused_both_ways(
        world, spec, key, ErrorCode.SESSION_PERIOD_LIMIT, world.token, 0, token_call(TRANSFER, RECIPIENT, 100)
    )
    assert (refusal.limit, refusal.constraint) == ("constraint", 1)
    assert world.provider.calls == 1

    # The passkey fallback: the session's allowance is used up, so the passkey runs the call instead.
    receipt, refused = account.send_with_session_or_passkey(
        spec, key, world.token, 0, token_call(TRANSFER, RECIPIENT, 100)
    )
    assert receipt.success
    assert refused is not None
    assert refused.rule is ErrorCode.SESSION_PERIOD_LIMIT
    assert world.provider.calls == 2
    assert token_balance(world, RECIPIENT) == 300
    # Within the session, the fallback helper uses the session and says so.
    receipt, refused = account.send_with_session_or_passkey(spec, key, RECIPIENT, 10**15)
    assert receipt.success
    assert refused is None
    assert world.provider.calls == 2
    # A call the session never allowed is not papered over with a prompt.
    with raises_rule(ErrorCode.SESSION_CALL_NOT_ALLOWED):
        account.send_with_session_or_passkey(spec, key, world.token, 0, token_call(APPROVE, RECIPIENT, 1))

    # Another object (another process) uses the same session: this one's cached nonce goes stale, and its
    # next estimate, refused with AA25, is retried once on the chain's nonce before anything is signed.
    twin = Erc4337Account.at(
        account.address,
        deployment=world.stack.deployment,
        eth=world.stack.eth,
        bundler=world.stack.bundler,
        credential=account.signer.credential,
    )
    assert twin.send_with_session(spec, key, RECIPIENT, 10**14).success
    assert account.send_with_session(spec, key, RECIPIENT, 10**14).success
    assert account.get_nonce(spec.nonce_key) & (2**64 - 1) == 6  # six session operations on its lane

    # A revoked session: a second one, revoked by the passkey.
    other_key = LocalSessionKey.generate()
    other = make_spec(world, other_key, chain_time(world) + 86_400)
    assert account.create_session(other, other_key).success
    assert account.send_with_session(other, other_key, RECIPIENT, 10**14).success
    assert account.revoke_sessions(other).success
    assert account.session_state(other).revoked
    refused_both_ways(world, other, other_key, ErrorCode.SESSION_NOT_ACTIVE, RECIPIENT, 10**14, b"")
    with raises_rule(ErrorCode.SESSION_NOT_ACTIVE):
        account.revoke_sessions(other.session_hash)

    listed = {info.session_hash: info for info in account.list_sessions()}
    assert set(listed) == {spec.session_hash, other.session_hash}
    assert listed[spec.session_hash].active
    assert listed[spec.session_hash].spec == spec
    assert listed[other.session_hash].revoked

    # An expired session (anvil time travel past expires_at).
    world.stack.node.increase_time(3 * 86_400)
    world.stack.node.mine()
    assert account.session_state(spec).expired
    refused_both_ways(world, spec, key, ErrorCode.SESSION_EXPIRED, RECIPIENT, 10**14, b"")
    calls = world.provider.calls
    receipt, refused = account.send_with_session_or_passkey(spec, key, RECIPIENT, 10**14)
    assert receipt.success
    assert refused is not None
    assert refused.rule is ErrorCode.SESSION_EXPIRED
    assert world.provider.calls == calls + 1


def test_a_session_key_signs_only_as_its_spec_says(world: World) -> None:
    key = LocalSessionKey.generate()
    spec = make_spec(world, key, chain_time(world) + 86_400)
    stranger = LocalSessionKey(Account.create())
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
        world.account.create_session(spec, stranger)
    assert "key" not in repr(key).lower().replace("localsessionkey", "")


def test_reinstalling_the_validator_does_not_revive_sessions_uninstalling_left_active(world: World) -> None:
    """Uninstalling the validator with empty data revokes nothing, and ``create_session`` installs the
    validator again when the account lacks it: the old session must not come back with it (it is revoked in
    the same passkey-signed operation)."""
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
    account = funded_account(world.stack, passkey, "session-reinstall@example.org")
    old_key, new_key = LocalSessionKey.generate(), LocalSessionKey.generate()
    old = lifetime_spec(world, old_key)
    assert account.create_session(old, old_key).success
    assert account.send_with_session(old, old_key, RECIPIENT, 1).success
    validator = world.stack.deployment.session_validator
    assert validator is not None
    uninstall = abi_call("uninstallModule", ["uint256", "address", "bytes"], [1, validator, b""])
    assert account.send_calls([(account.address, 0, uninstall)]).success
    with pytest.raises(UserOperationRejected, match="AA24"):  # the account no longer asks the validator
        account.send_with_session(old, old_key, RECIPIENT, 1)

    new = lifetime_spec(world, new_key)
    assert account.create_session(new, new_key).success  # installs the validator again
    assert account.send_with_session(new, new_key, RECIPIENT, 1).success
    assert account.session_state(old).revoked
    with raises_rule(ErrorCode.SESSION_NOT_ACTIVE):
        account.send_with_session(old, old_key, RECIPIENT, 1)


class RangeLimitedNode(httpx.BaseTransport):
    """Forwards to the real anvil and logs each call's ``(method, params)``; fault injection: it answers an
    ``eth_getLogs`` spanning more than ``max_range`` blocks with the error a range-limited node sends."""

    def __init__(self, url: str, max_range: int | None = None) -> None:
        self.url, self.max_range = url, max_range
        self.inner = httpx.HTTPTransport()
        self.calls: list[tuple[str, list[Any]]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        for call in body if isinstance(body, list) else [body]:
            self.calls.append((call["method"], call.get("params", [])))
        if isinstance(body, dict) and body["method"] == "eth_getLogs" and self.max_range is not None:
            query = body["params"][0]
            start = 0 if query["fromBlock"] == "earliest" else int(query["fromBlock"], 16)
            if self._latest() - start + 1 > self.max_range:
                error = {"code": -32005, "message": f"query exceeds max block range {self.max_range}"}
                return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "error": error})
        return self.inner.handle_request(request)

    def _latest(self) -> int:
        answer = httpx.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
        )
        return int(answer.json()["result"], 16)

    def methods(self, name: str) -> list[list[Any]]:
        return [params for method, params in self.calls if method == name]

    def close(self) -> None:
        self.inner.close()


def deployed_account(world: World, user: str, node: RangeLimitedNode) -> tuple[Erc4337Account, int]:
    """A passkey account deployed by a plain transfer (without the session validator) whose node is
    ``node``, and the block it was deployed in."""
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
    account = Erc4337Account.counterfactual(
        deployment=world.stack.deployment,
        eth=EthClient(node.url, transport=node),
        bundler=world.stack.bundler,
        credential=passkey,
        salt=account_salt(user),
    )
    world.stack.fund(account.address, ETHER)
    receipt = account.send(RECIPIENT, 1)
    assert receipt.success
    return account, receipt.receipt.block_number


def lifetime_spec(world: World, key: LocalSessionKey) -> SessionSpec:
    # Lifetime limits only: no period window, which Alto would judge by its own clock (the tests above move
    # the chain's forward).
    transfer = TransferPolicy(RECIPIENT, 10, UsageLimit.lifetime(100))
    return SessionSpec(
        key.address, chain_time(world) + DAY, UsageLimit.lifetime(ETHER // 10), (), (transfer,)
    )


def test_the_first_session_of_a_deployed_account_reads_logs_from_its_deployment_block(
    world: World,
) -> None:
    """The account never had the validator: ``create_session`` finds its deployment block with a few
    ``eth_getCode`` reads and reads ``SessionCreated`` logs from there, never from the first block."""
    node = RangeLimitedNode(world.stack.node.url)
    account, deployed_in = deployed_account(world, "session-first@example.org", node)
    world.stack.node.mine(100)
    age = int(world.stack.eth.get_block("latest")["number"], 16) - deployed_in  # type: ignore[index]
    node.calls.clear()
    key = LocalSessionKey.generate()
    assert account.create_session(lifetime_spec(world, key), key).success
    logs = node.methods("eth_getLogs")
    assert len(logs) == 1
    assert logs[0][0]["fromBlock"] == hex(deployed_in)
    # One read of the latest code, then doubling steps back and a bisection: about 2·log2(age).
    assert len(node.methods("eth_getCode")) <= 1 + 2 * math.ceil(math.log2(age + 2))


def test_a_node_that_refuses_the_log_range_gets_a_typed_error_then_from_block(world: World) -> None:
    """A range-limited node refuses the scan from an old account's deployment block: a typed error that
    says to pass ``from_block``, before anything is signed; with it the session is created."""
    node = RangeLimitedNode(world.stack.node.url, max_range=20)
    account, deployed_in = deployed_account(world, "session-range@example.org", node)
    world.stack.node.mine(50)
    key = LocalSessionKey.generate()
    spec = lifetime_spec(world, key)
    nonce = account.get_nonce()
    node.calls.clear()
    with raises_rule(ErrorCode.HISTORY_REFUSED, match="from_block=") as refused:
        account.create_session(spec, key)
    assert refused.value.rpc_message == "query exceeds max block range 20"
    assert [q[0]["fromBlock"] for q in node.methods("eth_getLogs")] == [hex(deployed_in)]
    assert account.get_nonce() == nonce  # nothing was sent
    assert account.session_state(spec).status is SessionStatus.NOT_INITIALIZED
    recent = int(world.stack.eth.get_block("latest")["number"], 16) - 5  # type: ignore[index]
    assert account.create_session(spec, key, from_block=recent).success
    assert account.session_state(spec).active
