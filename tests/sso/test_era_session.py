"""Era session transactions against the published Era SDK's vectors (shared/vectors/sso-sessions.json,
``era_sdk``), and the Era rules of the offline check (``check_call(..., generation="era")``)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account

from sso_signer.exceptions import InvalidInputError, SsoEncodingError
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
from sso_signer.sso._session_spec import (
    ERA_SESSION_SPEC_TYPE,
    EraApproval,
    LimitState,
    SessionState,
    SessionStatus,
    check_era_call,
    era_period_ids,
    usage_from_state,
)
from sso_signer.zksync import Eip712Transaction
from tests.sso.test_session_spec import spec_from_json, vectors  # noqa: F401  (the vectors fixture)

NOW = 1_750_000_000
R1 = "0x1111111111111111111111111111111111111111"
R2 = "0x2222222222222222222222222222222222222222"
TOKEN = "0x1d1499e622D69689cdf9004d05Ec547d650Ff211"
PAYMASTER = "0x3333333333333333333333333333333333333333"
TRANSFER = bytes.fromhex("a9059cbb")
APPROVE = bytes.fromhex("095ea7b3")


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _tx(raw: dict[str, Any]) -> Eip712Transaction:
    return Eip712Transaction(
        chain_id=int(raw["chainId"]),
        nonce=int(raw["nonce"]),
        from_address=raw["from"],
        to=raw["to"],
        value=int(raw["value"]),
        data=bytes.fromhex(raw.get("data", "0x")[2:]),
        gas_limit=int(raw["gas"]),
        max_fee_per_gas=int(raw["maxFeePerGas"]),
        max_priority_fee_per_gas=int(raw["maxPriorityFeePerGas"]),
        gas_per_pubdata=int(raw["gasPerPubdata"]),
    )


@pytest.mark.parametrize("name", ["A", "B"])
def test_session_transaction_bytes_equal_the_published_sdk(vectors: dict[str, Any], name: str) -> None:  # noqa: F811
    env, vector = vectors["era_sdk"]["environment"], vectors["era_sdk"][name]
    spec = spec_from_json(vector["config"])
    validator = env["sessionKeyValidator"]
    assert _hex(spec.session_hash) == vector["session_hash"]
    assert _hex(SessionKeyValidator.era_create_session(spec)) == vector["create_session_calldata"]
    state_call = SessionKeyValidator.era_session_state(env["account"], spec)
    assert _hex(state_call) == vector["session_state_calldata"]
    # The entry that installs the validator with the session open (deployProxySsoAccount's initialValidators).
    entry = abi_encode(["address", "bytes"], [validator, spec.encode()])
    assert _hex(entry) == vector["initial_validator_entry"]

    tx = _tx(vector["tx"])
    assert _hex(tx.signed_hash()) == vector["tx_digest"]
    ids = era_period_ids(spec, SessionCall(tx.to or "", tx.value, tx.data), int(env["timestamp"]))
    assert list(ids) == [int(i) for i in vector["period_ids"]]
    signed = Account.unsafe_sign_hash(tx.signed_hash(), vector["signer_private_key"])
    ecdsa = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
    assert _hex(ecdsa) == vector["session_key_signature"]
    custom = SessionKeyValidator.era_signature(validator, ecdsa, spec, ids)
    assert _hex(custom) == vector["custom_signature"]
    _, _, validator_data = abi_decode(["bytes", "address", "bytes"], custom)
    assert _hex(validator_data) == vector["validator_data"]
    assert _hex(tx.replace(custom_signature=custom).serialize()) == vector["serialized_tx"]


def test_the_signature_refuses_what_the_validator_cannot_read() -> None:
    spec = SessionSpec(R1, NOW + 3600, UsageLimit.lifetime(10**18))
    with pytest.raises(SsoEncodingError, match="65 bytes"):
        SessionKeyValidator.era_signature(R2, bytes(64), spec, [0, 0])
    with pytest.raises(SsoEncodingError, match="uint64"):
        SessionKeyValidator.era_signature(R2, bytes(65), spec, [0, 2**64])
    with pytest.raises(InvalidInputError, match="generation"):
        check_call(spec, SessionCall(R1, 1), NOW, generation="zksync-os")


def _spec() -> SessionSpec:
    return SessionSpec(
        "0x5555555555555555555555555555555555555555",
        NOW + 86_400,
        UsageLimit.lifetime(10**16),
        call_policies=(
            CallPolicy(
                TOKEN,
                TRANSFER,
                max_value_per_use=5,
                value_limit=UsageLimit.lifetime(8),
                constraints=(
                    Constraint(Condition.EQUAL, 0, int(R1, 16)),
                    Constraint(Condition.LESS_OR_EQUAL, 1, 100, UsageLimit.allowance(150, 3600)),
                ),
            ),
            CallPolicy(R2, APPROVE, constraints=(Constraint(Condition.EQUAL, 0, int(PAYMASTER, 16)),)),
        ),
        transfer_policies=(TransferPolicy(R1, 10, UsageLimit.lifetime(15)),),
    )


def _transfer_call(to: str, amount: int, value: int = 0) -> SessionCall:
    return SessionCall(TOKEN, value, TRANSFER + abi_encode(["address", "uint256"], [to, amount]))


def test_era_rules_order_and_names() -> None:
    spec = _spec()

    def rule(call: SessionCall, **kwargs: Any) -> str | None:
        return check_call(spec, call, NOW, generation="era", **kwargs).rule

    assert rule(_transfer_call(R1, 100)) is None
    # Constraints before value (the ERC-4337 validator checks the value first).
    assert rule(_transfer_call(R2, 100, value=6)) == "SESSION_CONDITION_FAILED"
    assert check_call(spec, _transfer_call(R2, 100, value=6), NOW).rule == "MaxValueExceeded"
    assert rule(_transfer_call(R1, 100, value=6)) == "SESSION_MAX_VALUE_EXCEEDED"
    assert rule(SessionCall(TOKEN, 0, bytes.fromhex("deadbeef"))) == "SESSION_CALL_POLICY_VIOLATED"
    short = TRANSFER + abi_encode(["address"], [R1]) + bytes(8)  # the amount word is cut
    assert rule(SessionCall(TOKEN, 0, short)) == "SESSION_INVALID_DATA_LENGTH"
    # 1-3 bytes of calldata is a transfer on Era (the ERC-4337 validator refuses it).
    assert rule(SessionCall(R1, 1, b"\x01\x02")) is None
    assert check_call(spec, SessionCall(R1, 1, b"\x01\x02"), NOW).rule == "InvalidDataLength"
    assert rule(SessionCall(R2, 1)) == "SESSION_TRANSFER_POLICY_VIOLATED"
    assert rule(SessionCall(R1, 11)) == "SESSION_MAX_VALUE_EXCEEDED"
    assert rule(SessionCall(R1, 1), fee=10**16 + 1) == "SESSION_LIFETIME_USAGE_EXCEEDED"
    assert rule(SessionCall(R1, 1), fee=None) is None  # a paymaster pays: no fee counted
    assert rule(_transfer_call(R1, 100), ids=(0, 0)) == "Panic"
    expired = check_call(spec, SessionCall(R1, 1), NOW + 86_401, generation="era")
    assert (expired.rule, expired.args, expired.expired) == (
        "TimestampOutOfRange",
        (NOW + 86_401, 0, NOW + 86_400),
        True,
    )
    # A period id of the previous hour is refused by the asserter, not counted in the wrong bucket.
    hour = NOW // 3600
    stale = check_call(spec, _transfer_call(R1, 100), NOW, ids=(0, 0, 0, hour - 1), generation="era")
    assert (stale.rule, stale.expired) == ("TimestampOutOfRange", False)
    closed = SessionUsage(status=SessionStatus.CLOSED)
    assert rule(SessionCall(R1, 1), usage=closed) == "SESSION_NOT_ACTIVE"


def test_usage_carries_over_and_periodic_limits_bound_the_inclusion_time() -> None:
    spec = _spec()
    first = check_call(spec, _transfer_call(R1, 100), NOW, generation="era", fee=0)
    assert first.accepted
    assert first.usage is not None
    hour = NOW // 3600
    assert (first.valid_after, first.valid_until) == (hour * 3600, hour * 3600 + 3599)
    second = check_call(spec, _transfer_call(R1, 100), NOW, first.usage, generation="era", fee=0)
    assert (second.rule, second.args, second.constraint) == (
        "SESSION_ALLOWANCE_EXCEEDED",
        (100, 150, hour),
        1,
    )
    later = check_call(spec, _transfer_call(R1, 100), NOW + 3600, first.usage, generation="era", fee=0)
    assert later.accepted


def test_an_approval_paymaster_adds_the_approve_constraints_before_the_calls() -> None:
    spec = _spec()
    approval = EraApproval.from_paymaster(
        PAYMASTER, bytes.fromhex("949431dc") + abi_encode(["address", "uint256", "bytes"], [R2, 7, b""])
    )
    assert approval == EraApproval(R2, PAYMASTER, 7)
    assert EraApproval.from_paymaster(PAYMASTER, bytes.fromhex("8c5a3445") + bytes(64)) is None
    with pytest.raises(SsoEncodingError):
        EraApproval.from_paymaster(PAYMASTER, bytes.fromhex("949431dc") + bytes(32))
    call = _transfer_call(R1, 100)
    ids = era_period_ids(spec, call, NOW, approval)
    assert ids == (0, 0, 0, 0, NOW // 3600)  # fee, value, approve's spender, then the call's two
    assert check_era_call(spec, call, NOW, approval=approval).accepted
    other = EraApproval(R2, R1, 7)
    refused = check_era_call(spec, call, NOW, approval=other)
    assert refused.rule == "SESSION_CONDITION_FAILED"
    missing = check_era_call(spec, call, NOW, approval=EraApproval(TOKEN, PAYMASTER, 7))
    assert missing.rule == "SESSION_CALL_POLICY_VIOLATED"


def test_usage_from_state_round_trips_what_the_checks_counted() -> None:
    spec = _spec()
    verdict = check_call(spec, _transfer_call(R1, 100, value=3), NOW, generation="era", fee=1000)
    assert verdict.usage is not None
    hour = NOW // 3600
    # The state the validator would report for that usage, in the same hour.
    state = SessionState(
        SessionStatus.ACTIVE,
        10**16 - 1000,
        (LimitState(15, R1, bytes(4), 0),),
        (LimitState(5, TOKEN, TRANSFER, 0), LimitState(2**256 - 1, R2, APPROVE, 0)),
        (LimitState(50, TOKEN, TRANSFER, 1),),
    )
    usage = usage_from_state(spec, state, NOW)
    assert usage.lifetime == {("fee",): 1000, ("transfer", R1): 0, ("call", TOKEN, TRANSFER): 3}
    assert usage.allowance == {(("param", TOKEN, TRANSFER, 1), hour): 100}
    assert {key: used for key, used in usage.lifetime.items() if used} == verdict.usage.lifetime
    assert verdict.usage.allowance == usage.allowance
    with pytest.raises(SsoEncodingError):
        usage_from_state(spec, SessionState(SessionStatus.ACTIVE, 0, (), (), ()), NOW)


def test_era_spec_type_spells_periods_as_uint256() -> None:
    assert ERA_SESSION_SPEC_TYPE.startswith("(address,uint256,(uint8,uint256,uint256),")
    assert "uint48" not in ERA_SESSION_SPEC_TYPE
