"""Cross-checks against running peers: zksync-ethers (node) and zksync2 (Python), on a seeded corpus.

The node peer runs once per session with the whole corpus on stdin; every test below reads its answer.
"""

from __future__ import annotations

import json
import pathlib
import random
import shutil
import subprocess
from typing import Any

import pytest

from sso_signer.zksync import Eip712Transaction
from sso_signer.zksync._bytecode import bytecode_hash
from sso_signer.zksync._create2 import create2_address, create_address
from sso_signer.zksync._transaction import EIP712_TRANSACTION_TYPES

from .strategies import peer_corpus

ROOT = pathlib.Path(__file__).resolve().parents[2]
PEER = ROOT / "tests" / "peers" / "zksync_ethers_eip712.mjs"
CORPUS_SIZE = 256


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _tx_json(tx: Eip712Transaction) -> dict[str, Any]:
    pm = tx.paymaster_params
    return {
        "chainId": str(tx.chain_id),
        "nonce": str(tx.nonce),
        "from": tx.from_address,
        "to": tx.to,
        "value": str(tx.value),
        "data": _hex(tx.data),
        "gasLimit": str(tx.gas_limit),
        "maxFeePerGas": str(tx.max_fee_per_gas),
        "maxPriorityFeePerGas": str(tx.max_priority_fee_per_gas),
        "gasPerPubdata": str(tx.gas_per_pubdata),
        "factoryDeps": [_hex(d) for d in tx.factory_deps],
        "customSignature": _hex(tx.custom_signature),
        "paymaster": None
        if pm is None
        else {"paymaster": pm.paymaster, "paymasterInput": _hex(pm.paymaster_input)},
    }


def _create2_cases(rng: random.Random, count: int) -> list[dict[str, str]]:
    cases = []
    for _ in range(count):
        code = rng.randbytes(32 * (2 * rng.randint(0, 4) + 1))
        cases.append(
            {
                "sender": _hex(rng.randbytes(20)),
                "bytecodeHash": _hex(bytecode_hash(code)),
                "salt": _hex(rng.randbytes(32)),
                "input": _hex(rng.randbytes(rng.choice([0, 32, 64, 100]))),
            }
        )
    return cases


@pytest.fixture(scope="session")
def corpus() -> list[Eip712Transaction]:
    return peer_corpus(CORPUS_SIZE)


