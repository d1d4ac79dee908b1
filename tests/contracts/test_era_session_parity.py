"""Differential test: the offline ``check_call(..., generation="era")`` and the project's Era
SessionKeyValidator on anvil give the same verdict, with the same named error, over one shared table of
session transactions.

anvil runs as chain 260 with a TimestampAsserter stand-in at that chain's asserter address, and the validator
is installed on the EraTestAccount stand-in (what an SsoAccount does in validation: pick the validator from
the custom signature and call its ``validateTransaction``). Each case runs from a chain snapshot: the account
opens a session with the SDK's ``createSession`` calldata, replays the case's earlier transactions through a
real validation (so the validator records their usage), then asks for the validation of the case's
transaction with ``eth_call``. Every transaction is a real 0x71 transaction signed by the session key with the
SDK's custom signature; the offline side replays the same transactions through ``check_call`` and carries the
usage forward.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sso_signer.accounts._era_sessions import era_session_validation_gas
from sso_signer.sso import (
    Condition,
    SessionCall,
    SessionKeyValidator,
    SessionSpec,
    SessionUsage,
    UsageLimit,
    check_call,
)
from sso_signer.sso._session_spec import SessionStatus
from sso_signer.zksync import Eip712Transaction
from tests.contracts.era_session_chain import ERA_CHAIN_ID, EraSessionChain, era_session_anvil

# The ERC-4337 table's targets, call and spec, so that both tables ask the same questions.
from tests.contracts.test_session_validator_parity import (
    BAD,
    GOOD,
    HOUR,
    R1,
    R2,
    TARGET,
    _set_time,
    f_call,
    make_spec,
    next_day,
    random_call,
    random_spec,
)

pytestmark = [pytest.mark.chain]

GAS = 1_000_000
PRICE = 25_000_000  # the validator charges maxFeePerGas x gasLimit = 2.5e13 wei per transaction


@dataclass(frozen=True)
class Case:
    name: str
    call: SessionCall
    rule: str | None
    before: tuple[SessionCall, ...] = ()
    later: int = 0  # seconds after the session's start at which the transaction is checked
    revoked: bool = False
    fee_limit: UsageLimit | None = None
    constraint: int | None = field(default=None)
    ids: tuple[int, ...] | None = None  # period ids to send instead of those the call needs


TRANSFER = SessionCall(R1, 100)
GOOD_CALL = SessionCall(TARGET, 0, f_call(GOOD))
CASES = [
    Case("transfer within limits", TRANSFER, None),
    Case("transfer over max value per use", SessionCall(R1, 101), "SESSION_MAX_VALUE_EXCEEDED"),
    Case(
        "transfer over lifetime value limit",
        SessionCall(R1, 100),
        "SESSION_LIFETIME_USAGE_EXCEEDED",
        (TRANSFER,),
    ),
    Case("transfer to a disallowed target", SessionCall(R2, 1), "SESSION_TRANSFER_POLICY_VIOLATED"),
    Case("1-3 bytes of calldata are a transfer", SessionCall(R1, 1, b"\x01\x02"), None),
    Case("call within limits", GOOD_CALL, None),
    Case(
        "call with a disallowed selector",
        SessionCall(TARGET, 0, b"\xa9\x05\x9c\xbb" + bytes(64)),
        "SESSION_CALL_POLICY_VIOLATED",
    ),
    Case("call to a disallowed target", SessionCall(R2, 0, f_call(GOOD)), "SESSION_CALL_POLICY_VIOLATED"),
    Case("call over max value per use", SessionCall(TARGET, 501, f_call(GOOD)), "SESSION_MAX_VALUE_EXCEEDED"),
    Case(
        "constraint checked before value",
        SessionCall(TARGET, 501, f_call((11, *GOOD[1:]))),
        "SESSION_CONDITION_FAILED",
        constraint=0,
    ),
    Case(
        "call over the daily value allowance",
        SessionCall(TARGET, 500, f_call(GOOD)),
        "SESSION_ALLOWANCE_EXCEEDED",
        (SessionCall(TARGET, 500, f_call(GOOD)), SessionCall(TARGET, 1, f_call(GOOD))),
    ),
    *(
        Case(
            f"constraint {i} ({Condition(i + 1).name}) broken",
            SessionCall(TARGET, 0, f_call(tuple(BAD[j] if j == i else GOOD[j] for j in range(6)))),
            "SESSION_CONDITION_FAILED",
            constraint=i,
        )
        for i in range(6)
    ),
    Case(
        "constraint argument missing",
        SessionCall(TARGET, 0, f_call(GOOD)[:100]),
        "SESSION_INVALID_DATA_LENGTH",
        constraint=3,
    ),
    Case(
        "hourly constraint allowance exhausted",
        GOOD_CALL,
        "SESSION_ALLOWANCE_EXCEEDED",
        (GOOD_CALL, GOOD_CALL),
        constraint=0,
    ),
    Case("next hour after exhaustion", GOOD_CALL, None, (GOOD_CALL, GOOD_CALL), later=HOUR),
    Case("a period id of another period", GOOD_CALL, "TimestampOutOfRange", ids=(0,) * 6),
    Case("expired session", TRANSFER, "TimestampOutOfRange", later=2 * 86_400),
    Case("revoked session", TRANSFER, "SESSION_NOT_ACTIVE", revoked=True),
    Case("two period ids with constraints", GOOD_CALL, "Panic", ids=()),
    Case("two period ids for a transfer", TRANSFER, None, ids=()),
    Case(
        "fee limit exhausted",
        SessionCall(R1, 1),
        "SESSION_LIFETIME_USAGE_EXCEEDED",
        (SessionCall(R1, 1), SessionCall(R1, 1)),
        fee_limit=UsageLimit.lifetime(GAS * PRICE * 2 + GAS * PRICE // 2),
    ),
]


@pytest.fixture(scope="module")
def chain() -> Iterator[EraSessionChain]:
    with era_session_anvil() as node:
        yield EraSessionChain.deploy(node)


def session_transaction(
    chain: EraSessionChain, key: LocalAccount, spec: SessionSpec, call: SessionCall, ids: tuple[int, ...]
) -> Eip712Transaction:
    """A 0x71 transaction from the account making ``call``, signed by the session key as the Era SDK signs."""
    tx = Eip712Transaction(
        chain_id=ERA_CHAIN_ID,
        nonce=0,
        from_address=chain.account,
        to=call.target,
        value=call.value,
        data=call.data,
        gas_limit=GAS,
        max_fee_per_gas=PRICE,
        max_priority_fee_per_gas=0,
    )
    signed = Account.unsafe_sign_hash(tx.signed_hash(), key.key)
    ecdsa = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
    return tx.replace(custom_signature=SessionKeyValidator.era_signature(chain.validator, ecdsa, spec, ids))


def _ids(spec: SessionSpec, case: Case, call: SessionCall, now: int) -> tuple[int, ...]:
    ids = spec.period_ids(call, now)
    if case.ids is None:
        return ids
    return (*ids[:2], *case.ids) if case.ids else ids[:2]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_offline_check_and_contract_agree(chain: EraSessionChain, case: Case) -> None:
    node = chain.node
    snapshot = node.snapshot()
    try:
        latest = node.eth.get_block("latest")
        assert latest is not None
        start = (int(latest["timestamp"], 16) // HOUR + 1) * HOUR + 100  # clear of any period boundary
        _set_time(node, start)
        key: LocalAccount = Account.create()
        spec = make_spec(key.address, start + 86_400, fee_limit=case.fee_limit)
        chain.create(spec)
        usage = SessionUsage()
        fee = GAS * PRICE
        for earlier in case.before:
            verdict = check_call(spec, earlier, start, usage, fee=fee, generation="era")
            assert verdict.accepted, (earlier, verdict)
            assert verdict.usage is not None
            usage = verdict.usage
            chain.validate(session_transaction(chain, key, spec, earlier, spec.period_ids(earlier, start)))
        if case.revoked:
            chain.revoke(spec)
            usage = SessionUsage(SessionStatus.CLOSED, usage.lifetime, usage.allowance)
        now = start + case.later
        if case.later:
            _set_time(node, now)
        ids = _ids(spec, case, case.call, now)
        offline = check_call(spec, case.call, now, usage, fee=fee, ids=ids, generation="era")
        # eth_call runs in the next block, a second or so later: no case sits on a period boundary.
        onchain = chain.verdict(session_transaction(chain, key, spec, case.call, ids))
        assert offline.rule == case.rule, offline
        assert onchain == case.rule
        assert offline.expired == (now > spec.expires_at)
        if case.constraint is not None:
            assert offline.constraint == case.constraint
    finally:
        node.revert(snapshot)


def test_a_signature_by_another_key_is_named_and_a_garbage_one_is_false(chain: EraSessionChain) -> None:
    """The one rule the offline check cannot see (it has no signature): the contract's answer."""
    node = chain.node
    snapshot = node.snapshot()
    try:
        key, intruder = Account.create(), Account.create()
        latest = node.eth.get_block("latest")
        assert latest is not None
        spec = make_spec(key.address, int(latest["timestamp"], 16) + 86_400)
        chain.create(spec)
        ids = spec.period_ids(TRANSFER, int(latest["timestamp"], 16))
        assert chain.verdict(session_transaction(chain, key, spec, TRANSFER, ids)) is None
        intruding = session_transaction(chain, intruder, spec, TRANSFER, ids)
        assert chain.verdict(intruding) == "SESSION_INVALID_SIGNER"
        good = session_transaction(chain, key, spec, TRANSFER, ids)
        garbage = SessionKeyValidator.era_signature(chain.validator, bytes(65), spec, ids)
        assert chain.verdict(good.replace(custom_signature=garbage)) == "false"
    finally:
        node.revert(snapshot)


