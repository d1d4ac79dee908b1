"""Every malformed transaction, bytecode or argument raises the typed error naming the failed check."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from sso_signer.exceptions import ErrorCode, InvalidInputError
from sso_signer.zksync import Eip712Transaction, PaymasterParams
from sso_signer.zksync._bytecode import bytecode_hash, validate_bytecode_hash
from sso_signer.zksync._create2 import create2_address
from sso_signer.zksync._paymaster import decode_paymaster_input, general_paymaster_input
from tests.errors import raises_rule

FROM = "0x36615Cf349d7F6344891B1e7CA7C72883F5dc049"
TO = "0xa61464658AfeAf65CccaaFD3a512b69A83B77618"
PAYMASTER = "0x3333333333333333333333333333333333333333"


def _tx(**changes: Any) -> Eip712Transaction:
    fields: dict[str, Any] = {
        "chain_id": 300,
        "nonce": 7,
        "from_address": FROM,
        "to": TO,
        "value": 10**15,
        "data": b"\xa9\x05\x9c\xbb" + b"\x00" * 64,
        "gas_limit": 10_000_000,
        "max_fee_per_gas": 25_000_000,
        "max_priority_fee_per_gas": 1,
        "factory_deps": (b"\x01" * 32,),
        "custom_signature": b"\x55" * 96,
        "paymaster_params": PaymasterParams(PAYMASTER, general_paymaster_input()),
    }
    fields.update(changes)
    return Eip712Transaction(**fields)


def _items() -> list[Any]:
    decoded: list[Any] = rlp.decode(_tx().serialize()[1:])
    return decoded


def _raw(items: list[Any]) -> bytes:
    encoded: bytes = rlp.encode(items)
    return b"\x71" + encoded


def test_valid_template_parses() -> None:
    # The mutations below start from bytes that are otherwise accepted.
    assert Eip712Transaction.parse(_raw(_items())) == _tx()


# -- serialised transactions --


@pytest.mark.parametrize("first", [0x00, 0x02, 0x70, 0x72, 0xFF])
def test_wrong_type_byte(first: int) -> None:
    with raises_rule(ErrorCode.WRONG_TRANSACTION_TYPE, match="0x71"):
        Eip712Transaction.parse(bytes([first]) + _tx().serialize()[1:])


def test_empty_input_is_wrong_type() -> None:
    with raises_rule(ErrorCode.WRONG_TRANSACTION_TYPE):
        Eip712Transaction.parse(b"")


def test_trailing_rlp() -> None:
    with raises_rule(ErrorCode.TRAILING_RLP_DATA, match="1 bytes"):
        Eip712Transaction.parse(_tx().serialize() + b"\x80")


def test_truncated_rlp() -> None:
    with raises_rule(ErrorCode.MALFORMED_RLP):
        Eip712Transaction.parse(_tx().serialize()[:-1])


def test_type_byte_only() -> None:
    with raises_rule(ErrorCode.MALFORMED_RLP):
        Eip712Transaction.parse(b"\x71")


def test_top_level_not_a_list() -> None:
    with raises_rule(ErrorCode.MALFORMED_RLP, match="list"):
        Eip712Transaction.parse(b"\x71" + rlp.encode(b"\x01\x02"))


def test_non_canonical_rlp_length_prefix() -> None:
    # A single byte below 0x80 must encode as itself, not as 0x81 0x05.
    items = _items()
    body = b"".join(rlp.encode(item) for item in items[1:])
    payload = b"\x81\x05" + body
    raw = b"\x71" + rlp.codec.length_prefix(len(payload), 0xC0) + payload
    with raises_rule(ErrorCode.MALFORMED_RLP):
        Eip712Transaction.parse(raw)


@pytest.mark.parametrize(("index", "name"), [(0, "nonce"), (2, "maxFeePerGas"), (12, "gasPerPubdata")])
def test_integer_with_leading_zero(index: int, name: str) -> None:
    items = _items()
    items[index] = b"\x00" + items[index]
    with raises_rule(ErrorCode.NON_CANONICAL_INTEGER, match=name):
        Eip712Transaction.parse(_raw(items))


def test_zero_encoded_as_zero_byte() -> None:
    items = _items()
    items[5] = b"\x00"  # value 0 must be the empty string
    with raises_rule(ErrorCode.NON_CANONICAL_INTEGER, match="value"):
        Eip712Transaction.parse(_raw(items))


def test_integer_wider_than_256_bits() -> None:
    items = _items()
    items[3] = b"\x01" + b"\x00" * 32
    with raises_rule(ErrorCode.INTEGER_OUT_OF_RANGE, match="gasLimit"):
        Eip712Transaction.parse(_raw(items))


def test_integer_slot_holding_a_list() -> None:
    items = _items()
    items[0] = [b"\x07"]
    with raises_rule(ErrorCode.MALFORMED_RLP, match="nonce"):
        Eip712Transaction.parse(_raw(items))


def test_list_slot_holding_a_string() -> None:
    items = _items()
    items[13] = b"\x01" * 32
    with raises_rule(ErrorCode.MALFORMED_RLP, match="factoryDeps"):
        Eip712Transaction.parse(_raw(items))


@pytest.mark.parametrize("count", [0, 15, 17])
def test_wrong_field_count(count: int) -> None:
    items = _items()
    items = items[:count] if count < len(items) else [*items, b""]
    with raises_rule(ErrorCode.WRONG_FIELD_COUNT, match=f"got {count}"):
        Eip712Transaction.parse(_raw(items))


def test_paymaster_list_with_one_item() -> None:
    items = _items()
    items[15] = items[15][:1]
    with raises_rule(ErrorCode.WRONG_FIELD_COUNT, match="paymasterParams"):
        Eip712Transaction.parse(_raw(items))


@pytest.mark.parametrize(("index", "length", "name"), [(11, 19, "from"), (4, 21, "to"), (11, 0, "from")])
def test_address_of_wrong_length(index: int, length: int, name: str) -> None:
    items = _items()
    items[index] = b"\x11" * length
    with raises_rule(ErrorCode.INVALID_ADDRESS, match=name):
        Eip712Transaction.parse(_raw(items))


def test_paymaster_address_of_wrong_length() -> None:
    items = _items()
    items[15][0] = b"\x33" * 32
    with raises_rule(ErrorCode.INVALID_ADDRESS, match="paymaster"):
        Eip712Transaction.parse(_raw(items))


def test_empty_to_means_deployment() -> None:
    items = _items()
    items[4] = b""
    parsed = Eip712Transaction.parse(_raw(items))
    assert parsed.to is None
    assert parsed.eip712_message()["to"] == 0
    assert "to" not in parsed.to_rpc_request()


def test_chain_id_slots_differ() -> None:
    items = _items()
    items[7] = (301).to_bytes(2, "big")
    with raises_rule(ErrorCode.CHAIN_ID_MISMATCH, match="301"):
        Eip712Transaction.parse(_raw(items))


def test_legacy_ecdsa_slots_set() -> None:
    items = _items()
    items[7], items[8], items[9] = b"\x01", b"\x22" * 32, b"\x33" * 32
    with raises_rule(ErrorCode.ECDSA_SIGNATURE_FIELDS_SET):
        Eip712Transaction.parse(_raw(items))


def test_priority_fee_above_fee_cap_in_bytes() -> None:
    items = _items()
    items[1] = (25_000_001).to_bytes(4, "big")
    with raises_rule(ErrorCode.PRIORITY_FEE_ABOVE_MAX_FEE):
        Eip712Transaction.parse(_raw(items))


def test_factory_dep_not_word_aligned_in_bytes() -> None:
    items = _items()
    items[13] = [b"\x01" * 33]
    with raises_rule(ErrorCode.BYTECODE_NOT_WORD_ALIGNED):
        Eip712Transaction.parse(_raw(items))


def test_factory_dep_even_word_count_in_bytes() -> None:
    items = _items()
    items[13] = [b"\x01" * 64]
    with raises_rule(ErrorCode.BYTECODE_EVEN_WORD_COUNT):
        Eip712Transaction.parse(_raw(items))


def test_parse_refuses_hex_text() -> None:
    with raises_rule(ErrorCode.INVALID_FIELD_TYPE):
        Eip712Transaction.parse("0x" + _tx().serialize().hex())  # type: ignore[arg-type]


# -- bytecode hash rules --


@pytest.mark.parametrize("length", [1, 31, 33, 95])
def test_bytecode_not_multiple_of_32(length: int) -> None:
    with raises_rule(ErrorCode.BYTECODE_NOT_WORD_ALIGNED, match=str(length)):
        bytecode_hash(b"\x00" * length)


@pytest.mark.parametrize("words", [0, 2, 4, 65534])
def test_bytecode_even_word_count(words: int) -> None:
    with raises_rule(ErrorCode.BYTECODE_EVEN_WORD_COUNT, match=f"{words} words"):
        bytecode_hash(b"\x00" * (32 * words))


@pytest.mark.parametrize("words", [65536, 65537])
def test_bytecode_too_long(words: int) -> None:
    with raises_rule(ErrorCode.BYTECODE_TOO_LONG, match=f"{words} words"):
        bytecode_hash(b"\x00" * (32 * words))


def test_longest_bytecode_is_accepted() -> None:
    digest = bytecode_hash(b"\x00" * (32 * 65535))
    assert digest[:4] == b"\x01\x00\xff\xff"


def test_bad_factory_dep_at_construction() -> None:
    with raises_rule(ErrorCode.BYTECODE_EVEN_WORD_COUNT):
        _tx(factory_deps=(b"\x01" * 32, b"\x02" * 64))


@pytest.mark.parametrize(
    "value",
    [b"\x01\x00" + b"\x00" * 29, b"\x02\x00\x00\x01" + b"\x00" * 28, b"\x01\x00\x00\x02" + b"\x00" * 28],
)
def test_invalid_bytecode_hash(value: bytes) -> None:
    with raises_rule(ErrorCode.INVALID_BYTECODE_HASH):
        validate_bytecode_hash(value)


# -- model construction --


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"nonce": -1}, ErrorCode.INTEGER_OUT_OF_RANGE, "nonce"),
        ({"value": 1 << 256}, ErrorCode.INTEGER_OUT_OF_RANGE, "value"),
        ({"chain_id": 0}, ErrorCode.INTEGER_OUT_OF_RANGE, "chain_id"),
        ({"gas_limit": True}, ErrorCode.INVALID_FIELD_TYPE, "gas_limit"),
        ({"gas_per_pubdata": 1.5}, ErrorCode.INVALID_FIELD_TYPE, "gas_per_pubdata"),
        (
            {"max_priority_fee_per_gas": 25_000_001},
            ErrorCode.PRIORITY_FEE_ABOVE_MAX_FEE,
            "max_priority_fee_per_gas",
        ),
        ({"data": "0x1234"}, ErrorCode.INVALID_FIELD_TYPE, "data"),
        ({"custom_signature": None}, ErrorCode.INVALID_FIELD_TYPE, "custom_signature"),
        ({"factory_deps": b"\x01" * 32}, ErrorCode.INVALID_FIELD_TYPE, "factory_deps"),
        ({"factory_deps": ("00" * 32,)}, ErrorCode.INVALID_FIELD_TYPE, r"factory_deps\[0\]"),
        ({"paymaster_params": (PAYMASTER, b"")}, ErrorCode.INVALID_FIELD_TYPE, "paymaster_params"),
        ({"from_address": FROM[:-1]}, ErrorCode.INVALID_ADDRESS, "from_address"),
        ({"to": "0x" + "zz" * 20}, ErrorCode.INVALID_ADDRESS, "to"),
        ({"from_address": FROM.replace("C", "c", 1)}, ErrorCode.INVALID_ADDRESS, "checksum"),
    ],
)
def test_construction_checks(changes: dict[str, Any], error: ErrorCode, field: str) -> None:
    with raises_rule(error, match=field):
        _tx(**changes)


def test_lower_and_upper_case_addresses_are_normalised() -> None:
    tx = _tx(from_address=FROM.lower(), to="0x" + TO[2:].upper())
    assert tx.from_address == FROM
    assert tx.to == TO


def test_errors_are_input_errors() -> None:
    # Callers may catch the category (or ValueError) instead of each class.
    with raises_rule(ErrorCode.INTEGER_OUT_OF_RANGE):
        _tx(nonce=-1)
    with pytest.raises(ValueError, match="0x71"):
        Eip712Transaction.parse(b"\x02")


# -- CREATE2 and paymaster arguments --


def test_create2_bad_salt_and_hash() -> None:
    code_hash = bytecode_hash(b"\x00" * 32)
    with raises_rule(ErrorCode.INVALID_SALT):
        create2_address(FROM, code_hash, b"\x00" * 31)
    with raises_rule(ErrorCode.INVALID_BYTECODE_HASH):
        create2_address(FROM, code_hash[:31], b"\x00" * 32)
    with raises_rule(ErrorCode.INVALID_ADDRESS):
        create2_address("0x1234", code_hash, b"\x00" * 32)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x12\x34\x56\x78" + b"\x00" * 64,  # unknown selector
        general_paymaster_input()[:-1],  # truncated body
        general_paymaster_input() + b"\x00" * 32,  # extra word: decodes, but not canonical
    ],
)
def test_bad_paymaster_input(data: bytes) -> None:
    with raises_rule(ErrorCode.INVALID_PAYMASTER_INPUT):
        decode_paymaster_input(data)


def test_paymaster_params_check_address() -> None:
    with raises_rule(ErrorCode.INVALID_ADDRESS):
        PaymasterParams("0x33", b"")


def test_byte_mutations_never_escape_untyped() -> None:
    # Flip every byte of a valid transaction: each result parses canonically or raises a room error.
    raw = _tx().serialize()
    parsed = rejected = 0
    for i in range(len(raw)):
        for delta in (1, 0x80):
            mutated = bytearray(raw)
            mutated[i] = (mutated[i] + delta) % 256
            try:
                tx = Eip712Transaction.parse(bytes(mutated))
            except InvalidInputError:
                rejected += 1
            else:
                assert tx.serialize() == bytes(mutated)
                parsed += 1
    assert rejected > 0
    assert parsed > 0


_rlp_items = st.recursive(
    st.binary(max_size=40), lambda children: st.lists(children, max_size=18), max_leaves=40
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), _rlp_items.map(lambda item: b"\x71" + rlp.encode(item))))
def test_arbitrary_input_raises_only_room_errors(raw: bytes) -> None:
    # Random bytes and random RLP shapes: a typed room error or a canonical parse, never anything else.
    try:
        tx = Eip712Transaction.parse(raw)
    except InvalidInputError:
        return
    assert tx.serialize() == raw


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 15), _rlp_items)
def test_any_field_replaced_by_any_shape_raises_only_room_errors(index: int, item: Any) -> None:
    items = _items()
    items[index] = item
    raw = _raw(items)
    try:
        tx = Eip712Transaction.parse(raw)
    except InvalidInputError:
        return
    assert tx.serialize() == raw


@pytest.mark.parametrize("signature", ["0x1234", 1234, [1, 2]])
def test_serialize_with_a_signature_that_is_not_bytes(signature: object) -> None:
    with raises_rule(ErrorCode.INVALID_FIELD_TYPE, match="custom_signature"):
        _tx().serialize(custom_signature=signature)  # type: ignore[arg-type]
