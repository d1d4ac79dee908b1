"""Transport and protocol faults, injected through httpx's transport layer, for the sync and async clients.

This is the only place the project uses a mocked transport: each fault (timeouts, 5xx, connection resets,
malformed JSON, a batch with a failed member, a batch answered out of order) is produced by a scripted
``httpx.MockTransport`` so the client's reaction can be checked exactly.
"""

from __future__ import annotations

import inspect
import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from sso_signer.exceptions import (
    ErrorCode,
    ExecutionReverted,
    RpcError,
    RpcHttpStatusError,
    RpcTransportError,
    TransactionRejected,
)
from sso_signer.rpc import (
    AsyncEthClient,
    AsyncJsonRpcClient,
    EthClient,
    JsonRpcClient,
    RetryPolicy,
    SendStatus,
)
from sso_signer.rpc._core import RpcCall
from sso_signer.rpc._revert import RevertKind
from tests.errors import raises_rule
from tests.rpc.contracts import error_string

FAST = RetryPolicy(attempts=3, backoff=0.0)

Reply = httpx.Response | Exception | Callable[[Any], httpx.Response]


class Script:
    """A scripted node: each request takes the next reply (an exception is raised by the transport)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[Any] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if not self.replies:
            raise AssertionError(f"unexpected extra request {body}")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(body)


def ok(result: object) -> Callable[[Any], httpx.Response]:
    """Answer a single request with ``result`` (echoing its id)."""
    return lambda body: httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": result})


def err(code: int, message: str, data: object = None) -> Callable[[Any], httpx.Response]:
    error: dict[str, object] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return lambda body: httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "error": error})


class Driver:
    """Runs the same test against the sync or the async client."""

    def __init__(self, kind: str, script: Script, retry: RetryPolicy = FAST) -> None:
        transport = httpx.MockTransport(script)
        self.kind = kind
        if kind == "sync":
            self.rpc: Any = JsonRpcClient(transport=transport, retry=retry)
            self.eth: Any = EthClient(rpc=self.rpc)
        else:
            self.rpc = AsyncJsonRpcClient(transport=transport, retry=retry)
            self.eth = AsyncEthClient(rpc=self.rpc)

    async def call(self, target: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(target, name)(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    async def request(self, method: str, params: Any = (), **kwargs: Any) -> Any:
        return await self.call(self.rpc, "request", method, params, **kwargs)

    async def batch(self, calls: Any, **kwargs: Any) -> Any:
        return await self.call(self.rpc, "batch", calls, **kwargs)

    async def eth_call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return await self.call(self.eth, name, *args, **kwargs)


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _raw_eip1559() -> bytes:
    account = Account.from_key(b"\x01" * 32)
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": 31337,
            "nonce": 0,
            "to": account.address,
            "value": 0,
            "gas": 21000,
            "maxFeePerGas": 10**9,
            "maxPriorityFeePerGas": 1,
        }
    )
    return bytes(signed.raw_transaction)


# -- timeouts ---------------------------------------------------------------------------------------------


async def test_timeout_is_retried_then_succeeds(kind: str) -> None:
    script = Script(httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow"), ok("0x7a69"))
    assert await Driver(kind, script).request("eth_chainId") == "0x7a69"
    assert len(script.requests) == 3
    assert len({r["id"] for r in script.requests}) == 3  # a fresh id per attempt


async def test_timeout_exhausts_retries(kind: str) -> None:
    script = Script(*[httpx.ReadTimeout("slow")] * 3)
    with raises_rule(ErrorCode.RPC_TIMEOUT) as info:
        await Driver(kind, script).request("eth_blockNumber")
    assert info.value.attempts == 3
    assert info.value.maybe_delivered


async def test_non_idempotent_method_is_not_retried(kind: str) -> None:
    script = Script(httpx.ReadTimeout("slow"))
    with raises_rule(ErrorCode.RPC_TIMEOUT) as info:
        await Driver(kind, script).request("evm_mine")
    assert info.value.attempts == 1
    assert len(script.requests) == 1


class _RawServer:
    """A real TCP server on 127.0.0.1 that misbehaves: ``silent`` never answers, ``reset`` hangs up."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.mode == "reset":
                conn.recv(65536)
                # SO_LINGER 0: close with a TCP RST, as a crashed peer or a proxy does.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                self._held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


