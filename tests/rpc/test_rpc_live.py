"""The Ethereum clients against a real anvil chain (sync and async): reads, sends, deploys, reverts."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from sso_signer.exceptions import (
    ExecutionReverted,
    InvalidRpcParams,
    ReceiptTimeout,
    TransactionRejected,
    TransactionReverted,
)
from sso_signer.node import AnvilNode
from sso_signer.rpc import AsyncEthClient, EthClient, SendStatus
from sso_signer.rpc._revert import RevertKind
from tests.rpc.contracts import (
    error_string,
    initcode_for,
    logging_runtime,
    panic,
    returning_runtime,
    reverting_runtime,
)

pytestmark = pytest.mark.chain


def test_chain_id_and_balance(anvil: AnvilNode) -> None:
    eth = anvil.eth
    assert eth.chain_id() == 31337 == anvil.chain_id
    assert eth.get_balance(anvil.accounts[0].address) > 0
    assert eth.get_balance(Account.create().address) == 0


def test_send_value_moves_exactly_value_plus_fee(anvil: AnvilNode) -> None:
    eth = anvil.eth
    sender, recipient = anvil.accounts[1], Account.create().address
    before = eth.get_balance(sender.address)
    receipt = eth.send_transaction(sender, recipient, value=12345)
    assert receipt.success
    assert receipt.to == recipient
    assert receipt.from_address == sender.address
    assert eth.get_balance(recipient) == 12345
    assert receipt.effective_gas_price is not None
    assert eth.get_balance(sender.address) == before - 12345 - receipt.gas_used * receipt.effective_gas_price
    # The node's hash is keccak of the signed bytes, which we computed locally too.
    tx = eth.get_transaction(receipt.transaction_hash)
    assert tx is not None
    assert tx["hash"] == "0x" + receipt.transaction_hash.hex()


def test_deploy_and_call(anvil: AnvilNode, deploy: Callable[[bytes], str]) -> None:
    payload = keccak(b"sso-signer")
    address = deploy(returning_runtime(payload))
    assert anvil.eth.get_code(address) == returning_runtime(payload)
    assert anvil.eth.call({"to": address, "data": b"\x01\x02"}) == payload


def test_call_revert_reasons_are_decoded(anvil: AnvilNode, deploy: Callable[[bytes], str]) -> None:
    cases = [
        (error_string("boom"), RevertKind.ERROR, "boom", None),
        (panic(0x11), RevertKind.PANIC, None, 0x11),
        (bytes.fromhex("deadbeef") + b"\x00" * 31 + b"\x07", RevertKind.CUSTOM, None, None),
        (b"", RevertKind.EMPTY, None, None),
    ]
    for data, kind, reason, code in cases:
        address = deploy(reverting_runtime(data))
        with pytest.raises(ExecutionReverted) as info:
            anvil.eth.call({"to": address})
        revert = info.value.revert
        assert revert is not None, data
        assert (revert.kind, revert.reason, revert.panic_code, revert.raw) == (kind, reason, code, data)


def test_estimate_revert_means_nothing_sent(anvil: AnvilNode, deploy: Callable[[bytes], str]) -> None:
    address = deploy(reverting_runtime(error_string("no estimate")))
    sender = anvil.accounts[2]
    nonce = anvil.eth.get_transaction_count(sender.address)
    with pytest.raises(ExecutionReverted, match="no estimate"):
        anvil.eth.send_transaction(sender, address)
    assert anvil.eth.get_transaction_count(sender.address) == nonce


def test_mined_revert_reports_receipt_and_reason(anvil: AnvilNode, deploy: Callable[[bytes], str]) -> None:
    address = deploy(reverting_runtime(error_string("mined and failed")))
    with pytest.raises(TransactionReverted) as info:
        anvil.eth.send_transaction(anvil.accounts[2], address, gas=60_000)
    err = info.value
    assert err.receipt.status == 0
    assert err.receipt.to == address
    assert err.revert is not None
    assert err.revert.reason == "mined and failed"


def test_rejected_raw_transaction_is_not_sent(anvil: AnvilNode) -> None:
    eth = anvil.eth
    poor = Account.create()  # no funds: the node must refuse
    raw = poor.sign_transaction(
        {
            "type": 2,
            "chainId": anvil.chain_id,
            "nonce": 0,
            "to": poor.address,
            "value": 1,
            "gas": 21000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 1,
        }
    ).raw_transaction
    outcome = eth.try_send_raw_transaction(raw)
    assert outcome.status is SendStatus.NOT_SENT
    assert isinstance(outcome.error, TransactionRejected)
    with pytest.raises(TransactionRejected):
        eth.send_raw_transaction(raw)


def test_resending_same_bytes_is_reported_sent(anvil: AnvilNode) -> None:
    eth = anvil.eth
    sender = anvil.accounts[3]
    raw = sender.sign_transaction(
        {
            "type": 2,
            "chainId": anvil.chain_id,
            "nonce": eth.get_transaction_count(sender.address, "pending"),
            "to": sender.address,
            "value": 0,
            "gas": 21000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 1,
        }
    ).raw_transaction
    first = eth.send_raw_transaction(raw)
    assert first == keccak(raw)
    assert eth.wait_for_receipt(first).success
    # Mined already: the node rejects the repeat (nonce too low), and the look-up finds these very bytes on
    # chain: the transaction is in the node, so the truthful status is SENT (nothing new was added).
    again = eth.try_send_raw_transaction(raw)
    assert again.status is SendStatus.SENT
    assert again.tx_hash == first


def test_wait_for_unknown_receipt_times_out(anvil: AnvilNode) -> None:
    missing = keccak(b"never sent")
    with pytest.raises(ReceiptTimeout) as info:
        anvil.eth.wait_for_receipt(missing, timeout=0.3)
    assert info.value.tx_hash == missing


def test_bad_params_are_typed(anvil: AnvilNode) -> None:
    with pytest.raises(InvalidRpcParams):
        anvil.eth.get_balance("0x1234")
    with pytest.raises(InvalidRpcParams):
        anvil.eth.call({"to": anvil.accounts[0].address, "colour": "blue"})
    with pytest.raises(InvalidRpcParams):
        anvil.eth.get_balance(anvil.accounts[0].address, block="tomorrow")


def test_separate_client_shares_nothing(anvil: AnvilNode) -> None:
    with EthClient(anvil.url) as eth:
        assert eth.block_number() == anvil.eth.block_number()


async def test_async_client_full_flow(anvil: AnvilNode) -> None:
    async with AsyncEthClient(anvil.url) as eth:
        assert await eth.chain_id() == anvil.chain_id
        sender = anvil.accounts[4]
        recipient = Account.create().address
        receipt = await eth.send_transaction(sender, recipient, value=7)
        assert receipt.success
        assert await eth.get_balance(recipient) == 7
        address, deployed = await eth.deploy_contract(sender, initcode_for(reverting_runtime(panic(0x01))))
        assert deployed.contract_address == address
        with pytest.raises(ExecutionReverted) as info:
            await eth.call({"to": address})
        assert info.value.revert is not None
        assert info.value.revert.panic_code == 0x01
        with pytest.raises(TransactionReverted) as mined:
            await eth.send_transaction(sender, address, gas=50_000)
        assert mined.value.revert is not None
        assert mined.value.revert.kind is RevertKind.PANIC


class _LoseFirstSendAnswer(httpx.BaseTransport):
    """Forwards to the real node, but drops the node's answer to the first eth_sendRawTransaction."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.dropped = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not self.dropped and b"eth_sendRawTransaction" in request.content:
            response.read()
            self.dropped = True
            raise httpx.ReadTimeout("answer lost on the way back", request=request)
        return response


