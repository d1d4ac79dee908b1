"""The official vectors for 0x71 transactions (shared/vectors/sso-era.json), used as they are."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from sso_signer.zksync import Eip712Transaction, PaymasterParams
from sso_signer.zksync._create2 import CREATE2_PREFIX
from sso_signer.zksync._paymaster import general_paymaster_input

VECTORS = pathlib.Path(__file__).resolve().parents[3] / "shared" / "vectors" / "sso-era.json"


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    if not VECTORS.is_file():
        pytest.skip(f"shared vectors not found at {VECTORS} (CI puts ../shared beside the repo)")
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def _vector6_tx(v6: dict[str, Any], custom_signature: bytes) -> Eip712Transaction:
    t = v6["tx"]
    assert t["type"] == "eip712"
    return Eip712Transaction(
        chain_id=t["chainId"],
        nonce=t["nonce"],
        from_address=t["from"],
        to=t["to"],
        value=int(t["value"]),
        data=_hex(t["data"]),
        gas_limit=t["gas"],
        max_fee_per_gas=t["maxFeePerGas"],
        max_priority_fee_per_gas=t["maxPriorityFeePerGas"],
        gas_per_pubdata=t["gasPerPubdata"],
        custom_signature=custom_signature,
    )


def test_vector4_rust_sdk_signed_digest(vectors: dict[str, Any]) -> None:
    v4 = vectors["vector4_rust_sdk_tx_digest"]
    t = v4["tx"]
    assert t["txType"] == 113
    assert t["paymaster"] == 0
    assert t["paymasterInput"] == "0x"
    assert t["factoryDeps"] == []
    tx = Eip712Transaction(
        chain_id=t["chainId"],
        nonce=t["nonce"],
        from_address=t["from"],
        to=t["to"],
        value=int(t["value"]),
        data=_hex(t["data"]),
        gas_limit=t["gasLimit"],
        gas_per_pubdata=t["gasPerPubdataByteLimit"],
        max_fee_per_gas=t["maxFeePerGas"],
        max_priority_fee_per_gas=t["maxPriorityFeePerGas"],
    )
    assert tx.signed_hash() == _hex(v4["expected_digest"])


def test_vector6_signed_hash_and_serialisation(vectors: dict[str, Any]) -> None:
    v6 = vectors["vector6_sdk_run_derived"]
    derived = vectors["vector1_clave_signed_challenge"]["derived"]
    key = next(k for k in derived if k.startswith("fullCustomSignature"))
    tx = _vector6_tx(v6, _hex(derived[key]))
    # The SDK run's "txHash" is the EIP-712 signed hash (the passkey challenge), which ignores the signature.
    assert tx.signed_hash() == _hex(v6["txHash"])
    raw = tx.serialize()
    assert raw == _hex(v6["serialized_with_vector1_customSignature"])
    assert Eip712Transaction.parse(raw) == tx


def test_vector6_with_general_paymaster(vectors: dict[str, Any]) -> None:
    v6 = vectors["vector6_sdk_run_derived"]
    paymaster_input = general_paymaster_input()
    assert paymaster_input == _hex(v6["paymasterInput_general_empty"])
    tx = _vector6_tx(v6, bytes.fromhex("1234")).replace(
        paymaster_params=PaymasterParams(v6["paymaster"], paymaster_input)
    )
    assert tx.signed_hash() == _hex(v6["txHash_with_paymaster"])
    raw = tx.serialize()
    assert raw == _hex(v6["serialized_with_paymaster_customSignature_0x1234"])
    parsed = Eip712Transaction.parse(raw)
    assert parsed == tx
    assert parsed.serialize() == raw


def test_constants_match_vector_constants(vectors: dict[str, Any]) -> None:
    constants = vectors["constants"]
    assert _hex(constants["CREATE2_PREFIX_keccak_zksyncCreate2"]) == CREATE2_PREFIX
    domain = constants["EIP712_DOMAIN"]
    tx = Eip712Transaction(
        chain_id=1,
        nonce=0,
        from_address="0x" + "11" * 20,
        to=None,
        gas_limit=0,
        max_fee_per_gas=0,
        max_priority_fee_per_gas=0,
    )
    typed = tx.typed_data()
    assert typed["domain"]["name"] == domain["name"]
    assert typed["domain"]["version"] == domain["version"]
    fields = ",".join(f"{f['type']} {f['name']}" for f in typed["types"]["Transaction"])
    assert f"Transaction({fields})" == constants["EIP712_TX_TYPEHASH_string"]
    dom_fields = ",".join(f"{f['type']} {f['name']}" for f in typed["types"]["EIP712Domain"])
    assert f"EIP712Domain({dom_fields})" == domain["typeString"]