async def test_real_socket_timeout(kind: str) -> None:
    server = _RawServer("silent")
    try:
        started = time.monotonic()
        client: Any
        if kind == "sync":
            with (
                JsonRpcClient(server.url, timeout=0.2, retry=FAST) as client,
                raises_rule(ErrorCode.RPC_TIMEOUT) as info,
            ):
                client.request("eth_chainId")
        else:
            async with AsyncJsonRpcClient(server.url, timeout=0.2, retry=FAST) as client:
                with raises_rule(ErrorCode.RPC_TIMEOUT) as info:
                    await client.request("eth_chainId")
        assert info.value.attempts == 3
        assert 0.55 < time.monotonic() - started < 3
    finally:
        server.close()


async def test_real_socket_reset(kind: str) -> None:
    server = _RawServer("reset")
    try:
        driver_rpc: Any
        if kind == "sync":
            with (
                JsonRpcClient(server.url, retry=FAST) as driver_rpc,
                raises_rule(ErrorCode.RPC_CONNECTION) as info,
            ):
                driver_rpc.request("eth_chainId")
        else:
            async with AsyncJsonRpcClient(server.url, retry=FAST) as driver_rpc:
                with raises_rule(ErrorCode.RPC_CONNECTION) as info:
                    await driver_rpc.request("eth_chainId")
        assert info.value.maybe_delivered
        assert server.accepted == 3
    finally:
        server.close()


async def test_real_connection_refused(kind: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, never listening: connections are refused
        client: Any
        if kind == "sync":
            with JsonRpcClient(url, retry=FAST) as client, raises_rule(ErrorCode.RPC_CONNECTION) as info:
                client.request("eth_chainId")
        else:
            async with AsyncJsonRpcClient(url, retry=FAST) as client:
                with raises_rule(ErrorCode.RPC_CONNECTION) as info:
                    await client.request("eth_chainId")
    assert not info.value.maybe_delivered


# -- HTTP 5xx ---------------------------------------------------------------------------------------------


async def test_503_is_retried(kind: str) -> None:
    script = Script(httpx.Response(503, text="busy"), httpx.Response(502), ok("0x10"))
    assert await Driver(kind, script).request("eth_getBalance", ["0x" + "11" * 20, "latest"]) == "0x10"
    assert len(script.requests) == 3


async def test_5xx_exhausted_carries_status(kind: str) -> None:
    script = Script(*[httpx.Response(503, text="<html>down</html>")] * 3)
    with pytest.raises(RpcHttpStatusError) as info:
        await Driver(kind, script).request("eth_chainId")
    assert info.value.status_code == 503
    assert info.value.attempts == 3


async def test_500_with_jsonrpc_error_body_is_the_node_error(kind: str) -> None:
    def answer(body: Any) -> httpx.Response:
        error = {"code": -32000, "message": "header not found"}
        return httpx.Response(500, json={"jsonrpc": "2.0", "id": body["id"], "error": error})

    script = Script(answer)
    with raises_rule(ErrorCode.RPC_ERROR) as info:
        await Driver(kind, script).request("eth_getBlockByNumber", ["0x99", False])
    assert (info.value.code, info.value.rpc_message) == (-32000, "header not found")
    assert info.value.message == "header not found"
    assert len(script.requests) == 1  # a node's verdict is not retried


async def test_4xx_is_not_retried(kind: str) -> None:
    script = Script(httpx.Response(401, text="unauthorized"))
    with pytest.raises(RpcHttpStatusError) as info:
        await Driver(kind, script).request("eth_chainId")
    assert info.value.status_code == 401
    assert len(script.requests) == 1


# -- connection resets ------------------------------------------------------------------------------------


async def test_connection_reset_is_retried(kind: str) -> None:
    script = Script(
        httpx.ReadError("Connection reset by peer"), httpx.RemoteProtocolError("closed"), ok("0x1")
    )
    assert await Driver(kind, script).request("eth_blockNumber") == "0x1"


async def test_connection_refused_is_never_delivered(kind: str) -> None:
    script = Script(*[httpx.ConnectError("refused")] * 3)
    with raises_rule(ErrorCode.RPC_CONNECTION) as info:
        await Driver(kind, script).request("eth_chainId")
    assert info.value.attempts == 3
    assert not info.value.maybe_delivered


# -- malformed answers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'"just a string"',
        b'{"jsonrpc":"2.0","id":1}',  # neither result nor error
        b'[{"jsonrpc":"2.0","id":1,"result":"0x1"}]',  # a batch for a single request
    ],
)
async def test_malformed_answers(kind: str, body: bytes) -> None:
    script = Script(httpx.Response(200, content=body))
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
        await Driver(kind, script).request("eth_chainId")
    assert len(script.requests) == 1


