"""ERC-7739 digests and wrapping, cross-checked against viem 2.30.0's implementation run in node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account._utils.encode_typed_data.encoding_and_hashing import hash_type
from eth_utils.crypto import keccak

from sso_signer.exceptions import ErrorCode
from sso_signer.sso import (
    AccountDomain,
    eip191_hash,
    personal_sign_hash,
    typed_data_sign_hash,
    wrap_typed_data_signature,
)
from sso_signer.sso._erc7739 import PERSONAL_SIGN_TYPEHASH, _typed_data_sign_types
from tests.errors import raises_rule

ACCOUNT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAINS = [
    AccountDomain.era(ACCOUNT, 260),
    AccountDomain.erc4337(ACCOUNT, 31337),
    AccountDomain.era(ACCOUNT, 300),
]
MESSAGES: list[bytes | str] = ["hello world", "", "héllo ✓ passkeys", b"\x00\x01\xff" * 40, "0x1234"]

MAIL: dict[str, Any] = {
    "domain": {
        "name": "Ether Mail",
        "version": "1",
        "chainId": 1,
        "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
    },
    "types": {
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [
            {"name": "from", "type": "Person"},
            {"name": "to", "type": "Person"},
            {"name": "contents", "type": "string"},
        ],
    },
    "primaryType": "Mail",
    "message": {
        "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
        "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
        "contents": "Hello, Bob!",
    },
}
PERMIT: dict[str, Any] = {
    "domain": {"name": "Token", "version": "2", "chainId": 260, "salt": "0x" + "ab" * 32},
    "types": {
        "Permit": [
            {"name": "owner", "type": "address"},
            {"name": "spender", "type": "address"},
            {"name": "value", "type": "uint256"},
            {"name": "nonce", "type": "uint256"},
            {"name": "deadline", "type": "uint256"},
            {"name": "tags", "type": "bytes32[]"},
            {"name": "memo", "type": "bytes"},
        ]
    },
    "primaryType": "Permit",
    "message": {
        "owner": ACCOUNT,
        "spender": "0x1111111111111111111111111111111111111111",
        "value": 10**18,
        "nonce": 7,
        "deadline": 2**40,
        "tags": ["0x" + "01" * 32, "0x" + "02" * 32],
        "memo": "0xdeadbeef",
    },
}
GROUP: dict[str, Any] = {
    "domain": {"name": "Groups", "chainId": 300, "verifyingContract": "0x" + "dd" * 20},
    "types": {
        "Member": [{"name": "who", "type": "address"}, {"name": "weight", "type": "uint16"}],
        "Group": [
            {"name": "members", "type": "Member[]"},
            {"name": "tags", "type": "string[]"},
            {"name": "root", "type": "bytes32"},
            {"name": "open", "type": "bool"},
            {"name": "delta", "type": "int64"},
        ],
    },
    "primaryType": "Group",
    "message": {
        "members": [{"who": "0x" + "01" * 20, "weight": 3}, {"who": "0x" + "02" * 20, "weight": 65535}],
        "tags": ["a", "", "ünïcode"],
        "root": "0x" + "ee" * 32,
        "open": True,
        "delta": -5,
    },
}
TYPED = [MAIL, PERMIT, GROUP]
SIGNATURE = bytes(range(200))


def _domain_json(domain: AccountDomain) -> dict[str, Any]:
    return {
        "name": domain.name,
        "version": domain.version,
        "chainId": domain.chain_id,
        "verifyingContract": domain.verifying_contract,
        "salt": "0x" + domain.salt.hex(),
    }


def _message_json(message: bytes | str) -> Any:
    return {"raw": "0x" + message.hex()} if isinstance(message, bytes) else message


@pytest.fixture(scope="module")
def viem(peer: Callable[..., list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    personal = [
        {"kind": "personal", "message": _message_json(m), "verifierDomain": _domain_json(d)}
        for d in DOMAINS
        for m in MESSAGES
    ]
    typed = [
        {
            "kind": "typed",
            "typedData": t,
            "verifierDomain": _domain_json(d),
            "signature": "0x" + SIGNATURE.hex(),
        }
        for d in DOMAINS
        for t in TYPED
    ]
    answer = peer("viem_erc7739.mjs", personal + typed, needs=("viem",))
    return {"personal": answer[: len(personal)], "typed": answer[len(personal) :]}


@pytest.mark.node_peer
def test_personal_sign_hash_equals_viem(viem: dict[str, list[dict[str, Any]]]) -> None:
    got = ["0x" + personal_sign_hash(m, d).hex() for d in DOMAINS for m in MESSAGES]
    assert got == [item["hash"] for item in viem["personal"]]
    assert len(set(got)) == len(got)


@pytest.mark.node_peer
def test_typed_data_sign_hash_equals_viem(viem: dict[str, list[dict[str, Any]]]) -> None:
    got = ["0x" + typed_data_sign_hash(t, d).hex() for d in DOMAINS for t in TYPED]
    assert got == [item["hash"] for item in viem["typed"]]


@pytest.mark.node_peer
def test_wrapped_signature_equals_viem(viem: dict[str, list[dict[str, Any]]]) -> None:
    got = ["0x" + wrap_typed_data_signature(SIGNATURE, t).hex() for _ in DOMAINS for t in TYPED]
    assert got == [item["wrapped"] for item in viem["typed"]]


ORDER: dict[str, Any] = {
    "domain": {"name": "Shop", "version": "1", "chainId": 31337},
    "types": {
        "Order": [{"name": "id", "type": "uint256"}, {"name": "to", "type": "Address"}],
        "Address": [{"name": "wallet", "type": "address"}],
    },
    "primaryType": "Order",
    "message": {"id": 8, "to": {"wallet": "0x1111111111111111111111111111111111111111"}},
}
_TYPED_DATA_SIGN_FIELDS = (
    " contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)"
)


def _account_typehash(wrapped: bytes) -> bytes:
    """The TypedDataSign typehash an ERC-7739 account (solady ERC1271) rebuilds from the suffix: implicit
    mode when the description ends with ")", else explicit (``contentsType ‖ contentsName``)."""
    length = int.from_bytes(wrapped[-2:], "big")
    description = wrapped[-2 - length : -2].decode()
    if description.endswith(")"):
        name, contents_type = description[: description.index("(")], description
    else:
        cut = description.rindex(")") + 1
        name, contents_type = description[cut:], description[:cut]
    return keccak(text="TypedDataSign(" + name + _TYPED_DATA_SIGN_FIELDS + contents_type)


def test_the_account_rebuilds_the_typehash_the_digest_used() -> None:
    """EIP-712 sorts the structs after TypedDataSign's own fields by name: a struct that sorts before the
    contents (Address < Order) comes first, which implicit mode (viem's) cannot say; the suffix is then
    explicit. The digest stays viem's, which the account verifies."""
    for typed in (*TYPED, ORDER):
        nested = _typed_data_sign_types(typed["types"], typed["primaryType"])
        wrapped = wrap_typed_data_signature(SIGNATURE, typed)
        assert _account_typehash(wrapped) == bytes(hash_type("TypedDataSign", nested)), typed["primaryType"]
    explicit = b"Address(address wallet)Order(uint256 id,Address to)Order"
    assert wrap_typed_data_signature(SIGNATURE, ORDER)[-2 - len(explicit) : -2] == explicit


def test_wrapped_signature_layout() -> None:
    wrapped = wrap_typed_data_signature(SIGNATURE, MAIL)
    contents_type = b"Mail(Person from,Person to,string contents)Person(string name,address wallet)"
    assert wrapped[: len(SIGNATURE)] == SIGNATURE
    assert wrapped[-2:] == len(contents_type).to_bytes(2, "big")
    assert wrapped[-2 - len(contents_type) : -2] == contents_type
    assert len(wrapped) == len(SIGNATURE) + 64 + len(contents_type) + 2


def test_constants_and_eip191() -> None:
    assert PERSONAL_SIGN_TYPEHASH.hex() == "983e65e5148e570cd828ead231ee759a8d7958721a768f93bc4483ba005c32de"
    assert eip191_hash("abc") == keccak(b"\x19Ethereum Signed Message:\n3abc")
    assert AccountDomain.era(ACCOUNT, 1).name == "SSO1271"
    assert AccountDomain.erc4337(ACCOUNT, 1).name == "zksync-sso-1271"


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {**MAIL, "primaryType": "Nope"},
        {**MAIL, "message": {"from": {"name": "Cow", "wallet": "not an address"}}},
        {**MAIL, "domain": {"name": "x", "colour": "red"}},
        {**MAIL, "primaryType": "TypedDataSign", "types": {"TypedDataSign": []}},
    ],
)
def test_malformed_typed_data_is_rejected(bad: dict[str, Any]) -> None:
    with raises_rule(ErrorCode.INVALID_TYPED_DATA):
        typed_data_sign_hash(bad, DOMAINS[0])
