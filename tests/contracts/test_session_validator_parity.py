"""Differential test: the offline :func:`sso_signer.sso.check_call` and the project's SessionKeyValidator on
anvil give the same verdict, with the same named error, over one shared table of session calls.

Each case runs from a chain snapshot: the account (created by MSAFactory with the EOA and session validators
installed at creation) opens a session with the SDK's ``createSession`` calldata and proof, replays the case's
earlier calls as real transactions (so the validator records their usage), then asks ``validateUserOp`` (an
``eth_call`` from the account) about the case's call. The offline side replays the same calls through
``check_call`` and carries the usage forward.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from sso_signer._artifacts import Artifact, load_artifact
from sso_signer.erc4337 import ENTRY_POINT_V08, UserOperation
from sso_signer.erc4337._entry_point import deploy_entry_point_v08
from sso_signer.erc4337._user_operation import user_operation_hash
from sso_signer.exceptions import ExecutionReverted
from sso_signer.node import AnvilNode
from sso_signer.sso import (
    CallPolicy,
    Condition,
    Constraint,
    SessionCall,
    SessionKeyValidator,
    SessionSpec,
    SessionUsage,
    TransferPolicy,
    UsageLimit,
    check_call,
)
from sso_signer.sso._session_spec import SessionStatus
from sso_signer.sso._signature import abi_call
from tests.contracts.era_chain import new_account
from tests.needs import require_artifacts

pytestmark = [pytest.mark.chain]

R1 = "0x1111111111111111111111111111111111111111"
R2 = "0x2222222222222222222222222222222222222222"
TARGET = "0x1d1499e622d69689cdf9004d05ec547d650ff211"
F = keccak(text="f(uint256,uint256,uint256,uint256,uint256,uint256)")[:4]
GOOD = (10, 11, 9, 10, 10, 11)
BAD = (11, 10, 10, 9, 11, 10)  # argument i breaks constraint i
GAS = 450_000  # preVerificationGas + verificationGasLimit + callGasLimit of every op below
PRICE = 10**9  # maxFeePerGas == maxPriorityFeePerGas: the validator's fee is exactly GAS * PRICE
HOUR = 3600
OP_HASH = keccak(text="a userOpHash")
_PACKED_OPS = "(address,uint256,bytes,bytes,bytes32,uint256,bytes32,bytes,bytes)[]"


def f_call(args: tuple[int, ...]) -> bytes:
    return F + b"".join(a.to_bytes(32, "big") for a in args)


def make_spec(signer: str, expires_at: int, *, fee_limit: UsageLimit | None = None) -> SessionSpec:
    constraints = tuple(
        Constraint(
            Condition(i + 1),
            i,
            10,
            UsageLimit.allowance(25, HOUR) if i == 0 else UsageLimit.unlimited(),
        )
        for i in range(6)
    )
    return SessionSpec(
        signer,
        expires_at,
        fee_limit or UsageLimit.allowance(10**18, 86_400),
        call_policies=(CallPolicy(TARGET, F, 500, UsageLimit.allowance(1000, 86_400), constraints),),
        transfer_policies=(TransferPolicy(R1, 100, UsageLimit.lifetime(150)),),
    )


@dataclass(frozen=True)
class Case:
    name: str
    call: SessionCall
    rule: str | None
    before: tuple[SessionCall, ...] = ()
    later: int = 0  # seconds after the session's start at which the call is checked
    revoked: bool = False
    fee_limit: UsageLimit | None = None
    constraint: int | None = field(default=None)
    sdk_ids: bool = False  # send [fee, 0] as the official SDKs do, instead of the ids the call needs


TRANSFER = SessionCall(R1, 100)
GOOD_CALL = SessionCall(TARGET, 0, f_call(GOOD))
CASES = [
    Case("transfer within limits", TRANSFER, None),
    Case("transfer over max value per use", SessionCall(R1, 101), "MaxValueExceeded"),
    Case("transfer over lifetime value limit", SessionCall(R1, 100), "LifetimeUsageExceeded", (TRANSFER,)),
    Case("transfer to a disallowed target", SessionCall(R2, 1), "TransferPolicyViolated"),
    Case("1-3 bytes of calldata", SessionCall(R1, 1, b"\x01\x02"), "InvalidDataLength"),
    Case("call within limits", GOOD_CALL, None),
    Case(
        "call with a disallowed selector",
        SessionCall(TARGET, 0, b"\xa9\x05\x9c\xbb" + bytes(64)),
        "CallPolicyViolated",
    ),
    Case("call to a disallowed target", SessionCall(R2, 0, f_call(GOOD)), "CallPolicyViolated"),
    Case("call over max value per use", SessionCall(TARGET, 501, f_call(GOOD)), "MaxValueExceeded"),
    Case(
        "call over the daily value allowance",
        SessionCall(TARGET, 500, f_call(GOOD)),
        "AllowanceExceeded",
        (SessionCall(TARGET, 500, f_call(GOOD)), SessionCall(TARGET, 1, f_call((10, 11, 9, 10, 10, 11)))),
    ),
    *(
        Case(
            f"constraint {i} ({Condition(i + 1).name}) broken",
            SessionCall(TARGET, 0, f_call(tuple(BAD[j] if j == i else GOOD[j] for j in range(6)))),
            "ConditionViolated",
            constraint=i,
        )
        for i in range(6)
    ),
    Case("constraint argument missing", SessionCall(TARGET, 0, f_call(GOOD)[:100]), "InvalidDataLength"),
    Case("hourly constraint allowance exhausted", GOOD_CALL, "AllowanceExceeded", (GOOD_CALL, GOOD_CALL)),
    Case("next hour after exhaustion", GOOD_CALL, None, (GOOD_CALL, GOOD_CALL), later=HOUR),
    # Expired: with only lifetime limits the validator returns a window that ended (the EntryPoint's AA22);
    # with a daily fee allowance today's period lies after the expiry, so the window is empty and it reverts.
    Case("expired session", TRANSFER, "Expired", later=2 * 86_400, fee_limit=UsageLimit.lifetime(10**18)),
    Case("expired session, periodic fee limit", TRANSFER, "EmptyTimeRange", later=2 * 86_400),
    Case("revoked session", TRANSFER, "SessionNotActive", revoked=True),
    # The official SDKs' two period ids: the validator reads past them for the constraints.
    Case("two period ids with constraints", GOOD_CALL, "Panic", sdk_ids=True),
    Case("two period ids for a transfer", TRANSFER, None, sdk_ids=True),
    Case(
        "fee limit exhausted",
        SessionCall(R1, 1),
        "LifetimeUsageExceeded",
        (SessionCall(R1, 1), SessionCall(R1, 1)),
        fee_limit=UsageLimit.lifetime(GAS * PRICE * 2 + GAS * PRICE // 2),
    ),
]


@dataclass
class Stack:
    node: AnvilNode
    skv: Artifact
    validator: str
    account: str
    errors: dict[bytes, str]


@pytest.fixture(scope="module")
def stack(anvil: AnvilNode) -> Iterator[Stack]:
    require_artifacts(
        "SessionKeyValidator", "EOAKeyValidator", "ModularSmartAccount", "MSABeacon", "MSAFactory"
    )
    deployer: LocalAccount = new_account(anvil)
    anvil.set_balance(deployer.address, 10**20)
    eth = anvil.eth
    skv = load_artifact("SessionKeyValidator")
    validator, _ = eth.deploy_contract(deployer, skv.deploy_data())
    eoa, _ = eth.deploy_contract(deployer, load_artifact("EOAKeyValidator").deploy_data())
    implementation, _ = eth.deploy_contract(deployer, load_artifact("ModularSmartAccount").deploy_data())
    beacon, _ = eth.deploy_contract(
        deployer, load_artifact("MSABeacon").deploy_data(implementation, deployer.address)
    )
    factory_artifact = load_artifact("MSAFactory")
    factory, _ = eth.deploy_contract(deployer, factory_artifact.deploy_data(beacon))
    init = load_artifact("ModularSmartAccount").encode_call(
        "initializeAccount", [eoa, validator], [eth_abi_address_list([deployer.address]), b""]
    )
    salt = keccak(text="session parity")
    data = factory_artifact.encode_call("deployAccount", salt, init)
    (account,) = factory_artifact.decode_output(
        "deployAccount", eth.call({"from": deployer.address, "to": factory, "data": data})
    )
    eth.send_transaction(deployer, factory, data)
    anvil.set_balance(account, 10**18)
    anvil.impersonate(account)
    errors = {
        keccak(text=f"{e['name']}({','.join(i['type'] for i in e['inputs'])})")[:4]: e["name"]
        for e in skv.abi
        if e["type"] == "error"
    }
    errors[bytes.fromhex("4e487b71")] = "Panic"
    try:
        yield Stack(anvil, skv, validator, account, errors)
    finally:
        anvil.stop_impersonating(account)


def eth_abi_address_list(addresses: list[str]) -> bytes:
    return abi_encode(["address[]"], [addresses])


def _set_time(node: AnvilNode, timestamp: int) -> None:
    node.eth.rpc.request("evm_setNextBlockTimestamp", [hex(timestamp)])
    node.mine()


def _send_from_account(stack: Stack, data: bytes) -> None:
    # A call first, so that a refusal shows its named error rather than a failed receipt.
    stack.node.eth.call({"from": stack.account, "to": stack.validator, "data": data})
    tx_hash = stack.node.eth.rpc.request(
        "eth_sendTransaction",
        [{"from": stack.account, "to": stack.validator, "data": "0x" + data.hex(), "gas": hex(3_000_000)}],
    )
    receipt = stack.node.eth.wait_for_receipt(bytes.fromhex(tx_hash[2:]))
    assert receipt.status == 1


def _ids(spec: SessionSpec, call: SessionCall, now: int, sdk_ids: bool) -> tuple[int, ...]:
    ids = spec.period_ids(call, now)
    return (ids[0], 0) if sdk_ids else ids


def _user_op(
    stack: Stack, key: LocalAccount, spec: SessionSpec, call: SessionCall, now: int, sdk_ids: bool = False
) -> tuple[Any, ...]:
    signed = Account.unsafe_sign_hash(OP_HASH, key.key)
    ecdsa = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
    signature = SessionKeyValidator.signature(stack.validator, ecdsa, spec, _ids(spec, call, now, sdk_ids))[
        20:
    ]
    gas_limits = (300_000 << 128 | 100_000).to_bytes(32, "big")
    gas_fees = (PRICE << 128 | PRICE).to_bytes(32, "big")
    return (
        stack.account,
        spec.nonce_key << 64,
        b"",
        call.call_data,
        gas_limits,
        50_000,
        gas_fees,
        b"",
        signature,
    )


def _chain_verdict(
    stack: Stack, key: LocalAccount, spec: SessionSpec, call: SessionCall, now: int, sdk_ids: bool
) -> str | None:
    op = _user_op(stack, key, spec, call, now, sdk_ids)
    data = stack.skv.encode_call("validateUserOp", op, OP_HASH)
    try:
        (validation,) = stack.skv.decode_output(
            "validateUserOp",
            stack.node.eth.call({"from": stack.account, "to": stack.validator, "data": data}),
        )
    except ExecutionReverted as exc:
        raw = exc.revert.raw if exc.revert is not None else b""
        return stack.errors.get(raw[:4], "0x" + raw.hex())
    if validation & 1:
        return "SignatureInvalid"
    valid_until = (validation >> 160) & (2**48 - 1)
    valid_after = validation >> 208
    # EntryPoint v0.8 `_getValidationData`: out of range when `block.timestamp <= validAfter`.
    return None if valid_after < now <= (valid_until or 2**48 - 1) else "Expired"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_offline_check_and_contract_agree(stack: Stack, case: Case) -> None:
    node = stack.node
    snapshot = node.snapshot()
    try:
        latest = node.eth.get_block("latest")
        assert latest is not None
        start = (int(latest["timestamp"], 16) // HOUR + 1) * HOUR + 100  # clear of any period boundary
        _set_time(node, start)
        key: LocalAccount = Account.create()
        spec = make_spec(key.address, start + 86_400, fee_limit=case.fee_limit)
        proof_sig = Account.unsafe_sign_hash(spec.proof_digest(stack.account), key.key)
        proof = proof_sig.r.to_bytes(32, "big") + proof_sig.s.to_bytes(32, "big") + bytes([proof_sig.v])
        _send_from_account(stack, SessionKeyValidator.create_session(spec, proof))
        usage = SessionUsage()
        fee = GAS * PRICE
        for earlier in case.before:
            verdict = check_call(spec, earlier, start, usage, fee=fee)
            assert verdict.accepted, (earlier, verdict)
            assert verdict.usage is not None
            usage = verdict.usage
            op = _user_op(stack, key, spec, earlier, start)
            _send_from_account(stack, stack.skv.encode_call("validateUserOp", op, OP_HASH))
        if case.revoked:
            _send_from_account(stack, SessionKeyValidator.revoke_key(spec.session_hash))
            usage = SessionUsage(
                status=SessionStatus.CLOSED, lifetime=usage.lifetime, allowance=usage.allowance
            )
        now = start + case.later
        if case.later:
            _set_time(node, now)
        ids = _ids(spec, case.call, now, case.sdk_ids)
        offline = check_call(spec, case.call, now, usage, fee=fee, ids=ids)
        # eth_call runs in the next block, a second or so later: no case sits on a period boundary.
        onchain = _chain_verdict(stack, key, spec, case.call, now, case.sdk_ids)
        assert offline.rule == case.rule, offline
        assert onchain == case.rule
        assert offline.expired == (now > spec.expires_at)
        if case.constraint is not None:
            assert offline.constraint == case.constraint
    finally:
        node.revert(snapshot)


def _handle_ops_at(stack: Stack, op: UserOperation, timestamp: int) -> int:
    """Run ``op`` through the real EntryPoint v0.8 in a block at ``timestamp``; the receipt's status."""
    node = stack.node
    data = abi_call("handleOps", [_PACKED_OPS, "address"], [[op.packed()], R2])
    node.eth.rpc.request("evm_setNextBlockTimestamp", [hex(timestamp)])
    tx_hash = node.eth.rpc.request(
        "eth_sendTransaction",
        [{"from": stack.account, "to": ENTRY_POINT_V08, "data": "0x" + data.hex(), "gas": hex(3_000_000)}],
    )
    receipt = node.eth.wait_for_receipt(bytes.fromhex(tx_hash[2:]))
    block = node.eth.get_block("latest")
    assert block is not None
    assert int(block["timestamp"], 16) == timestamp
    return receipt.status