@pytest.fixture(scope="session")
def peer_io(corpus: list[Eip712Transaction]) -> tuple[dict[str, Any], dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not on PATH: the zksync-ethers peer cannot run")
    if not (ROOT / "node_modules" / "zksync-ethers" / "package.json").is_file():
        pytest.skip("node_modules/zksync-ethers missing: run scripts/bootstrap.sh node")
    rng = random.Random(0x2020)
    request = {
        "txs": [_tx_json(tx) for tx in corpus],
        "bytecodes": [_hex(rng.randbytes(32 * (2 * rng.randint(0, 40) + 1))) for _ in range(64)]
        + [_hex(b"\x00" * 32), _hex(b"\xff" * 32 * 65535)],
        "create2": _create2_cases(rng, 64),
        "create": [{"sender": _hex(rng.randbytes(20)), "nonce": str(rng.getrandbits(64))} for _ in range(32)]
        + [{"sender": _hex(rng.randbytes(20)), "nonce": "0"}],
    }
    done = subprocess.run(
        [node, str(PEER)],
        input=json.dumps(request).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    answer: dict[str, Any] = json.loads(done.stdout)
    return request, answer


@pytest.mark.node_peer
def test_signed_hash_matches_zksync_ethers(
    corpus: list[Eip712Transaction], peer_io: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    _, answer = peer_io
    assert len(answer["txs"]) == len(corpus) == CORPUS_SIZE
    mismatches = [i for i, tx in enumerate(corpus) if _hex(tx.signed_hash()) != answer["txs"][i]["digest"]]
    assert mismatches == []


@pytest.mark.node_peer
def test_serialisation_matches_zksync_ethers(
    corpus: list[Eip712Transaction], peer_io: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    _, answer = peer_io
    mismatches = [i for i, tx in enumerate(corpus) if _hex(tx.serialize()) != answer["txs"][i]["serialized"]]
    assert mismatches == []
    # The peer's bytes parse back to our model unchanged.
    assert [Eip712Transaction.parse(bytes.fromhex(a["serialized"][2:])) for a in answer["txs"]] == corpus


@pytest.mark.node_peer
def test_zksync_ethers_reads_our_bytes_back(
    corpus: list[Eip712Transaction], peer_io: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, answer = peer_io
    for sent, got in zip(request["txs"], answer["txs"], strict=True):
        assert got["reparsed"] == sent


@pytest.mark.node_peer
def test_transaction_hash_matches_zksync_ethers(
    corpus: list[Eip712Transaction], peer_io: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    _, answer = peer_io
    signed = [(tx, a["hash"]) for tx, a in zip(corpus, answer["txs"], strict=True) if tx.custom_signature]
    assert len(signed) > CORPUS_SIZE // 2
    assert [_hex(tx.transaction_hash()) for tx, _ in signed] == [h for _, h in signed]


@pytest.mark.node_peer
def test_rpc_request_matches_zksync_ethers_provider(
    corpus: list[Eip712Transaction], peer_io: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    _, answer = peer_io

    def normalised(request: dict[str, Any]) -> dict[str, Any]:
        # zksync-ethers pads gasPerPubdata to whole bytes ("0x02"); we send the canonical quantity, as viem
        # does ("0x2"). Both parse to the same U256 on the node; compare the numbers.
        meta = dict(request["eip712Meta"], gasPerPubdata=int(request["eip712Meta"]["gasPerPubdata"], 16))
        return dict(request, eip712Meta=meta)

    ours = [normalised(tx.to_rpc_request()) for tx in corpus]
    assert [i for i, a in enumerate(answer["txs"]) if ours[i] != normalised(a["rpc"])] == []
    assert all(tx.to_rpc_request()["eip712Meta"]["gasPerPubdata"] == hex(tx.gas_per_pubdata) for tx in corpus)
    assert any("paymasterParams" in a["rpc"]["eip712Meta"] for a in answer["txs"])
    assert any("factoryDeps" in a["rpc"]["eip712Meta"] for a in answer["txs"])


@pytest.mark.node_peer
def test_type_string_matches_zksync_ethers_eip712_types(
    peer_io: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, answer = peer_io
    fields = ",".join(f"{f['type']} {f['name']}" for f in EIP712_TRANSACTION_TYPES["Transaction"])
    assert answer["transactionType"] == f"Transaction({fields})"


@pytest.mark.node_peer
def test_bytecode_hash_matches_zksync_ethers(peer_io: tuple[dict[str, Any], dict[str, Any]]) -> None:
    request, answer = peer_io
    ours = [_hex(bytecode_hash(bytes.fromhex(code[2:]))) for code in request["bytecodes"]]
    assert ours == answer["bytecodeHashes"]


@pytest.mark.node_peer
def test_create2_and_create_match_zksync_ethers(peer_io: tuple[dict[str, Any], dict[str, Any]]) -> None:
    request, answer = peer_io
    ours2 = [
        create2_address(
            c["sender"],
            bytes.fromhex(c["bytecodeHash"][2:]),
            bytes.fromhex(c["salt"][2:]),
            bytes.fromhex(c["input"][2:]),
        )
        for c in request["create2"]
    ]
    assert ours2 == answer["create2"]
    ours1 = [create_address(c["sender"], int(c["nonce"])) for c in request["create"]]
    assert ours1 == answer["create"]


# -- zksync2 (Python, test-only) --


def _zksync2_tx(tx: Eip712Transaction) -> Any:
    zk_types = pytest.importorskip("zksync2.core.types", reason="zksync2 (dev extra) not installed")
    zk_request = pytest.importorskip(
        "zksync2.module.request_types", reason="zksync2 (dev extra) not installed"
    )
    zk_tx = pytest.importorskip(
        "zksync2.transaction.transaction712", reason="zksync2 (dev extra) not installed"
    )
    pm = tx.paymaster_params
    meta = zk_request.EIP712Meta(
        gas_per_pub_data=tx.gas_per_pubdata,
        custom_signature=tx.custom_signature,
        factory_deps=list(tx.factory_deps) or None,
        paymaster_params=None if pm is None else zk_types.PaymasterParams(pm.paymaster, pm.paymaster_input),
    )
    return zk_tx.Transaction712(
        chain_id=tx.chain_id,
        nonce=tx.nonce,
        gas_limit=tx.gas_limit,
        to=tx.to,
        value=tx.value,
        data=tx.data,
        maxPriorityFeePerGas=tx.max_priority_fee_per_gas,
        maxFeePerGas=tx.max_fee_per_gas,
        from_=tx.from_address,
        meta=meta,
    )


def test_signed_hash_and_serialisation_match_zksync2(corpus: list[Eip712Transaction]) -> None:
    eip712 = pytest.importorskip("zksync2.eip712", reason="zksync2 (dev extra) not installed")
    from eth_utils.crypto import keccak

    for tx in corpus:
        peer = _zksync2_tx(tx)
        domain = eip712.make_domain(name="zkSync", version="2", chainId=tx.chain_id)
        assert tx.signed_hash() == keccak(peer.to_eip712_struct().signable_bytes(domain))
        assert tx.serialize() == peer.encode()


def test_zero_priority_fee_matches_zksync2(corpus: list[Eip712Transaction]) -> None:
    # zksync-ethers cannot express a zero priority fee; zksync2 keeps it, as the vectors and the node do.
    eip712 = pytest.importorskip("zksync2.eip712", reason="zksync2 (dev extra) not installed")
    from eth_utils.crypto import keccak

    for tx in corpus[:32]:
        zero = tx.replace(max_priority_fee_per_gas=0)
        peer = _zksync2_tx(zero)
        domain = eip712.make_domain(name="zkSync", version="2", chainId=tx.chain_id)
        assert zero.signed_hash() == keccak(peer.to_eip712_struct().signable_bytes(domain))
        assert zero.signed_hash() != tx.signed_hash()
        assert zero.serialize() == peer.encode()
