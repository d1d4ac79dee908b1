"""ERC-7579 execute calldata against the official Rust-core vectors, and its decoder."""

from __future__ import annotations

import json
import pathlib
from typing import Any

from sso_signer.erc4337 import Call, encode_execute
from sso_signer.erc4337._execute import (
    EXECUTE_SELECTOR,
    CallType,
    ExecType,
    decode_execute,
    encode_execute_batch,
    encode_execute_delegatecall,
    encode_execute_single,
)
from sso_signer.exceptions import ErrorCode
from tests.errors import raises_rule

VECTORS = json.loads((pathlib.Path(__file__).parent / "vectors" / "sso-4337.json").read_text())["vectors"]


def _vector(vector_id: str) -> dict[str, Any]:
    return next(v for v in VECTORS if v["id"] == vector_id)


def test_single_vector() -> None:
    vec = _vector("execute_single")
    data = bytes.fromhex(vec["input"]["callData"][2:])
    encoded = encode_execute_single(vec["input"]["target"], vec["input"]["value"], data)
    assert "0x" + encoded.hex() == vec["expected"]
    assert encode_execute([(vec["input"]["target"], vec["input"]["value"], data)]) == encoded


def test_batch_vector() -> None:
    vec = _vector("execute_batch")
    calls = [Call(c["target"], c["value"], bytes.fromhex(c["callData"][2:])) for c in vec["input"]]
    encoded = encode_execute_batch(calls)
    assert "0x" + encoded.hex() == vec["expected"]
    assert encode_execute(calls) == encoded


def test_msa_json_vector_calldata_is_a_batch() -> None:
    raw = _vector("userop_hash_msa_json")["input"]["userOperation"]["callData"]
    decoded = decode_execute(bytes.fromhex(raw[2:]))
    assert decoded.call_type is CallType.BATCH
    assert decoded.calls == (Call("0xcb98643b8786950f0461f3b0edf99d88f274574d", 0, b""),)
    assert encode_execute_batch(decoded.calls).hex() == raw[2:]


def test_decode_round_trips_every_mode() -> None:
    target = "0x" + "42" * 20
    single = decode_execute(encode_execute_single(target, 7, b"\x01\x02", exec_type=ExecType.TRY))
    assert (single.call_type, single.exec_type) == (CallType.SINGLE, ExecType.TRY)
    assert single.calls == (Call(target, 7, b"\x01\x02"),)
    delegate = decode_execute(encode_execute_delegatecall(target, b"\xaa"))
    assert delegate.call_type is CallType.DELEGATECALL
    assert delegate.calls == (Call(target, 0, b"\xaa"),)
    batch = decode_execute(encode_execute_batch([(target, 1, b""), (target, 2, b"\xff" * 40)]))
    assert [c.value for c in batch.calls] == [1, 2]
    assert batch.calls[1].data == b"\xff" * 40


def test_bad_inputs_raise_typed_errors() -> None:
    with raises_rule(ErrorCode.INVALID_EXECUTE_CALLDATA, match="at least one"):
        encode_execute_batch([])
    with raises_rule(ErrorCode.INVALID_ADDRESS):
        encode_execute_single("0x12", 0)
    with raises_rule(ErrorCode.INVALID_EXECUTE_CALLDATA, match="selector"):
        decode_execute(b"\x00\x00\x00\x00")
    good = encode_execute_single("0x" + "42" * 20, 0)
    with raises_rule(ErrorCode.INVALID_EXECUTE_CALLDATA, match="mode"):
        decode_execute(good[:4] + b"\xfe" + good[5:])
    with raises_rule(ErrorCode.INVALID_EXECUTE_CALLDATA):
        decode_execute(good[:-40])
    with raises_rule(ErrorCode.INVALID_EXECUTE_CALLDATA):
        encode_execute_batch([("0x" + "42" * 20, 1)])  # type: ignore[list-item]


def test_a_huge_length_word_is_a_typed_error() -> None:
    # Attack: a sponsor service (or a local policy) decodes call data from outside; a bytes length near 2^64
    # made eth_abi raise OverflowError, out of the SDK's error tree (the service answered "policy failed").
    huge = EXECUTE_SELECTOR + bytes(32) + (0x40).to_bytes(32, "big") + (2**70).to_bytes(32, "big") + bytes(64)
    with raises_rule(ErrorCode.INVALID_EXECUTE_CALLDATA):
        decode_execute(huge)
    word = (1).to_bytes(32, "big")
    batch_inner = (0x20).to_bytes(32, "big") + word + (0x20).to_bytes(32, "big") + bytes(64)
    batch_inner += (0x60).to_bytes(32, "big") + (2**70).to_bytes(32, "big")
    batch = encode_execute_batch([("0x" + "42" * 20, 0, b"")])
    with raises_rule(ErrorCode.INVALID_EXECUTE_CALLDATA):
        decode_execute(
            batch[:36] + (0x40).to_bytes(32, "big") + len(batch_inner).to_bytes(32, "big") + batch_inner
        )
