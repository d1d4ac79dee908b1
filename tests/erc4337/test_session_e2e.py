"""Session keys end to end on anvil + EntryPoint v0.8 + the SSO ERC-4337 contracts + Alto.

A passkey account opens a session (one passkey-signed UserOperation that also creates the account and
installs the SessionKeyValidator); the backend's session key then sends a transfer and a constrained token
call with no passkey prompt. Each forbidden call (over the value limit, a disallowed selector, an exhausted
periodic allowance, a revoked and an expired session) is refused by the preflight, and, forced past it, by the
validator in Alto's simulation, with the same rule. The passkey fallback runs the call the session cannot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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
from sso_signer.sso import (
    CallPolicy,
    Condition,
    Constraint,
    SessionSpec,
    TransferPolicy,
    UsageLimit,
    account_salt,
)
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

    def lifetime_spec(key: LocalSessionKey) -> SessionSpec:
        # Lifetime limits only: no period window, which Alto would judge by its own clock (the tests above
        # move the chain's forward).
        transfer = TransferPolicy(RECIPIENT, 10, UsageLimit.lifetime(100))
        return SessionSpec(
            key.address, chain_time(world) + DAY, UsageLimit.lifetime(ETHER // 10), (), (transfer,)
        )

    old = lifetime_spec(old_key)
    assert account.create_session(old, old_key).success
    assert account.send_with_session(old, old_key, RECIPIENT, 1).success
    validator = world.stack.deployment.session_validator
    assert validator is not None
    uninstall = abi_call("uninstallModule", ["uint256", "address", "bytes"], [1, validator, b""])
    assert account.send_calls([(account.address, 0, uninstall)]).success
    with pytest.raises(UserOperationRejected, match="AA24"):  # the account no longer asks the validator
        account.send_with_session(old, old_key, RECIPIENT, 1)

    new = lifetime_spec(new_key)
    assert account.create_session(new, new_key).success  # installs the validator again
    assert account.send_with_session(new, new_key, RECIPIENT, 1).success
    assert account.session_state(old).revoked
    with raises_rule(ErrorCode.SESSION_NOT_ACTIVE):
        account.send_with_session(old, old_key, RECIPIENT, 1)