class _AsyncLoseFirstSendAnswer(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.dropped = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not self.dropped and b"eth_sendRawTransaction" in request.content:
            await response.aread()
            self.dropped = True
            raise httpx.ReadTimeout("answer lost on the way back", request=request)
        return response


def _signed_self_transfer(anvil: AnvilNode, index: int, nonce: int) -> bytes:
    return bytes(
        anvil.accounts[index]
        .sign_transaction(
            {
                "type": 2,
                "chainId": anvil.chain_id,
                "nonce": nonce,
                "to": anvil.accounts[index].address,
                "value": 1,
                "gas": 21000,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 1,
            }
        )
        .raw_transaction
    )


def test_lost_answer_to_a_delivered_send_is_found_sent(anvil: AnvilNode) -> None:
    # The first send reaches anvil and is mined; only its answer is lost. The re-send of the same bytes is
    # refused (nonce too low); the client looks the hash up and reports the truth: sent.
    transport = _LoseFirstSendAnswer()
    with EthClient(anvil.url, transport=transport) as eth:
        raw = _signed_self_transfer(anvil, 6, eth.get_transaction_count(anvil.accounts[6].address, "pending"))
        outcome = eth.try_send_raw_transaction(raw)
    assert transport.dropped
    assert outcome.status is SendStatus.SENT
    assert outcome.tx_hash == keccak(raw)
    receipt = anvil.eth.wait_for_receipt(keccak(raw))
    assert receipt.success


async def test_async_lost_answer_to_a_delivered_send_is_found_sent(anvil: AnvilNode) -> None:
    transport = _AsyncLoseFirstSendAnswer()
    async with AsyncEthClient(anvil.url, transport=transport) as eth:
        nonce = await eth.get_transaction_count(anvil.accounts[6].address, "pending")
        raw = _signed_self_transfer(anvil, 6, nonce)
        tx_hash = await eth.send_raw_transaction(raw)
        assert transport.dropped
        assert tx_hash == keccak(raw)
        assert (await eth.wait_for_receipt(tx_hash)).success


def test_logs_in_receipt_and_get_logs(anvil: AnvilNode, deploy: Callable[[bytes], str]) -> None:
    topic = keccak(text="Ping()")
    address = deploy(logging_runtime(topic))
    receipt = anvil.eth.send_transaction(anvil.accounts[2], address, data=b"")
    assert [(log.address, log.topics) for log in receipt.logs] == [(address, (topic,))]
    logs = anvil.eth.get_logs(
        address, [topic], from_block=receipt.block_number, to_block=receipt.block_number
    )
    assert len(logs) == 1
    assert logs[0].transaction_hash == receipt.transaction_hash
    assert anvil.eth.get_logs(address, [keccak(text="Other()")]) == ()
    with pytest.raises(InvalidRpcParams):
        anvil.eth.get_logs(address, [b"short"])


def test_impersonation_sends_without_a_key(anvil: AnvilNode) -> None:
    stranger = Account.create().address
    anvil.set_balance(stranger, 10**18)
    anvil.impersonate(stranger)
    try:
        tx_hash = bytes.fromhex(
            anvil.eth.rpc.request(
                "eth_sendTransaction", [{"from": stranger, "to": stranger, "value": "0x1"}]
            )[2:]
        )
        receipt = anvil.eth.wait_for_receipt(tx_hash)
        assert receipt.from_address == stranger
    finally:
        anvil.stop_impersonating(stranger)


class _Recorder(httpx.BaseTransport):
    """Forwards every request to the real node and records the JSON bodies (observation only)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.bodies: list[Any] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return self.inner.handle_request(request)


def test_send_transaction_fills_in_one_batched_round_trip(anvil: AnvilNode) -> None:
    recorder = _Recorder()
    with EthClient(anvil.url, transport=recorder) as eth:
        receipt = eth.send_transaction(anvil.accounts[7], Account.create().address, value=1)
    assert receipt.success
    first, second = recorder.bodies[0], recorder.bodies[1]
    assert isinstance(first, list)
    assert [c["method"] for c in first] == [
        "eth_chainId",
        "eth_getTransactionCount",
        "eth_getBlockByNumber",
        "eth_maxPriorityFeePerGas",
        "eth_gasPrice",
        "eth_estimateGas",
    ]
    assert second["method"] == "eth_sendRawTransaction"
    # Then only receipt polls (more than one when the node mines a moment after accepting).
    polls = [b["method"] for b in recorder.bodies[2:]]
    assert polls
    assert set(polls) == {"eth_getTransactionReceipt"}


class _CountingProxy:
    """A TCP forwarder in front of the real node that counts the connections clients open."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.close()


async def test_connections_are_reused(anvil: AnvilNode) -> None:
    proxy = _CountingProxy(anvil.port)
    try:
        url = f"http://127.0.0.1:{proxy.port}"
        with EthClient(url) as eth:
            for _ in range(20):
                assert eth.chain_id() == anvil.chain_id
        assert proxy.accepted == 1
        async with AsyncEthClient(url) as aeth:
            for _ in range(20):
                assert await aeth.block_number() >= 0
        assert proxy.accepted == 2
    finally:
        proxy.close()
