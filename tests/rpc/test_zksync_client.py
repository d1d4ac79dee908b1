"""ZkSyncClient / AsyncZkSyncClient: request encoding, live behaviour, faults; anvil-zksync when present.

The ``zks_`` answers are only checked against a real anvil-zksync (skipped here when the binary is absent);
against plain anvil the same client must still do every ``eth_`` thing and report ``zks_`` as the node's
own "method not found" error. Malformed ``zks_`` answers are injected through the transport (faults only).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest
from eth_account import Account

from sso_signer.exceptions import ErrorCode, InvalidRpcParams
from sso_signer.node import AnvilNode, AnvilZkSyncNode
from sso_signer.rpc import RetryPolicy
from sso_signer.rpc._types import encode_tx_request
from sso_signer.zksync import Eip712Transaction, PaymasterParams
from sso_signer.zksync._client import AsyncZkSyncClient, ZkSyncClient
from sso_signer.zksync._paymaster import general_paymaster_input
from tests.errors import raises_rule

SENDER = "0x36615Cf349d7F6344891B1e7CA7C72883F5dc049"


def _tx(**changes: object) -> Eip712Transaction:
    tx = Eip712Transaction(
        chain_id=260,
        nonce=3,
        from_address=SENDER,
        to="0x" + "ab" * 20,
        value=5,
        data=b"\x12\x34",
        gas_limit=1_000_000,
        max_fee_per_gas=250_000_000,
        max_priority_fee_per_gas=1,
        custom_signature=b"\x01\x02\x03",
        paymaster_params=PaymasterParams("0x" + "cd" * 20, general_paymaster_input()),
    )
    return tx.replace(**changes) if changes else tx


def test_eip712_request_passes_through_unchanged() -> None:
    request = _tx().to_rpc_request()
    encoded = encode_tx_request(request)
    assert encoded["eip712Meta"] == request["eip712Meta"]  # byte arrays stay arrays of numbers
    assert encoded["type"] == "0x71"
    assert encoded["data"] == "0x1234"
    assert encoded["gas"] == hex(1_000_000)
    assert encoded["from"].lower() == SENDER.lower()


def test_eip712_meta_from_python_values() -> None:
    encoded = encode_tx_request(
        {
            "from": SENDER,
            "eip712Meta": {
                "gasPerPubdata": 50_000,
                "customSignature": b"\xff\x00",
                "factoryDeps": [b"\x00" * 32],
                "paymasterParams": {"paymaster": "0x" + "cd" * 20, "paymasterInput": "0x8c5a3445"},
            },
        }
    )
    meta = encoded["eip712Meta"]
    assert meta["gasPerPubdata"] == hex(50_000)
    assert meta["customSignature"] == [255, 0]
    assert meta["factoryDeps"] == [[0] * 32]
    assert meta["paymasterParams"]["paymasterInput"] == [0x8C, 0x5A, 0x34, 0x45]


@pytest.mark.parametrize(
    "meta",
    [
        {"gasPerPubdata": -1},
        {"gasPerPubdata": "0x0012"},  # non-canonical quantity
        {"customSignature": [256]},
        {"factoryDeps": b"\x00"},
        {"paymasterParams": {"paymaster": "0x12", "paymasterInput": b""}},
        {"colour": "blue"},
    ],
)
def test_bad_eip712_meta_is_typed(meta: dict[str, object]) -> None:
    with pytest.raises(InvalidRpcParams):
        encode_tx_request({"from": SENDER, "eip712Meta": meta})


def test_send_eip712_rejects_non_0x71_bytes() -> None:
    client = ZkSyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    with pytest.raises(InvalidRpcParams):
        client.send_eip712(b"\x02\xc0")


@pytest.fixture(scope="module")
def plain_anvil() -> Iterator[AnvilNode]:
    with AnvilNode() as node:
        yield node


@pytest.mark.chain
def test_zksync_client_on_plain_anvil(plain_anvil: AnvilNode) -> None:
    with ZkSyncClient(plain_anvil.url, retry=RetryPolicy(attempts=1)) as client:
        # Every eth_ method works ...
        recipient = Account.create().address
        receipt = client.send_transaction(plain_anvil.accounts[5], recipient, value=3)
        assert receipt.success
        assert client.get_balance(recipient) == 3
        # ... and zks_ methods surface the node's own refusal, typed, with its code.
        with raises_rule(ErrorCode.RPC_ERROR) as info:
            client.l1_chain_id()
        assert info.value.method == "zks_L1ChainId"
        assert info.value.code == -32601


@pytest.mark.chain
async def test_async_zksync_client_on_plain_anvil(plain_anvil: AnvilNode) -> None:
    async with AsyncZkSyncClient(plain_anvil.url, retry=RetryPolicy(attempts=1)) as client:
        assert await client.chain_id() == 31337
        with raises_rule(ErrorCode.RPC_ERROR):
            await client.get_main_contract()


def _fault(result: object) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(200, json={"jsonrpc": "2.0", "id": _id(request), "result": result})
    )


def _id(request: httpx.Request) -> int:
    import json

    return int(json.loads(request.content)["id"])


def test_malformed_zks_answers_are_typed() -> None:
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
        ZkSyncClient(transport=_fault([1, 300])).get_bytecode_by_hash(b"\x00" * 32)
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
        ZkSyncClient(transport=_fault({"gas_limit": 5})).estimate_fee({"from": SENDER})
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
        ZkSyncClient(transport=_fault({"status": 1})).get_transaction_details(b"\x00" * 32)
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
        ZkSyncClient(transport=_fault("0x1234")).get_main_contract()


@pytest.mark.anvil_zksync
def test_against_anvil_zksync() -> None:
    if shutil.which("anvil-zksync") is None:
        pytest.skip("anvil-zksync not on PATH: it is not installable from any registry reachable here")
    with AnvilZkSyncNode() as node, ZkSyncClient(node.url) as client:
        assert client.chain_id() == 260
        assert client.l1_chain_id() > 0
        assert client.get_main_contract().startswith("0x")
        sender = node.accounts[0]
        receipt = client.send_transaction(sender, Account.create().address, value=1)
        details = client.get_transaction_details(receipt.transaction_hash)
        assert details is not None
        assert details.initiator_address == sender.address
        assert details.status in {"included", "verified", "pending"}
        fee = client.estimate_fee({"from": sender.address, "to": sender.address, "value": 1})
        assert fee.gas_limit > 0
