"""Session keys in the accounts room, without a chain: the signer step and its checks, the chain state as
the preflight's usage, and the mapping of the validator's refusals to the preflight's rules."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak

from sso_signer._shell import drive
from sso_signer.accounts import LocalSessionKey, SessionInfo, SessionSigner
from sso_signer.accounts._sessions import (
    SessionSignRequest,
    _deployment_block_flow,
    _from_rejection,
    _refusal,
    _refused,
    _signed,
)
from sso_signer.exceptions import (
    AccountValidationReverted,
    ErrorCode,
    SsoEncodingError,
    UserOperationRejected,
)
from sso_signer.sso import (
    CallPolicy,
    Condition,
    Constraint,
    SessionCall,
    SessionSpec,
    TransferPolicy,
    UsageLimit,
    check_call,
)
from sso_signer.sso._session_spec import LimitState, SessionStatus, SessionVerdict, usage_from_state
from tests.errors import raises_rule

R1 = "0x1111111111111111111111111111111111111111"
TOKEN = "0x1d1499e622d69689cdf9004d05ec547d650ff211"
TRANSFER = keccak(text="transfer(address,uint256)")[:4]
DIGEST = keccak(text="a userOpHash")
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
NOW = 1_750_000_000


def spec_for(signer: str, *, fee: UsageLimit | None = None) -> SessionSpec:
    return SessionSpec(
        signer,
        NOW + 86_400,
        fee or UsageLimit.lifetime(10**18),
        call_policies=(
            CallPolicy(
                TOKEN,
                TRANSFER,
                constraints=(
                    Constraint(Condition.EQUAL, 0, int(R1, 16)),
                    Constraint(Condition.LESS_OR_EQUAL, 1, 100, UsageLimit.allowance(250, 3600)),
                ),
            ),
        ),
        transfer_policies=(TransferPolicy(R1, 100, UsageLimit.lifetime(150)),),
    )


def token_call(amount: int) -> SessionCall:
    return SessionCall(TOKEN, 0, TRANSFER + abi_encode(["address", "uint256"], [R1, amount]))


def answer_with(signature: object, signer: Any) -> bytes:
    return drive(_signed(signer, DIGEST, "user_operation"), lambda step: signature)


# -- the signer --------------------------------------------------------------------------------------------


def test_a_local_key_signs_raw_hashes_and_hides_itself() -> None:
    account = Account.create()
    key = LocalSessionKey(account.key)
    assert isinstance(key, SessionSigner)
    assert key.address == account.address
    assert LocalSessionKey(account.key.hex()).address == account.address
    assert account.key.hex().removeprefix("0x") not in repr(key)
    signature = key.sign_hash(DIGEST)
    assert len(signature) == 65
    assert signature[64] in (27, 28)
    assert Account._recover_hash(DIGEST, signature=signature) == account.address
    assert answer_with(signature, key) == signature
    with raises_rule(ErrorCode.INVALID_SESSION_SPEC) as bad:
        LocalSessionKey(b"\x00" * 3)
    assert bad.value.field == "key"


def test_the_account_checks_what_a_session_signer_answers() -> None:
    key = LocalSessionKey.generate()
    good = key.sign_hash(DIGEST)
    r, s, v = good[:32], int.from_bytes(good[32:64], "big"), good[64]
    # v as 0/1 is accepted and normalised to 27/28.
    assert answer_with(r + s.to_bytes(32, "big") + bytes([v - 27]), key) == good
    high_s = r + (N - s).to_bytes(32, "big") + bytes([55 - v])  # the same signature with the high s
    other = LocalSessionKey.generate().sign_hash(DIGEST)
    for wrong in (good[:64], high_s, other, "0x" + good.hex(), None):
        with raises_rule(ErrorCode.SESSION_SIGNATURE_INVALID):
            answer_with(wrong, key)


class AsyncKey:
    def __init__(self) -> None:
        self.key = LocalSessionKey.generate()
        self.address = self.key.address

    async def sign_hash(self, digest: bytes) -> bytes:
        return self.key.sign_hash(digest)


def test_the_sign_step_is_answered_blocking_or_awaited() -> None:
    sync_key, async_key = LocalSessionKey.generate(), AsyncKey()
    assert SessionSignRequest(sync_key, DIGEST, "user_operation").answer() == sync_key.sign_hash(DIGEST)
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
        SessionSignRequest(async_key, DIGEST, "user_operation").answer()
    for signer, key in ((sync_key, sync_key), (async_key, async_key.key)):
        answered = asyncio.run(SessionSignRequest(signer, DIGEST, "user_operation").answer_async())
        assert answered == key.sign_hash(DIGEST)


# -- chain state as usage ------------------------------------------------------------------------------------


def info(spec: SessionSpec, *, transfer_left: int, param_left: int, status: SessionStatus) -> SessionInfo:
    return SessionInfo(
        spec,
        status,
        NOW,
        1,
        10**18,
        (LimitState(transfer_left, R1, bytes(4), 0),),
        (LimitState(2**256 - 1, TOKEN, TRANSFER, 0),),
        (LimitState(param_left, TOKEN, TRANSFER, 1),),
    )


def test_the_chain_state_becomes_the_preflights_usage() -> None:
    spec = spec_for(LocalSessionKey.generate().address)
    state = info(spec, transfer_left=50, param_left=60, status=SessionStatus.ACTIVE)
    usage = state.usage()
    assert check_call(spec, SessionCall(R1, 50), NOW, usage).accepted
    assert check_call(spec, SessionCall(R1, 51), NOW, usage).rule == "LifetimeUsageExceeded"
    assert check_call(spec, token_call(60), NOW, usage).accepted
    refused = check_call(spec, token_call(61), NOW, usage)
    assert (refused.rule, refused.constraint) == ("AllowanceExceeded", 1)
    assert check_call(spec, token_call(100), NOW + 3600, usage).accepted  # the next hour starts afresh
    revoked = info(spec, transfer_left=150, param_left=250, status=SessionStatus.CLOSED)
    assert revoked.revoked
    assert not revoked.active
    assert check_call(spec, SessionCall(R1, 1), NOW, revoked.usage()).rule == "SessionNotActive"
    assert not info(spec, transfer_left=0, param_left=0, status=SessionStatus.ACTIVE).expired


def test_both_generations_read_usage_with_one_computation() -> None:
    spec = spec_for(LocalSessionKey.generate().address)
    state = info(spec, transfer_left=50, param_left=60, status=SessionStatus.ACTIVE)
    assert state.usage() == usage_from_state(spec, state.state, NOW)  # what the Era account reads with
    # A state without the spec's shape (a constraint limit missing) is refused, not read as unused.
    short = SessionInfo(
        spec, SessionStatus.ACTIVE, NOW, 1, 10**18, state.transfer_value, state.call_value, ()
    )
    with pytest.raises(SsoEncodingError, match="do not match"):
        short.usage()


def test_a_preflight_refusal_names_the_limit_that_ran_out() -> None:
    spec = spec_for(LocalSessionKey.generate().address, fee=UsageLimit.lifetime(1000))
    call = SessionCall(R1, 10)
    usage = info(spec, transfer_left=150, param_left=250, status=SessionStatus.ACTIVE).usage()
    verdict = check_call(spec, call, NOW, usage, fee=2000)
    error = _refused(spec, verdict, SessionCall(R1, 10), NOW, usage, 2000)
    assert (error.rule, error.limit, error.source) == (ErrorCode.SESSION_LIFETIME_LIMIT, "fee", "preflight")
    over = SessionCall(R1, 100)
    usage = info(spec, transfer_left=50, param_left=250, status=SessionStatus.ACTIVE).usage()
    error = _refused(spec, check_call(spec, over, NOW, usage, fee=1), over, NOW, usage, 1)
    assert (error.rule, error.limit) == (ErrorCode.SESSION_LIFETIME_LIMIT, "value")
    expired = check_call(spec, call, spec.expires_at + 1, usage)
    assert _refused(spec, expired, call, spec.expires_at + 1, usage, 0).rule is ErrorCode.SESSION_EXPIRED


def test_a_refusal_message_names_the_errors_arguments_as_the_abi_does() -> None:
    # The message showed "MaxValueExceeded(101, 100)": which number is the limit was the reader's guess.
    spec = spec_for(LocalSessionKey.generate().address)
    usage = info(spec, transfer_left=150, param_left=250, status=SessionStatus.ACTIVE).usage()
    over = SessionCall(R1, 101)
    error = _refused(spec, check_call(spec, over, NOW, usage), over, NOW, usage, 0)
    assert "MaxValueExceeded(value=101, maxValuePerUse=100)" in str(error)
    # The structured fields are as before: the contract's name and its arguments in order.
    assert (error.rule, error.verdict, error.details) == (
        ErrorCode.SESSION_VALUE_PER_USE,
        "MaxValueExceeded",
        (101, 100),
    )

    by_validator = _from_rejection(
        reverted(
            keccak(text="AllowanceExceeded(uint256,uint256,uint64)")[:4]
            + abi_encode(["uint256"] * 3, [1, 2, 3])
        ),
        spec,
        NOW,
    )
    assert by_validator is not None
    assert "AllowanceExceeded(used=1, limit=2, periodId=3)" in str(by_validator)
    assert by_validator.details == (1, 2, 3)

    # The Era validator's errors by its own ABI's names; an error of neither ABI keeps its positions.
    era = _refusal(spec, SessionVerdict("SESSION_MAX_VALUE_EXCEEDED", (101, 100)), {})
    assert "SESSION_MAX_VALUE_EXCEEDED(usedValue=101, maxValuePerUse=100)" in str(era)
    assert "Panic(17)" in str(_refusal(spec, SessionVerdict("Panic", (17,)), {}))
    selector = _refusal(spec, SessionVerdict("CallPolicyViolated", (TOKEN, b"\xa9\x05\x9c\xbb")), {})
    assert f"CallPolicyViolated(target={TOKEN}, selector=0xa9059cbb)" in str(selector)


# -- the validator's refusals --------------------------------------------------------------------------------


def reverted(data: bytes) -> AccountValidationReverted:
    return AccountValidationReverted("AA23 reverted", aa_code="AA23", revert_data=data)


ALLOWANCE_EXCEEDED = keccak(text="AllowanceExceeded(uint256,uint256,uint64)")[:4]
TRANSFER_VIOLATED = keccak(text="TransferPolicyViolated(address)")[:4]


@pytest.mark.parametrize(
    ("revert", "later", "rule"),
    [
        (keccak(text="SessionNotActive()")[:4], 0, ErrorCode.SESSION_NOT_ACTIVE),
        (keccak(text="EmptyTimeRange()")[:4], 0, ErrorCode.SESSION_PERIOD_IDS),
        (keccak(text="EmptyTimeRange()")[:4], 2 * 86_400, ErrorCode.SESSION_EXPIRED),
        (
            keccak(text="AllowanceExceeded(uint256,uint256,uint64)")[:4]
            + abi_encode(["uint256"] * 3, [1, 2, 3]),
            0,
            ErrorCode.SESSION_PERIOD_LIMIT,
        ),
        (
            keccak(text="TransferPolicyViolated(address)")[:4] + bytes(32),
            0,
            ErrorCode.SESSION_TRANSFER_NOT_ALLOWED,
        ),
    ],
)
def test_a_validator_revert_maps_to_the_preflights_rule(revert: bytes, later: int, rule: ErrorCode) -> None:
    spec = spec_for(LocalSessionKey.generate().address)
    refusal = _from_rejection(reverted(revert), spec, NOW + later)
    assert refusal is not None
    assert (refusal.rule, refusal.source) == (rule, "validator")
    assert isinstance(refusal.__cause__, AccountValidationReverted)


def test_other_rejections_are_not_session_refusals() -> None:
    spec = spec_for(LocalSessionKey.generate().address)
    assert _from_rejection(reverted(b"\xde\xad\xbe\xef"), spec, NOW) is None
    assert _from_rejection(reverted(b""), spec, NOW) is None
    funds = UserOperationRejected("AA21", aa_code="AA21", rule=ErrorCode.INSUFFICIENT_PREFUND)
    assert _from_rejection(funds, spec, NOW) is None
    window = UserOperationRejected(
        "AA22 expired or not due", aa_code="AA22", rule=ErrorCode.ACCOUNT_VALIDATION_FAILED
    )
    expired = _from_rejection(window, spec, spec.expires_at + 1)
    assert expired is not None
    assert expired.rule is ErrorCode.SESSION_EXPIRED


@pytest.mark.parametrize(
    ("latest", "deployed"), [(0, 0), (5, 5), (5, 4), (5, 0), (100, 37), (1000, 999), (1000, 1), (1000, 0)]
)
def test_the_deployment_block_is_found_with_few_reads_of_recent_state(latest: int, deployed: int) -> None:
    """Doubling steps back from the latest block, then bisection: the first block with code, in about
    2·log2(age) reads, none older than twice the account's age (state a pruning node still has)."""
    account = "0x" + "ab" * 20
    reads: list[int] = []

    def code_at(step: Any) -> str:
        assert step.method == "eth_getCode"
        block = int(step.params[1], 16)
        reads.append(block)
        return "0x6080" if block >= deployed else "0x"

    assert drive(_deployment_block_flow(account, latest), code_at) == deployed
    age = latest - deployed
    assert len(reads) <= 2 * math.ceil(math.log2(age + 2))
    assert all(latest - max(2 * age, 1) <= block < latest for block in reads)