async def test_answer_with_wrong_id_is_malformed(kind: str) -> None:
    script = Script(
        lambda body: httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"] + 7, "result": 1})
    )
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE, match="id"):
        await Driver(kind, script).request("eth_chainId")


async def test_retry_carries_fresh_ids_and_refuses_a_stale_answer(kind: str) -> None:
    script = Script(httpx.ReadError("reset"), ok("0x1"))
    assert await Driver(kind, script).request("eth_chainId") == "0x1"
    first, second = script.requests
    assert first["id"] != second["id"]
    # A late answer to the lost first attempt must not be taken for the answer to the retry.
    script = Script(
        httpx.ReadError("reset"),
        lambda body: httpx.Response(
            200, json={"jsonrpc": "2.0", "id": script.requests[0]["id"], "result": "0x1"}
        ),
    )
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE, match="answer id"):
        await Driver(kind, script).request("eth_chainId")
    assert len(script.requests) == 2


async def test_batch_retry_carries_fresh_ids(kind: str) -> None:
    script = Script(httpx.ReadError("reset"), _batch_reply(lambda members: list(reversed(members))))
    calls = [RpcCall("eth_echo", (f"0x{i}",)) for i in range(3)]
    assert await Driver(kind, script).batch(calls, retry=True) == ["0x0", "0x1", "0x2"]
    first, second = ([member["id"] for member in body] for body in script.requests)
    assert set(first).isdisjoint(second)


async def test_wrong_result_type_is_malformed(kind: str) -> None:
    script = Script(ok(12345))  # a JSON number where a hex quantity is due
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE, match="eth_chainId"):
        await Driver(kind, script).eth_call("chain_id")


# -- batches ----------------------------------------------------------------------------------------------


def _batch_reply(transform: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> Callable[[Any], Any]:
    def answer(body: Any) -> httpx.Response:
        members = []
        for req in body:
            if req["method"] == "eth_fail":
                members.append(
                    {"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": "nope"}}
                )
            else:
                members.append({"jsonrpc": "2.0", "id": req["id"], "result": req["params"][0]})
        return httpx.Response(200, json=transform(members))

    return answer


async def test_batch_answered_out_of_order(kind: str) -> None:
    script = Script(_batch_reply(lambda members: list(reversed(members))))
    calls = [RpcCall("eth_echo", (f"0x{i}",)) for i in range(5)]
    assert await Driver(kind, script).batch(calls) == ["0x0", "0x1", "0x2", "0x3", "0x4"]
    assert len(script.requests) == 1
    assert len(script.requests[0]) == 5


