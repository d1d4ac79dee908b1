"""After a transaction has left, every error says so and carries its hash and signed bytes; and no call
outlives its overall deadline, however slowly the server drips its answer.

A real threaded HTTP server on 127.0.0.1 (``tests.rpc.fault_server``) stands in front of a real anvil and
spoils only the answers named in each test; the hash and the bytes asserted are the ones anvil holds.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from sso_signer._shell import drive
from sso_signer.accounts import EraAccount, EraNetwork
from sso_signer.exceptions import (
    AfterSendError,
    ErrorCode,
    InvalidRpcParams,
    ReceiptTimeout,
    SendOutcomeUnknown,
    SsoSignerError,
    TransactionReverted,
)
from sso_signer.node import AnvilNode
from sso_signer.rpc import AsyncEthClient, AsyncJsonRpcClient, EthClient, JsonRpcClient, RetryPolicy
from sso_signer.rpc._core import RpcCall
from sso_signer.rpc._eth import _EthMethods
from sso_signer.webauthn import HeadlessPasskey
from sso_signer.zksync import AsyncZkSyncClient, Eip712Transaction, ZkSyncClient
from tests.errors import raises_rule
from tests.rpc.contracts import error_string, initcode_for, reverting_runtime
from tests.rpc.fault_server import (
    DRIP,
    FaultServer,
    Stopwatch,
    fault_server,
    garbage,
    rpc_error,
    too_deep,
    wrong_shape,
)
from tests.rpc.test_rpc_faults import kind

__all__ = ["kind"]

pytestmark = pytest.mark.chain

RECEIPT_FAULTS = {
    "garbage": garbage,
    "rpc-error": rpc_error,
    "wrong-shape": wrong_shape,
    "too-deep": too_deep,
}
# Slack on top of a deadline: a liveness bound, not a timing benchmark.
SLACK = 2.0


async def _call(target: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    result = getattr(target, name)(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


def _eth(kind: str, url: str, **options: Any) -> Any:
    return EthClient(url, **options) if kind == "sync" else AsyncEthClient(url, **options)


async def _close(client: Any) -> None:
    await _call(client, "close" if hasattr(client, "close") else "aclose")


def _fresh_account(anvil: AnvilNode) -> Any:
    # One funded account per test: nonces never collide with the other tests of the session.
    account = Account.create()
    anvil.set_balance(account.address, 10**18)
    return account


def _someone(anvil: AnvilNode) -> str:
    return str(anvil.accounts[0].address)


def _rpc(kind: str, url: str, **options: Any) -> Any:
    return JsonRpcClient(url, **options) if kind == "sync" else AsyncJsonRpcClient(url, **options)


def _assert_known_to_anvil(anvil: AnvilNode, error: AfterSendError) -> None:
    assert error.sent is True
    assert error.tx_hash is not None
    assert error.raw_transaction is not None
    assert keccak(error.raw_transaction) == error.tx_hash
    held = anvil.eth.rpc.request("eth_getRawTransactionByHash", ["0x" + error.tx_hash.hex()])
    assert bytes.fromhex(held[2:]) == error.raw_transaction
    assert anvil.eth.get_transaction_receipt(error.tx_hash) is not None


@pytest.mark.parametrize("fault", list(RECEIPT_FAULTS))
async def test_eoa_send_then_spoiled_receipt_names_the_sent_transaction(
    anvil: AnvilNode, kind: str, fault: str
) -> None:
    account = _fresh_account(anvil)
    with fault_server(anvil.url, {"eth_getTransactionReceipt": RECEIPT_FAULTS[fault]}) as server:
        eth = _eth(kind, server.url)
        try:
            with raises_rule(ErrorCode.SEND_OUTCOME_UNKNOWN) as caught:
                await _call(eth, "send_transaction", account, to=_someone(anvil), value=1, timeout=5)
        finally:
            await _close(eth)
    error = caught.value
    _assert_known_to_anvil(anvil, error)
    sent = server.sent("eth_sendRawTransaction")
    assert [bytes.fromhex(p[0][2:]) for p in sent] == [error.raw_transaction]
    assert error.__cause__ is not None  # what went wrong with the receipt is kept


async def test_deploy_then_spoiled_receipt_names_the_sent_transaction(anvil: AnvilNode, kind: str) -> None:
    account = _fresh_account(anvil)
    with fault_server(anvil.url, {"eth_getTransactionReceipt": rpc_error}) as server:
        eth = _eth(kind, server.url)
        try:
            with raises_rule(ErrorCode.SEND_OUTCOME_UNKNOWN) as caught:
                await _call(eth, "deploy_contract", account, initcode_for(reverting_runtime(b"")), timeout=5)
        finally:
            await _close(eth)
    _assert_known_to_anvil(anvil, caught.value)


async def test_reverted_receipt_whose_replay_fails_is_still_a_known_revert(
    anvil: AnvilNode, kind: str, deploy: Any
) -> None:
    target = deploy(reverting_runtime(error_string("no")))
    account = _fresh_account(anvil)
    # The receipt is genuine (status 0); the look-up used to explain the revert is spoiled.
    with fault_server(anvil.url, {"eth_getTransactionByHash": garbage}) as server:
        eth = _eth(kind, server.url)
        try:
            with pytest.raises(TransactionReverted) as caught:
                await _call(eth, "send_transaction", account, to=target, gas=100_000, timeout=5)
        finally:
            await _close(eth)
    error = caught.value
    assert error.revert is None
    assert error.receipt.status == 0
    _assert_known_to_anvil(anvil, error)


# -- Era 0x71 sends (plain anvil refuses them: the server accepts them as an Era node would) ---------------

ERA_HASH = keccak(b"the hash an Era node reported")


def _era_transaction() -> Eip712Transaction:
    return Eip712Transaction(
        chain_id=260,
        nonce=0,
        from_address="0x" + "11" * 20,
        to="0x" + "22" * 20,
        gas_limit=1_000_000,
        max_fee_per_gas=10**8,
        max_priority_fee_per_gas=0,
        custom_signature=b"\x01" * 65,
    )


@pytest.mark.parametrize("fault", list(RECEIPT_FAULTS))
async def test_era_send_then_spoiled_receipt_names_the_sent_transaction(kind: str, fault: str) -> None:
    raw = _era_transaction().serialize()
    answers = {"eth_sendRawTransaction": "0x" + ERA_HASH.hex()}
    with fault_server(None, {"eth_getTransactionReceipt": RECEIPT_FAULTS[fault]}, answers=answers) as server:
        zk = ZkSyncClient(server.url) if kind == "sync" else AsyncZkSyncClient(server.url)
        try:
            with raises_rule(ErrorCode.SEND_OUTCOME_UNKNOWN) as caught:
                await _call(zk, "send_eip712", raw, timeout=5)
        finally:
            await _close(zk)
    error = caught.value
    assert error.sent is True
    assert error.tx_hash == ERA_HASH
    assert error.raw_transaction == raw
    assert [bytes.fromhex(p[0][2:]) for p in server.sent("eth_sendRawTransaction")] == [raw]


def test_era_account_send_then_spoiled_receipt_names_the_sent_transaction() -> None:
    transaction = _era_transaction()
    answers = {"eth_sendRawTransaction": "0x" + ERA_HASH.hex()}
    network = EraNetwork(name="t", chain_id=transaction.chain_id, passkey_validator="0x" + "11" * 20)
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost")
    with (
        fault_server(None, {"eth_getTransactionReceipt": wrong_shape}, answers=answers) as server,
        ZkSyncClient(server.url) as zk,
        raises_rule(ErrorCode.SEND_OUTCOME_UNKNOWN) as caught,
    ):
        EraAccount(zk, network, transaction.from_address, passkey).send_transaction(transaction, timeout=5)
    assert caught.value.tx_hash == ERA_HASH
    assert caught.value.raw_transaction == transaction.serialize()


# -- deadlines -----------------------------------------------------------------------------------------------


async def test_a_dripped_answer_cannot_outlive_the_deadline(kind: str) -> None:
    with fault_server(None, {"eth_chainId": DRIP}) as server:
        options: dict[str, Any] = {"timeout": 1.0, "retry": RetryPolicy(attempts=2, backoff=0.1)}
        rpc = _rpc(kind, server.url, **options)
        clock = Stopwatch()
        try:
            with raises_rule(ErrorCode.RPC_TIMEOUT) as caught:
                await _call(rpc, "request", "eth_chainId")
        finally:
            await _close(rpc)
    # Default deadline: two attempts of 1 s plus the back-off between them.
    assert clock.elapsed < 2.1 + SLACK
    assert "deadline" in str(caught.value)


async def test_an_explicit_deadline_is_enforced(kind: str) -> None:
    with fault_server(None, {"eth_chainId": DRIP}) as server:
        options: dict[str, Any] = {"timeout": 5.0, "deadline": 1.0}
        rpc = _rpc(kind, server.url, **options)
        clock = Stopwatch()
        try:
            with raises_rule(ErrorCode.RPC_TIMEOUT):
                await _call(rpc, "request", "eth_chainId")
        finally:
            await _close(rpc)
    assert clock.elapsed < 1.0 + SLACK


async def _dripped_transfer(
    anvil: AnvilNode, kind: str, method: str, client_timeout: float, wait: float
) -> tuple[AfterSendError, float, FaultServer]:
    """A transfer whose ``method`` answers drip; the error it ends with, the seconds it took, the server."""
    account = _fresh_account(anvil)
    with fault_server(anvil.url, {method: DRIP}) as server:
        eth = _eth(kind, server.url, timeout=client_timeout)
        clock = Stopwatch()
        try:
            with pytest.raises(AfterSendError) as caught:
                await _call(eth, "send_transaction", account, to=_someone(anvil), value=1, timeout=wait)
        finally:
            await _close(eth)
    return caught.value, clock.elapsed, server


async def test_a_dripped_send_answer_is_bounded_and_keeps_the_bytes(anvil: AnvilNode, kind: str) -> None:
    error, elapsed, server = await _dripped_transfer(anvil, kind, "eth_sendRawTransaction", 1.0, 5)
    # Three tries of the same bytes, each bounded by its 1 s deadline, 0.3 s of back-off.
    assert elapsed < 3.3 + SLACK
    assert isinstance(error, SendOutcomeUnknown)
    assert error.sent is True
    assert error.raw_transaction is not None
    sent = [bytes.fromhex(p[0][2:]) for p in server.sent("eth_sendRawTransaction")]
    assert sent
    assert set(sent) == {error.raw_transaction}
    assert error.tx_hash == keccak(error.raw_transaction)


async def test_a_dripped_receipt_ends_the_wait_on_time(anvil: AnvilNode, kind: str) -> None:
    error, elapsed, _ = await _dripped_transfer(anvil, kind, "eth_getTransactionReceipt", 10.0, 2)
    # The wait's own 2 s bound each poll too: one dripping poll may not run the 10 s per-read timeout.
    assert elapsed < 2.0 + 1.0 + SLACK
    assert isinstance(error, ReceiptTimeout)
    _assert_known_to_anvil(anvil, error)


def test_the_sent_family_is_one_except_clause() -> None:
    for cls in (SendOutcomeUnknown, ReceiptTimeout, TransactionReverted):
        assert issubclass(cls, AfterSendError)
        assert issubclass(cls, SsoSignerError)


# -- interrupts and cancellation: never swallowed, never without the hash ------------------------------------


def test_an_interrupt_after_the_send_propagates_with_the_hash(anvil: AnvilNode) -> None:
    account = _fresh_account(anvil)

    def handle(step: Any) -> Any:
        if isinstance(step, RpcCall) and step.method == "eth_getTransactionReceipt":
            raise KeyboardInterrupt  # the user presses Ctrl-C while the client waits
        return anvil.eth.answer(step)

    flow = _EthMethods.send_transaction.flow(anvil.eth, account, to=_someone(anvil), value=1)
    with pytest.raises(KeyboardInterrupt) as caught:
        drive(flow, handle)
    notes = getattr(caught.value, "__notes__", [])
    tx_hash = _only_transaction_of(anvil, account)
    assert any("0x" + tx_hash.hex() in note and "had been sent" in note for note in notes), notes


async def test_a_cancellation_after_the_send_propagates_with_the_hash(anvil: AnvilNode) -> None:
    account = _fresh_account(anvil)
    with fault_server(anvil.url, {"eth_getTransactionReceipt": DRIP}) as server:
        async with AsyncEthClient(server.url) as eth:
            task = asyncio.create_task(eth.send_transaction(account, to=_someone(anvil), value=1, timeout=30))
            while not server.sent("eth_getTransactionReceipt"):
                await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError) as caught:
                await task
    tx_hash = keccak(bytes.fromhex(server.sent("eth_sendRawTransaction")[0][0][2:]))
    notes = getattr(caught.value, "__notes__", [])
    assert any("0x" + tx_hash.hex() in note for note in notes), notes


def _only_transaction_of(anvil: AnvilNode, account: Any) -> bytes:
    """The hash of the one transaction ``account`` sent (read from the block that mined it)."""
    # Anvil's automine can answer the send just before the block exists: give it a few seconds.
    give_up = time.monotonic() + 10
    while True:
        latest = anvil.eth.block_number()
        for number in range(latest, -1, -1):
            block = anvil.eth.get_block(number, full_transactions=True)
            assert block is not None
            for tx in block["transactions"]:
                if tx["from"].lower() == account.address.lower():
                    return bytes.fromhex(tx["hash"][2:])
        if time.monotonic() > give_up:
            raise AssertionError("the transaction is not on chain")
        time.sleep(0.1)


# -- deadline settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1.0, "soon", True, float("nan")])
def test_a_deadline_is_seconds_auto_or_none(bad: object) -> None:
    with pytest.raises(InvalidRpcParams, match="deadline"):
        JsonRpcClient("http://127.0.0.1:1", deadline=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidRpcParams, match="deadline"):
        AsyncJsonRpcClient("http://127.0.0.1:1", deadline=bad)  # type: ignore[arg-type]


def test_the_default_deadline_is_each_attempt_plus_the_back_off() -> None:
    policy = RetryPolicy(attempts=3, backoff=0.1, multiplier=2.0)
    assert policy.deadline(10.0, 3) == pytest.approx(30.3)
    assert policy.deadline(10.0, 1) == 10.0


async def test_a_call_deadline_tightens_the_clients(kind: str) -> None:
    with fault_server(None, {"eth_chainId": DRIP}) as server:
        rpc = _rpc(kind, server.url, timeout=10.0)
        clock = Stopwatch()
        try:
            with raises_rule(ErrorCode.RPC_TIMEOUT):
                await _call(rpc, "request", "eth_chainId", deadline=1.0)
        finally:
            await _close(rpc)
    assert clock.elapsed < 1.0 + SLACK
