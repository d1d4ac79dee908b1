"""Property tests: UserOperation JSON forms and execute calldata round-trip; every field feeds the hash."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sso_signer.erc4337 import Call, UserOperation, user_operation_hash
from sso_signer.erc4337._execute import CallType, decode_execute, encode_execute_batch, encode_execute_single
from tests.erc4337.forms import packed_rpc

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
u128 = st.integers(min_value=0, max_value=(1 << 128) - 1)
u256 = st.integers(min_value=0, max_value=(1 << 256) - 1)
blobs = st.binary(max_size=200)


@st.composite
def user_operations(draw: Any) -> UserOperation:
    factory = draw(st.none() | addresses)
    paymaster = draw(st.none() | addresses)
    return UserOperation(
        sender=draw(addresses),
        nonce=draw(u256),
        call_data=draw(blobs),
        call_gas_limit=draw(u128),
        verification_gas_limit=draw(u128),
        pre_verification_gas=draw(u256),
        max_fee_per_gas=draw(u128),
        max_priority_fee_per_gas=draw(u128),
        factory=factory,
        factory_data=draw(blobs) if factory else b"",
        paymaster=paymaster,
        paymaster_verification_gas_limit=draw(u128) if paymaster else 0,
        paymaster_post_op_gas_limit=draw(u128) if paymaster else 0,
        paymaster_data=draw(blobs) if paymaster else b"",
        signature=draw(blobs),
    )


@settings(max_examples=150, deadline=None)
@given(user_operations())
def test_rpc_forms_round_trip(op: UserOperation) -> None:
    assert UserOperation.from_rpc(op.to_rpc()) == op
    packed_json = packed_rpc(op)
    assert UserOperation.from_rpc(packed_json) == op


@settings(max_examples=60, deadline=None)
@given(
    user_operations(),
    st.sampled_from(
        [
            "nonce",
            "call_data",
            "call_gas_limit",
            "pre_verification_gas",
            "max_fee_per_gas",
            "max_priority_fee_per_gas",
            "sender",
        ]
    ),
)
def test_each_field_changes_the_hash(op: UserOperation, field: str) -> None:
    before = user_operation_hash(op, chain_id=1)
    value = getattr(op, field)
    if isinstance(value, int):
        changed = op.replace(**{field: value ^ 1})
    elif isinstance(value, bytes):
        changed = op.replace(**{field: value + b"\x00"})
    else:
        changed = op.replace(**{field: "0x" + ("11" if value.lower() != "0x" + "11" * 20 else "22") * 20})
    assert user_operation_hash(changed, chain_id=1) != before


calls = st.builds(Call, addresses, u256, blobs)


@settings(max_examples=100, deadline=None)
@given(st.lists(calls, min_size=1, max_size=5))
def test_batch_round_trips(batch: list[Call]) -> None:
    decoded = decode_execute(encode_execute_batch(batch))
    assert decoded.call_type is CallType.BATCH
    assert list(decoded.calls) == batch


@settings(max_examples=100, deadline=None)
@given(calls)
def test_single_round_trips(call: Call) -> None:
    decoded = decode_execute(encode_execute_single(call.target, call.value, call.data))
    assert decoded.calls == (call,)
