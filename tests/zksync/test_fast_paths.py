"""The hand-written fast paths of the transaction model agree with the generic encoders they replace.

``signed_hash`` hashes the EIP-712 words directly and ``serialize`` has its own RLP encoder (both for speed,
see benchmarks/README.md); eth-account's EIP-712 encoder and the ``rlp`` package stay the references.
"""

from __future__ import annotations

import rlp
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from sso_signer.exceptions import ErrorCode
from sso_signer.zksync import Eip712Transaction
from sso_signer.zksync._transaction import _rlp_list, _rlp_string, _rlp_uint
from tests.errors import raises_rule
from tests.zksync.strategies import transactions

_RlpItem = bytes | int | list["_RlpItem"]

_rlp_items = st.recursive(
    st.one_of(st.binary(max_size=70), st.integers(0, (1 << 256) - 1)),
    lambda children: st.lists(children, max_size=5),
    max_leaves=12,
)


def _encode(item: _RlpItem) -> bytes:
    """The fast encoders composed over a nested item, as serialize composes them over its fields."""
    if isinstance(item, list):
        return _rlp_list([_encode(child) for child in item])
    if isinstance(item, int):
        return _rlp_uint(item)
    return _rlp_string(item)


@settings(max_examples=200, deadline=None)
@given(transactions())
def test_signed_hash_equals_generic_eip712(tx: Eip712Transaction) -> None:
    signable = encode_typed_data(full_message=tx.typed_data())
    assert tx.signed_hash() == keccak(b"\x19" + signable.version + signable.header + signable.body)


@settings(max_examples=200, deadline=None)
@given(transactions())
def test_serialize_equals_rlp_package(tx: Eip712Transaction) -> None:
    assert tx.serialize() == b"\x71" + rlp.encode(tx._rlp_items())


@settings(max_examples=300, deadline=None)
@given(_rlp_items)
def test_rlp_encoders_equal_rlp_package(item: _RlpItem) -> None:
    assert _encode(item) == rlp.encode(item)


def test_long_lengths() -> None:
    # The multi-byte length prefixes (>= 56 bytes, >= 256 bytes, long lists) of a large custom signature.
    for size in (55, 56, 255, 256, 70_000):
        assert _encode(b"\x01" * size) == rlp.encode(b"\x01" * size)
        assert _encode([b"\x01" * size]) == rlp.encode([b"\x01" * size])


@settings(max_examples=100, deadline=None)
@given(transactions(), st.binary(max_size=300))
def test_replacing_the_signature_equals_dataclasses_replace(tx: Eip712Transaction, signature: bytes) -> None:
    import dataclasses

    fast = tx.replace(custom_signature=signature)
    assert fast == dataclasses.replace(tx, custom_signature=signature)
    assert type(fast) is Eip712Transaction
    # A signer serialises with its signature without the copy: the same bytes.
    assert tx.serialize(custom_signature=signature) == fast.serialize()
    assert tx.serialize(custom_signature=bytearray(signature)) == fast.serialize()  # type: ignore[arg-type]
    assert fast.serialize() == dataclasses.replace(tx, custom_signature=signature).serialize()
    assert tx.replace(custom_signature=bytearray(signature)).custom_signature == signature  # copied to bytes
    with raises_rule(ErrorCode.INVALID_FIELD_TYPE):
        tx.replace(custom_signature="0x00")
