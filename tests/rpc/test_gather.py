"""gather(): several flows' first requests in one JSON-RPC batch, each flow seeing its own answer or error."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sso_signer.exceptions import RpcError
from sso_signer.node import AnvilNode
from sso_signer.rpc import AsyncEthClient, EthClient
from sso_signer.rpc._core import RpcCall, Sleep
from sso_signer.rpc._eth import _EthMethods
from sso_signer.rpc._flow import Batch, Flow, gather


class _Counting(httpx.BaseTransport):
    """Forwards to the real node; records the methods of each HTTP request."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[list[str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append([c["method"] for c in (body if isinstance(body, list) else [body])])
        return self.inner.handle_request(request)


def test_first_requests_share_one_round_trip(anvil: AnvilNode) -> None:
    counting = _Counting()
    address = anvil.accounts[0].address
    with EthClient(anvil.url, transport=counting) as eth:
        flows = gather(
            _EthMethods.chain_id.flow(eth),
            _EthMethods.get_balance.flow(eth, address),
            _EthMethods.get_code.flow(eth, address),
            _EthMethods.get_transaction_count.flow(eth, address),
        )
        chain_id, balance, code, nonce = eth.run(flows)
        assert counting.requests == [
            ["eth_chainId", "eth_getBalance", "eth_getCode", "eth_getTransactionCount"]
        ]
        assert (chain_id, balance, code, nonce) == (
            eth.chain_id(),
            eth.get_balance(address),
            eth.get_code(address),
            eth.get_transaction_count(address),
        )


def test_an_error_goes_to_its_own_flow_only(anvil: AnvilNode) -> None:
    def tolerant(method: str) -> Flow[str]:
        try:
            value = yield RpcCall(method)
        except RpcError as exc:
            return f"refused: {type(exc).__name__}"
        return f"ok: {value}"

    with EthClient(anvil.url) as eth:
        first, second = eth.run(gather(tolerant("no_such_method"), tolerant("eth_chainId")))
    assert first.startswith("refused: ")
    assert second == f"ok: {hex(anvil.chain_id)}"


def test_later_steps_run_after_the_shared_batch() -> None:
    # Driven by hand: the flow protocol itself, no transport involved.
    def two_steps() -> Flow[tuple[Any, Any]]:
        a = yield RpcCall("a")
        b = yield RpcCall("b")
        return a, b

    def starts_with_batch() -> Flow[Any]:
        answer = yield Batch([RpcCall("c"), RpcCall("d")])
        yield Sleep(0.0)
        return answer

    def no_request() -> Flow[int]:
        return 7
        yield  # pragma: no cover - makes this a generator

    flow = gather(two_steps(), starts_with_batch(), no_request())
    step = flow.send(None)
    assert isinstance(step, Batch)
    assert [c.method for c in step.calls] == ["a"]
    step = flow.send(["A"])
    assert isinstance(step, RpcCall)
    assert step.method == "b"
    step = flow.send("B")
    assert isinstance(step, Batch)
    assert [c.method for c in step.calls] == ["c", "d"]
    step = flow.send(["C", "D"])
    assert isinstance(step, Sleep)
    with pytest.raises(StopIteration) as stop:
        flow.send(None)
    assert stop.value.value == [("A", "B"), ["C", "D"], 7]


async def test_async_client_drives_it_too(anvil: AnvilNode) -> None:
    async with AsyncEthClient(anvil.url) as eth:
        chain_id, block = await eth.run(
            gather(_EthMethods.chain_id.flow(eth), _EthMethods.block_number.flow(eth))
        )
    assert chain_id == anvil.chain_id
    assert block >= 0