async def test_batch_with_one_failed_member(kind: str) -> None:
    calls = [("eth_echo", ["a"]), ("eth_fail", ["b"]), ("eth_echo", ["c"])]
    driver = Driver(kind, Script(_batch_reply(lambda m: m), _batch_reply(lambda m: m)))
    results = await driver.batch(calls, return_errors=True)
    assert results[0] == "a"
    assert results[2] == "c"
    assert isinstance(results[1], RpcError)
    assert results[1].code == -32601
    assert results[1].method == "eth_fail"
    with raises_rule(ErrorCode.RPC_ERROR, match="nope"):
        await driver.batch(calls)


async def test_batch_missing_member(kind: str) -> None:
    script = Script(_batch_reply(lambda members: members[:-1]))
    with raises_rule(ErrorCode.BATCH_RESPONSE_MISMATCH, match="no answer"):
        await Driver(kind, script).batch([("eth_echo", ["a"]), ("eth_echo", ["b"])])


async def test_batch_duplicate_member(kind: str) -> None:
    script = Script(_batch_reply(lambda members: [*members, members[0]]))
    with raises_rule(ErrorCode.BATCH_RESPONSE_MISMATCH, match="two answers"):
        await Driver(kind, script).batch([("eth_echo", ["a"]), ("eth_echo", ["b"])])


async def test_batch_rejected_as_a_whole(kind: str) -> None:
    error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batches not supported"}}
    script = Script(httpx.Response(200, json=error))
    with raises_rule(ErrorCode.RPC_ERROR, match="batches not supported"):
        await Driver(kind, script).batch([("eth_echo", ["a"])])


async def test_batch_retried_on_reset_when_all_idempotent(kind: str) -> None:
    script = Script(httpx.ReadError("reset"), _batch_reply(lambda m: m))
    assert await Driver(kind, script).batch([("eth_getBalance", ["0x1"]), ("eth_chainId", ["0x2"])]) == [
        "0x1",
        "0x2",
    ]
    script = Script(httpx.ReadError("reset"))
    with raises_rule(ErrorCode.RPC_CONNECTION):
        await Driver(kind, script).batch([("eth_getBalance", ["0x1"]), ("evm_mine", ["0x2"])])


# -- sending: sent / not sent / unknown ---------------------------------------------------------------------


async def test_send_lost_after_delivery_is_unknown_with_local_hash(kind: str) -> None:
    raw = _raw_eip1559()
    script = Script(*[httpx.ReadTimeout("lost")] * 3)
    driver = Driver(kind, script)
    with raises_rule(ErrorCode.SEND_OUTCOME_UNKNOWN) as info:
        await driver.eth_call("send_raw_transaction", raw)
    assert info.value.tx_hash == keccak(raw)
    assert info.value.raw_transaction == raw
    # Every attempt re-sent exactly the same bytes (the client never re-signs).
    assert {r["params"][0] for r in script.requests} == {"0x" + raw.hex()}


async def test_send_retry_that_finds_tx_already_known_is_sent(kind: str) -> None:
    raw = _raw_eip1559()
    script = Script(httpx.ReadTimeout("lost"), err(-32000, "already known"))
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.SENT
    assert outcome.tx_hash == keccak(raw)


async def test_send_refused_connection_is_not_sent(kind: str) -> None:
    raw = _raw_eip1559()
    script = Script(*[httpx.ConnectError("refused")] * 3)
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.NOT_SENT
    assert isinstance(outcome.error, RpcTransportError)


async def test_send_rejected_by_node_is_not_sent(kind: str) -> None:
    raw = _raw_eip1559()
    script = Script(err(-32003, "insufficient funds for gas * price + value"))
    with pytest.raises(TransactionRejected, match="insufficient funds"):
        await Driver(kind, script).eth_call("send_raw_transaction", raw)


async def test_send_of_era_tx_unknown_has_no_local_hash(kind: str) -> None:
    raw = bytes([0x71]) + b"\xc0"  # the type byte decides; the client never parses the body
    script = Script(*[httpx.ReadError("reset")] * 3)
    with raises_rule(ErrorCode.SEND_OUTCOME_UNKNOWN) as info:
        await Driver(kind, script).eth_call("send_raw_transaction", raw)
    assert info.value.tx_hash is None
    assert info.value.raw_transaction == raw


