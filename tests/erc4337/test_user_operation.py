"""UserOperation model, packing, JSON forms and the v0.8 userOpHash against the official vectors."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from eth_utils.crypto import keccak

from sso_signer._codec import checksum_address
from sso_signer.erc4337 import ENTRY_POINT_V08, UserOperation, user_operation_hash
from sso_signer.erc4337._user_operation import (
    PACKED_USEROP_TYPEHASH,
    decode_nonce,
    encode_nonce,
    entry_point_domain_separator,
    pack_uint128_pair,
)
from sso_signer.exceptions import ErrorCode, InvalidEncoding
from tests.erc4337.forms import packed_rpc
from tests.errors import raises_rule

VECTORS = json.loads((pathlib.Path(__file__).parent / "vectors" / "sso-4337.json").read_text())["vectors"]


def _vector(vector_id: str) -> dict[str, Any]:
    return next(v for v in VECTORS if v["id"] == vector_id)


def test_typehash_matches_entry_point_constant() -> None:
    assert "0x" + PACKED_USEROP_TYPEHASH.hex() == _vector("entrypoint_v08")["PACKED_USEROP_TYPEHASH"]


def test_msa_json_vector_hash_and_packed_fields() -> None:
    vec = _vector("userop_hash_msa_json")
    raw, meta, derived = vec["input"]["userOperation"], vec["input"]["metadata"], vec["derived"]
    op = UserOperation.from_rpc(raw)
    assert op.factory is None
    assert op.paymaster is None
    assert "0x" + op.account_gas_limits.hex() == derived["accountGasLimits"]
    assert "0x" + op.gas_fees.hex() == derived["gasFees"]
    assert "0x" + op.struct_hash().hex() == derived["structHash"]
    domain = entry_point_domain_separator(entry_point=meta["entryPointAddress"], chain_id=meta["chainId"])
    assert "0x" + domain.hex() == derived["domainSeparator_31337"]
    digest = user_operation_hash(op, entry_point=meta["entryPointAddress"], chain_id=meta["chainId"])
    assert "0x" + digest.hex() == derived["userOpHash"]
    assert op.hash(chain_id=31337) == digest


def test_hash_ignores_signature_but_not_other_fields() -> None:
    op = UserOperation.from_rpc(_vector("userop_hash_msa_json")["input"]["userOperation"])
    base = user_operation_hash(op, chain_id=31337)
    assert user_operation_hash(op.replace(signature=b"\x01" * 85), chain_id=31337) == base
    assert user_operation_hash(op.replace(nonce=1), chain_id=31337) != base
    assert user_operation_hash(op, chain_id=1) != base
    assert user_operation_hash(op, entry_point="0x" + "11" * 20, chain_id=31337) != base


def test_packing_vectors() -> None:
    vec = _vector("packing")
    assert "0x" + pack_uint128_pair(0x1000, 0x2000).hex() == vec["pack_u256_pair(0x1000,0x2000)"]
    addr = "0x1234567890123456789012345678901234567890"
    op = UserOperation(
        sender="0x" + "22" * 20,
        nonce=0,
        factory=addr,
        factory_data=bytes.fromhex("deadbeef"),
        paymaster=addr,
        paymaster_verification_gas_limit=0x1000,
        paymaster_post_op_gas_limit=0x2000,
        paymaster_data=bytes.fromhex("abcdef"),
    )
    assert "0x" + op.init_code.hex() == vec[f"concat_factory_data({addr}, 0xdeadbeef)"]
    expected_pad = vec["concat_paymaster_data(0x1234..7890, 0x1000, 0x2000, 0xabcdef)"]
    assert "0x" + op.paymaster_and_data.hex() == expected_pad


def test_session_keyed_nonce_vector() -> None:
    vec = _vector("session_keyed_nonce")
    key = int(vec["sessionSigner"], 16)
    nonce = encode_nonce(key, 7)
    assert decode_nonce(nonce) == (key, 7)
    assert nonce >> 64 == int(vec["nonceKey(uint192)"], 16)
    op = UserOperation(sender=vec["sessionSigner"], nonce=nonce)
    assert (op.nonce_key, op.nonce_sequence) == (key, 7)


def test_rpc_round_trip_unpacked_and_packed() -> None:
    op = UserOperation(
        sender="0x" + "ab" * 20,
        nonce=encode_nonce(5, 9),
        call_data=b"\xe9\xae\x5c\x53",
        call_gas_limit=50_000,
        verification_gas_limit=120_000,
        pre_verification_gas=60_000,
        max_fee_per_gas=3_000_000_000,
        max_priority_fee_per_gas=1_000_000_000,
        factory="0x" + "cd" * 20,
        factory_data=b"\x57\x4c\xae\xf3",
        paymaster="0x" + "ef" * 20,
        paymaster_verification_gas_limit=500_000,
        paymaster_post_op_gas_limit=1,
        paymaster_data=b"\x01\x02",
        signature=b"\x03" * 10,
    )
    rpc = op.to_rpc()
    assert rpc["factory"] == op.factory
    assert rpc["paymasterData"] == "0x0102"
    assert "initCode" not in rpc
    assert UserOperation.from_rpc(rpc) == op
    packed = packed_rpc(op)
    assert UserOperation.from_rpc(packed) == op


def test_rpc_form_omits_unused_factory_and_paymaster() -> None:
    rpc = UserOperation(sender="0x" + "ab" * 20, nonce=0).to_rpc()
    assert not {"factory", "factoryData", "paymaster", "paymasterData"} & rpc.keys()
    assert rpc["nonce"] == "0x0"
    assert rpc["callData"] == "0x"


def test_required_prefund_sums_all_limits() -> None:
    op = UserOperation(
        sender="0x" + "ab" * 20,
        nonce=0,
        call_gas_limit=1,
        verification_gas_limit=2,
        pre_verification_gas=3,
        max_fee_per_gas=10,
        paymaster="0x" + "cd" * 20,
        paymaster_verification_gas_limit=4,
        paymaster_post_op_gas_limit=5,
    )
    assert op.required_prefund == 150


def test_sender_is_checksummed_and_bad_checksum_rejected() -> None:
    lower = ENTRY_POINT_V08.lower()
    assert UserOperation(sender=lower, nonce=0).sender == ENTRY_POINT_V08
    broken = ENTRY_POINT_V08[:2] + ENTRY_POINT_V08[2:].swapcase()
    with raises_rule(ErrorCode.INVALID_ADDRESS, match="checksum"):
        UserOperation(sender=broken, nonce=0)
    with raises_rule(ErrorCode.INVALID_ADDRESS):
        UserOperation(sender="0x1234", nonce=0)


@pytest.mark.parametrize("value", ["1234", "0x1234", 12, None, "0x" + "zz" * 20, ENTRY_POINT_V08.swapcase()])
def test_addresses_go_through_the_sdks_one_address_check(value: object) -> None:
    """A UserOperation's address fields fail exactly as ``checksum_address`` does (same class, rule, text)."""
    with pytest.raises(InvalidEncoding) as expected:
        checksum_address(value, field="sender")
    with raises_rule(ErrorCode.INVALID_ADDRESS) as caught:
        UserOperation(sender=value, nonce=0)  # type: ignore[arg-type]
    assert str(caught.value) == str(expected.value)
    # 20 raw bytes are an address too.
    assert UserOperation(sender=bytes.fromhex(ENTRY_POINT_V08[2:]), nonce=0).sender == ENTRY_POINT_V08  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("nonce", -1),
        ("nonce", 1 << 256),
        ("call_gas_limit", 1 << 128),
        ("max_fee_per_gas", -5),
        ("verification_gas_limit", True),
    ],
)
def test_integer_fields_out_of_range(field: str, value: int) -> None:
    base: dict[str, Any] = {"sender": "0x" + "ab" * 20, "nonce": 0}
    base[field] = value
    with raises_rule(ErrorCode.FIELD_OUT_OF_RANGE, match=field):
        UserOperation(**base)