def test_the_entry_point_and_check_call_agree_on_the_first_second_of_a_period(stack: Stack) -> None:
    """The validator narrows the window to the hourly allowance's period ``[start, end]``; the EntryPoint
    refuses ``block.timestamp <= validAfter`` (AA22 "not due"), so the period's first second is outside it.
    The offline check must say so too, else the preflight passes an operation the chain refuses."""
    node = stack.node
    deployer = new_account(node)
    deploy_entry_point_v08(node.eth, deployer)
    latest = node.eth.get_block("latest")
    assert latest is not None
    start = (int(latest["timestamp"], 16) // HOUR + 2) * HOUR
    if start % 86_400 == 0:
        start += HOUR  # an hour that is not also the daily limits' first second
    for at, accepted in ((start, False), (start + 1, True)):
        snapshot = node.snapshot()
        try:
            _set_time(node, start - 600)
            key: LocalAccount = Account.create()
            spec = make_spec(key.address, start + 86_400)
            signed_proof = Account.unsafe_sign_hash(spec.proof_digest(stack.account), key.key)
            proof = signed_proof.signature.rjust(65, b"\0")
            _send_from_account(stack, SessionKeyValidator.create_session(spec, proof))
            ids = spec.period_ids(GOOD_CALL, at)  # both times are in the same hour: the same ids
            op = UserOperation(
                sender=stack.account,
                nonce=spec.nonce_key << 64,
                call_data=GOOD_CALL.call_data,
                call_gas_limit=100_000,
                verification_gas_limit=300_000,
                pre_verification_gas=50_000,
                max_fee_per_gas=PRICE,
                max_priority_fee_per_gas=PRICE,
            )
            digest = user_operation_hash(op, chain_id=node.eth.chain_id())
            ecdsa = bytes(Account.unsafe_sign_hash(digest, key.key).signature)
            op = op.replace(signature=SessionKeyValidator.signature(stack.validator, ecdsa, spec, ids))
            verdict = check_call(spec, GOOD_CALL, at, fee=GAS * PRICE, ids=ids)
            assert _handle_ops_at(stack, op, at) == (1 if accepted else 0), at - start
            assert verdict.accepted is accepted, (at - start, verdict)
            assert verdict.rule == (None if accepted else "Expired")
            assert (verdict.valid_after, verdict.valid_until) == (
                (start, start + HOUR - 1) if accepted else (0, 0)
            )
        finally:
            node.revert(snapshot)


def _random_limit(rng: random.Random, small: int, periods: tuple[int, ...]) -> UsageLimit:
    kind = rng.randrange(3)
    if kind == 0:
        return UsageLimit.unlimited()
    if kind == 1:
        return UsageLimit.lifetime(rng.randrange(small))
    return UsageLimit.allowance(rng.randrange(small), rng.choice(periods))


def random_spec(
    rng: random.Random, signer: str, expires_at: int, periods: tuple[int, ...] = (2, 60, HOUR, 86_400)
) -> SessionSpec:
    """Small values, few targets and selectors (so duplicates and near misses are common)."""
    selectors = (F, b"\xa9\x05\x9c\xbb")
    calls = tuple(
        CallPolicy(
            rng.choice((TARGET, R2)),
            rng.choice(selectors),
            rng.randrange(4),
            _random_limit(rng, 6, periods),
            tuple(
                Constraint(
                    Condition(rng.randrange(7)),
                    rng.randrange(4),
                    rng.randrange(4),
                    _random_limit(rng, 8, periods),
                )
                for _ in range(rng.randrange(4))
            ),
        )
        for _ in range(rng.randrange(4))
    )
    transfers = tuple(
        TransferPolicy(rng.choice((R1, R2)), rng.randrange(4), _random_limit(rng, 6, periods))
        for _ in range(rng.randrange(3))
    )
    fee = rng.choice(
        (UsageLimit.lifetime(GAS * PRICE * rng.randrange(3)), UsageLimit.allowance(10**18, 86_400))
    )
    return SessionSpec(signer, expires_at, fee, calls, transfers)


def random_call(rng: random.Random, spec: SessionSpec) -> SessionCall:
    """Mostly a call one of the spec's policies is about (so limits and conditions are reached), with random
    arguments (some missing), value and trailing bytes; sometimes anything."""
    policies: list[CallPolicy | TransferPolicy] = [*spec.call_policies, *spec.transfer_policies]
    if policies and rng.random() < 0.8:
        policy = rng.choice(policies)
        if isinstance(policy, TransferPolicy):
            return SessionCall(policy.target, rng.randrange(4), b"" if rng.random() < 0.9 else b"\x01")
        words = b"".join(rng.randrange(5).to_bytes(32, "big") for _ in range(rng.randrange(5)))
        return SessionCall(policy.target, rng.randrange(4), policy.selector + words + bytes(rng.randrange(3)))
    target = rng.choice((TARGET, R1, R2))
    shape = rng.randrange(3)
    if shape == 0:
        data = b""
    elif shape == 1:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4)))
    else:
        words = b"".join(rng.randrange(5).to_bytes(32, "big") for _ in range(rng.randrange(5)))
        data = rng.choice((F, b"\xa9\x05\x9c\xbb", b"\x00\x00\x00\x00")) + words
    return SessionCall(target, rng.randrange(5), data)