@pytest.mark.parametrize("call", [SessionCall(R1, 10), GOOD_CALL], ids=["transfer", "call with constraints"])
def test_the_validation_gas_formula_covers_the_measured_validation(
    chain: EraSessionChain, call: SessionCall
) -> None:
    """``era_session_validation_gas`` (what the account adds to the node's estimate) is built on these
    figures: its EVM part must cover the validator's measured cost, first use (fresh usage slots) included."""
    node = chain.node
    snapshot = node.snapshot()
    try:
        key: LocalAccount = Account.create()
        latest = node.eth.get_block("latest")
        assert latest is not None
        now = int(latest["timestamp"], 16) + 1
        spec = make_spec(key.address, now + 86_400)
        chain.create(spec)
        tx = session_transaction(chain, key, spec, call, spec.period_ids(call, now))
        measured = chain.validation_gas(tx)
        length = len(tx.custom_signature)
        evm_part = (era_session_validation_gas(spec, call, length) - 16 * (length - 65)) // 2
        assert measured <= evm_part < 2 * measured, (measured, evm_part)
    finally:
        node.revert(snapshot)


def test_random_sessions_and_transactions_agree_with_the_contract(chain: EraSessionChain) -> None:
    """Differential fuzzing, as the ERC-4337 parity test does, through the Era validator (constraints before
    value, 1-3 bytes as a transfer, the asserter). No 2-second periods: the asserter reads the time of the
    block the eth_call runs in, a second or so after the offline ``now``."""
    node = chain.node
    snapshot = node.snapshot()
    try:
        start = next_day(node)
        rng = random.Random(20261207)
        seen: set[str | None] = set()
        for case in range(150):
            key: LocalAccount = Account.create()
            spec = random_spec(rng, key.address, start + 86_400, periods=(60, HOUR, 86_400))
            chain.create(spec)
            usage, fee = SessionUsage(), GAS * PRICE
            for _ in range(rng.randrange(3)):
                earlier = random_call(rng, spec)
                verdict = check_call(spec, earlier, start, usage, fee=fee, generation="era")
                if verdict.accepted:
                    assert verdict.usage is not None
                    usage = verdict.usage
                    chain.validate(
                        session_transaction(chain, key, spec, earlier, spec.period_ids(earlier, start))
                    )
            call = random_call(rng, spec)
            ids = spec.period_ids(call, start)
            offline = check_call(spec, call, start, usage, fee=fee, ids=ids, generation="era")
            onchain = chain.verdict(session_transaction(chain, key, spec, call, ids))
            assert offline.rule == onchain, (case, spec, usage, call, offline)
            seen.add(onchain)
        assert len(seen) >= 7, seen
    finally:
        node.revert(snapshot)
