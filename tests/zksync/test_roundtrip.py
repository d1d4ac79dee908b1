"""Round trips (serialise -> parse -> serialise) and properties of the model, on generated transactions."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from sso_signer.zksync import Eip712Transaction, PaymasterParams
from sso_signer.zksync._bytecode import bytecode_hash
from sso_signer.zksync._create2 import create2_address
from sso_signer.zksync._paymaster import (
    ApprovalBasedFlow,
    GeneralFlow,
    approval_based_paymaster_input,
    decode_paymaster_input,
    general_paymaster_input,
)
from sso_signer.zksync._transaction import EIP712_TX_TYPE

from .strategies import addresses, bytecodes, peer_corpus, transactions, uint256


@settings(max_examples=300, deadline=None)
@given(transactions())
def test_serialise_parse_serialise(tx: Eip712Transaction) -> None:
    raw = tx.serialize()
    assert raw[0] == EIP712_TX_TYPE
    parsed = Eip712Transaction.parse(raw)
    assert parsed == tx
    assert parsed.serialize() == raw
    assert parsed.signed_hash() == tx.signed_hash()


def test_corpus_round_trips() -> None:
    corpus = peer_corpus(256)
    assert len({tx.signed_hash() for tx in corpus}) == len(corpus)
    for tx in corpus:
        raw = tx.serialize()
        assert Eip712Transaction.parse(raw).serialize() == raw


@settings(max_examples=50, deadline=None)
@given(transactions(), st.binary(min_size=1, max_size=200))
def test_signed_hash_ignores_custom_signature(tx: Eip712Transaction, signature: bytes) -> None:
    # The signature is computed over this hash, so the hash cannot depend on it; the wire bytes do.
    signed = tx.replace(custom_signature=signature)
    assert signed.signed_hash() == tx.signed_hash()
    assert (signed.serialize() == tx.serialize()) == (signature == tx.custom_signature)


@settings(max_examples=50, deadline=None)
@given(transactions())
def test_every_hashed_field_changes_the_hash(tx: Eip712Transaction) -> None:
    changes = {
        "chain_id": tx.chain_id % ((1 << 256) - 1) + 1,
        "nonce": tx.nonce ^ 1,
        "value": tx.value ^ 1,
        "gas_limit": tx.gas_limit ^ 1,
        "gas_per_pubdata": tx.gas_per_pubdata ^ 1,
        "data": tx.data + b"\x00",
        "factory_deps": (*tx.factory_deps, b"\x07" * 32),
        # The format hashes "no paymaster" as paymaster 0 with empty input, so that one is changed to another.
        "paymaster_params": PaymasterParams("0x" + "ab" * 20, b"\x01")
        if tx.paymaster_params is None
        or (int(tx.paymaster_params.paymaster, 16) == 0 and not tx.paymaster_params.paymaster_input)
        else None,
    }
    for name, value in changes.items():
        assert tx.replace(**{name: value}).signed_hash() != tx.signed_hash(), name


def test_signed_hash_is_eth_account_typed_data_hash() -> None:
    # typed_data() is what a secp256k1 owner or a wallet signs; eth-account must land on the same digest.
    account = Account.from_key(b"\x01" * 32)
    for tx in peer_corpus(8):
        signed = account.sign_typed_data(full_message=tx.typed_data())
        assert bytes(signed.message_hash) == tx.signed_hash()
        message = encode_typed_data(full_message=tx.typed_data())
        assert Account.recover_message(message, signature=signed.signature) == account.address


def test_replace_checks_again_and_leaves_original() -> None:
    tx = peer_corpus(1)[0]
    with pytest.raises(ValueError, match="nonce"):
        tx.replace(nonce=-1)
    assert tx.nonce >= 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        tx.nonce = 3  # type: ignore[misc]


def test_factory_deps_enter_hash_as_bytecode_hashes() -> None:
    code = b"\x42" * 96
    tx = peer_corpus(1)[0].replace(factory_deps=[code])  # a list is accepted and stored as a tuple
    assert tx.factory_deps == (code,)
    assert tx.factory_dep_hashes == (bytecode_hash(code),)
    assert tx.eip712_message()["factoryDeps"] == ["0x" + bytecode_hash(code).hex()]


@settings(max_examples=100, deadline=None)
@given(bytecodes(max_words=41))
def test_bytecode_hash_layout(code: bytes) -> None:
    digest = bytecode_hash(code)
    assert digest[:2] == b"\x01\x00"
    assert int.from_bytes(digest[2:4], "big") == len(code) // 32
    assert digest[4:] == hashlib.sha256(code).digest()[4:]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100))
def test_general_paymaster_input_layout(inner: bytes) -> None:
    data = general_paymaster_input(inner)
    padded = inner + b"\x00" * (-len(inner) % 32)
    assert (
        data == bytes.fromhex("8c5a3445") + (32).to_bytes(32, "big") + len(inner).to_bytes(32, "big") + padded
    )
    assert decode_paymaster_input(data) == GeneralFlow(inner)


@settings(max_examples=100, deadline=None)
@given(addresses, uint256, st.binary(max_size=100))
def test_approval_based_paymaster_input_layout(token: str, allowance: int, inner: bytes) -> None:
    data = approval_based_paymaster_input(token, allowance, inner)
    padded = inner + b"\x00" * (-len(inner) % 32)
    expected = (
        bytes.fromhex("949431dc")
        + bytes.fromhex(token[2:]).rjust(32, b"\x00")
        + allowance.to_bytes(32, "big")
        + (0x60).to_bytes(32, "big")
        + len(inner).to_bytes(32, "big")
        + padded
    )
    assert data == expected
    assert decode_paymaster_input(data) == ApprovalBasedFlow(token, allowance, inner)


def test_create2_formula() -> None:
    # Spec 2.2, written out: keccak(prefix || pad32(sender) || salt || bytecodeHash || keccak(input))[12:].
    sender = "0x7230ae6D4a2C367ff8493a76c15F8832c62f9fE9"
    code_hash = bytecode_hash(b"\x11" * 32 * 5)
    salt = keccak(b"salt")
    beacon_arg = (0x1234).to_bytes(32, "big")
    preimage = (
        keccak(b"zksyncCreate2")
        + b"\x00" * 12
        + bytes.fromhex(sender[2:])
        + salt
        + code_hash
        + keccak(beacon_arg)
    )
    expected = keccak(preimage)[12:]
    got = create2_address(sender, code_hash, salt, beacon_arg)
    assert bytes.fromhex(got[2:]) == expected
    assert got != got.lower()  # checksummed
    assert create2_address(sender, code_hash, salt, b"") != got