def next_day(node: AnvilNode) -> int:
    """Move the chain 100 s into the next day, clear of every period boundary; that time."""
    latest = node.eth.get_block("latest")
    assert latest is not None
    start = (int(latest["timestamp"], 16) // 86_400 + 1) * 86_400 + 100
    _set_time(node, start)
    return start


def test_random_sessions_and_calls_agree_with_the_contract(stack: Stack) -> None:
    """Differential fuzzing: random small specs (duplicate policies, every condition, limits of each kind)
    and random calls (transfers, 1-3 byte calldata, arguments missing or present) get the same verdict from
    ``check_call`` and from the validator, after a random earlier call the validator recorded."""
    node = stack.node
    snapshot = node.snapshot()
    try:
        start = next_day(node)
        rng = random.Random(20261206)
        seen: set[str | None] = set()
        for case in range(300):
            key: LocalAccount = Account.create()
            spec = random_spec(rng, key.address, start + 86_400)
            signed = Account.unsafe_sign_hash(spec.proof_digest(stack.account), key.key)
            _send_from_account(stack, SessionKeyValidator.create_session(spec, bytes(signed.signature)))
            usage, fee = SessionUsage(), GAS * PRICE
            for _ in range(rng.randrange(3)):  # earlier calls the validator records
                earlier = random_call(rng, spec)
                verdict = check_call(spec, earlier, start, usage, fee=fee)
                if verdict.accepted:
                    assert verdict.usage is not None
                    usage = verdict.usage
                    op = _user_op(stack, key, spec, earlier, start)
                    _send_from_account(stack, stack.skv.encode_call("validateUserOp", op, OP_HASH))
            call = random_call(rng, spec)
            offline = check_call(spec, call, start, usage, fee=fee)
            onchain = _chain_verdict(stack, key, spec, call, start, False)
            assert offline.rule == onchain, (case, spec, usage, call, offline)
            seen.add(onchain)
        # The table covers the rules; the fuzzing must reach most of them too.
        assert len(seen) >= 8, seen
    finally:
        node.revert(snapshot)