async def test_send_garbled_answer_is_unknown(kind: str) -> None:
    raw = _raw_eip1559()
    script = Script(httpx.Response(200, content=b"<html>proxy error</html>"))
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.UNKNOWN
    assert outcome.tx_hash == keccak(raw)


# -- revert data in error objects -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "0x" + error_string("nested").hex(),
        {"data": "0x" + error_string("nested").hex()},
        {"message": "x", "data": {"data": "0x" + error_string("nested").hex()}},
    ],
)
async def test_revert_data_shapes(kind: str, data: object) -> None:
    script = Script(err(3, "execution reverted", data))
    with pytest.raises(ExecutionReverted) as info:
        await Driver(kind, script).eth_call("call", {"to": "0x" + "22" * 20})
    assert info.value.revert is not None
    assert info.value.revert.kind is RevertKind.ERROR
    assert info.value.revert.reason == "nested"


async def test_legacy_revert_without_data(kind: str) -> None:
    script = Script(err(-32000, "execution reverted"))
    with pytest.raises(ExecutionReverted) as info:
        await Driver(kind, script).eth_call("estimate_gas", {"to": "0x" + "22" * 20})
    assert info.value.revert is None


# -- logs never carry parameters --------------------------------------------------------------------------


async def test_logs_carry_no_params(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    raw = _raw_eip1559()
    caplog.set_level(logging.DEBUG, logger="sso_signer.rpc")
    script = Script(httpx.ReadTimeout("lost"), ok("0x" + keccak(raw).hex()))
    await Driver(kind, script).eth_call("send_raw_transaction", raw)
    assert caplog.records  # the retry was logged ...
    assert all(raw.hex() not in record.getMessage() for record in caplog.records)  # ... without the bytes


async def test_send_retry_rejected_after_possible_delivery_is_looked_up(kind: str) -> None:
    raw = _raw_eip1559()
    mined = {"hash": "0x" + keccak(raw).hex(), "nonce": "0x0"}
    script = Script(httpx.ReadTimeout("lost"), err(-32000, "nonce too low"), ok(mined))
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.SENT
    assert [r["method"] for r in script.requests] == [
        "eth_sendRawTransaction",
        "eth_sendRawTransaction",
        "eth_getTransactionByHash",
    ]


async def test_send_retry_rejected_and_unknown_to_node_is_not_sent(kind: str) -> None:
    raw = _raw_eip1559()
    script = Script(httpx.ReadTimeout("lost"), err(-32000, "nonce too low"), ok(None))
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.NOT_SENT
    assert isinstance(outcome.error, TransactionRejected)


async def test_era_send_retry_rejected_stays_unknown(kind: str) -> None:
    raw = bytes([0x71]) + b"\xc0"
    script = Script(httpx.ReadTimeout("lost"), err(-32000, "nonce too low"))
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.UNKNOWN
    assert outcome.tx_hash is None


async def test_send_refused_by_a_gateway_is_not_sent_and_not_repeated(kind: str) -> None:
    raw = _raw_eip1559()
    script = Script(httpx.Response(401, text="missing api key"))
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.NOT_SENT
    assert isinstance(outcome.error, RpcHttpStatusError)
    assert len(script.requests) == 1


async def test_send_rate_limited_is_retried(kind: str) -> None:
    raw = _raw_eip1559()
    script = Script(httpx.Response(429, text="slow down"), ok("0x" + keccak(raw).hex()))
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.SENT
    assert len(script.requests) == 2


async def test_status_error_is_not_its_own_cause(kind: str) -> None:
    script = Script(httpx.Response(401, text="no"))
    with pytest.raises(RpcHttpStatusError) as info:
        await Driver(kind, script).request("eth_chainId")
    assert info.value.__cause__ is not info.value