def test_orphan_factory_data_and_paymaster_fields() -> None:
    with raises_rule(ErrorCode.ORPHAN_FACTORY_DATA):
        UserOperation(sender="0x" + "ab" * 20, nonce=0, factory_data=b"\x01")
    with raises_rule(ErrorCode.ORPHAN_PAYMASTER_FIELDS):
        UserOperation(sender="0x" + "ab" * 20, nonce=0, paymaster_verification_gas_limit=1)


@pytest.mark.parametrize(
    "payload",
    [
        {"nonce": "0x0"},
        {"sender": "0x" + "ab" * 20},
        {"sender": "0x" + "ab" * 20, "nonce": "12"},
        {"sender": "0x" + "ab" * 20, "nonce": "0x0", "callData": "0xzz"},
        {"sender": "0x" + "ab" * 20, "nonce": "0x0", "initCode": "0x1234"},
        {"sender": "0x" + "ab" * 20, "nonce": "0x0", "paymasterAndData": "0x" + "11" * 30},
    ],
)
def test_from_rpc_rejects_malformed(payload: dict[str, str]) -> None:
    with raises_rule(ErrorCode.INVALID_USER_OPERATION_JSON):
        UserOperation.from_rpc(payload)


def test_nonce_helpers_reject_overflow() -> None:
    with raises_rule(ErrorCode.FIELD_OUT_OF_RANGE):
        encode_nonce(1 << 192, 0)
    with raises_rule(ErrorCode.FIELD_OUT_OF_RANGE):
        encode_nonce(0, 1 << 64)


def test_frozen() -> None:
    op = UserOperation(sender="0x" + "ab" * 20, nonce=0)
    with pytest.raises(AttributeError):
        op.nonce = 1  # type: ignore[misc]
    assert keccak(op.init_code) == keccak(b"")


def test_eoa_validator_signature_vector() -> None:
    from eth_account import Account

    from sso_signer.erc4337 import eoa_validator_signature

    vec = _vector("eoa_validator_signature")
    owner = Account.from_key(vec["input"]["privateKey"])
    signature = eoa_validator_signature(
        vec["input"]["validator"], owner, bytes.fromhex(vec["input"]["hash"][2:])
    )
    assert "0x" + signature.hex() == vec["expected"]
    assert len(signature) == 85


def test_bytes_fields_must_be_bytes_and_empty_addresses_mean_none() -> None:

    with raises_rule(ErrorCode.USER_OPERATION_FIELD_TYPE):
        UserOperation(sender="0x" + "ab" * 20, nonce=0, call_data="0x1234")  # type: ignore[arg-type]
    op = UserOperation.from_rpc(
        {"sender": "0x" + "ab" * 20, "nonce": "0x1", "factory": "0x", "paymaster": None, "factoryData": "0x"}
    )
    assert op.factory is None
    assert op.paymaster is None
