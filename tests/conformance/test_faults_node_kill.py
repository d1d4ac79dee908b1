"""RPC faults with a real node: anvil SIGKILLed while a send is in flight, then a new node on the same port.

The client talks to anvil through a small TCP/HTTP relay in this test (a stand-in for the load balancer or
gateway in front of a real node). The relay only forwards bytes; on the first ``eth_sendRawTransaction`` it
SIGKILLs the anvil process, either before forwarding (the node never saw the transaction) or after the node
answered (the node executed it, the answer is lost). From the client's side both look the same, so the only
truthful outcome is UNKNOWN with the hash to look up. Checked: the account signs once per intent; the raw
bytes it reports are what the dead node saw; after a restart the hash is looked up and the same bytes are
re-sent (never re-signed) and mined. Without the relay, a node that is down before the send is NOT_SENT.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from unittest import mock

import pytest
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr

from sso_signer.exceptions import ErrorCode
from sso_signer.node import AnvilNode
from sso_signer.rpc import AsyncEthClient, EthClient, RetryPolicy, SendStatus
from tests.conformance.relay import KillingRelay, running_relay
from tests.errors import raises_rule
from tests.needs import started_anvil

pytestmark = pytest.mark.chain

RECIPIENT = "0x000000000000000000000000000000000000dEaD"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def first_node(port: int) -> Iterator[AnvilNode]:
    with started_anvil(hardfork="osaka", port=port) as node:
        yield node


@pytest.fixture
def relay(port: int) -> Iterator[KillingRelay]:
    with running_relay(port) as server:
        yield server


def _funded_account(node: AnvilNode) -> LocalAccount:
    # A dev account: a restarted anvil funds it again, so the same signed bytes are valid on the new node.
    return node.accounts[3]


def _restart(port: int) -> AnvilNode:
    # The killed node's listening socket must be gone before a new node can bind the same port.
    _wait_refused(port)
    return AnvilNode(hardfork="osaka", port=port).start()


def _client(url: str) -> EthClient:
    # Short backoff: the test waits for nothing but the dead node's refusals.
    return EthClient(url, timeout=5.0, retry=RetryPolicy(attempts=3, backoff=0.05, max_backoff=0.1))


@pytest.mark.parametrize("mode", ["before", "after"])
def test_node_killed_mid_send_is_unknown_then_resent_not_resigned(
    first_node: AnvilNode, relay: KillingRelay, port: int, mode: str
) -> None:
    account = _funded_account(first_node)
    client = _client(relay.url)
    relay.victim_pid = first_node.pid
    relay.kill_mode = mode
    signer = mock.patch.object(account, "sign_transaction", wraps=account.sign_transaction)
    with signer as spy, raises_rule(ErrorCode.SEND_OUTCOME_UNKNOWN) as caught:
        client.send_transaction(account, RECIPIENT, value=12345)
    assert spy.call_count == 1  # one intent, one signature, whatever the retries did
    unknown = caught.value
    assert unknown.tx_hash is not None
    assert unknown.raw_transaction is not None
    assert len(unknown.tx_hash) == 32
    assert relay.sends_seen, "the send reached the relay"
    if mode == "after":
        # The dead node had accepted the transaction under exactly the hash the client reports.
        assert relay.node_answers
        assert ("0x" + unknown.tx_hash.hex()).encode() in relay.node_answers[0]
    assert ("0x" + unknown.raw_transaction.hex()).encode() in relay.sends_seen[0]
    assert first_node.pid is not None
    assert _dead(first_node.pid)

    second = _restart(port)
    try:
        # The new node never saw it (its chain started empty): the look-up says so...
        assert client.get_transaction(unknown.tx_hash) is None
        assert client.get_transaction_count(account.address) == 0
        # ...so the same bytes are re-sent: no new signature, same hash, mined once.
        outcome = client.try_send_raw_transaction(unknown.raw_transaction)
        assert outcome.status is SendStatus.SENT
        assert outcome.tx_hash == unknown.tx_hash
        receipt = client.wait_for_receipt(unknown.tx_hash, timeout=30)
        assert receipt.status == 1
        assert client.get_transaction_count(account.address) == 1
        # Re-sending once more is harmless: the node knows the bytes (or the nonce is used) -> still SENT.
        again = client.try_send_raw_transaction(unknown.raw_transaction)
        assert again.status is SendStatus.SENT
        assert again.tx_hash == unknown.tx_hash
        assert client.get_transaction_count(account.address) == 1
    finally:
        second.stop()


def _wait_refused(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.01)
    raise AssertionError(f"port {port} still accepts connections after SIGKILL")


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); its state is in /proc.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] == "Z"
    except OSError:
        return True


def test_node_down_before_the_send_is_not_sent(first_node: AnvilNode, port: int) -> None:
    account = _funded_account(first_node)
    client = _client(first_node.url)
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": first_node.chain_id,
            "nonce": 0,
            "to": HexStr(RECIPIENT),
            "value": 1,
            "gas": 21000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    raw = bytes(signed.raw_transaction)
    assert first_node.pid is not None
    os.kill(first_node.pid, signal.SIGKILL)
    # SIGKILL is asynchronous: until the kernel has closed the dying node's listening socket, a connection
    # can still be accepted and then reset, which is rightly UNKNOWN. This case is about a node that is down.
    _wait_refused(port)
    outcome = client.try_send_raw_transaction(raw)
    # Connection refused: the bytes never left this machine, so "not sent" is certain.
    assert outcome.status is SendStatus.NOT_SENT
    assert outcome.tx_hash == bytes(signed.hash)
    second = _restart(port)
    try:
        sent = client.try_send_raw_transaction(raw)
        assert sent.status is SendStatus.SENT
        assert client.wait_for_receipt(bytes(signed.hash), timeout=30).status == 1
    finally:
        second.stop()


async def test_async_client_node_killed_after_the_send_is_unknown(
    first_node: AnvilNode, relay: KillingRelay, port: int
) -> None:
    account = _funded_account(first_node)
    relay.victim_pid = first_node.pid
    relay.kill_mode = "after"
    client = AsyncEthClient(
        relay.url, timeout=5.0, retry=RetryPolicy(attempts=3, backoff=0.05, max_backoff=0.1)
    )
    try:
        with (
            mock.patch.object(account, "sign_transaction", wraps=account.sign_transaction) as spy,
            raises_rule(ErrorCode.SEND_OUTCOME_UNKNOWN) as caught,
        ):
            await client.send_transaction(account, RECIPIENT, value=1)
        assert spy.call_count == 1
        assert caught.value.tx_hash is not None
        assert caught.value.raw_transaction is not None
        assert ("0x" + caught.value.tx_hash.hex()).encode() in relay.node_answers[0]
        second = _restart(port)
        try:
            outcome = await client.try_send_raw_transaction(caught.value.raw_transaction)
            assert outcome.status is SendStatus.SENT
            assert (await client.wait_for_receipt(caught.value.tx_hash, timeout=30)).status == 1
        finally:
            second.stop()
    finally:
        await client.aclose()
