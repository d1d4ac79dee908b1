"""read_factory_info's optional module getters: a factory without them is an older factory (None), but a node
that fails to answer is an error, not a missing module (faults injected with an httpx mock transport)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from sso_signer.accounts._deployment import read_factory_info
from sso_signer.exceptions import ErrorCode
from sso_signer.rpc import EthClient, RetryPolicy
from tests.errors import raises_rule

FACTORY = "0x" + "11" * 20
BEACON = "0x" + "22" * 20
MODULE = "0x" + "33" * 20


def _selector(function: str) -> str:
    return "0x" + keccak(text=f"{function}()")[:4].hex()


def _node(module_answer: Callable[[int], httpx.Response]) -> EthClient:
    """A factory answering its two required views, with ``module_answer(id)`` for the module getters."""
    answers = {
        _selector("beaconProxyBytecodeHash"): abi_encode(["bytes32"], [b"\x01" + b"\x00" * 31]),
        _selector("getEncodedBeacon"): abi_encode(["bytes"], [abi_encode(["address"], [BEACON])]),
    }

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        data = body["params"][0]["data"]
        if data in answers:
            return httpx.Response(
                200, json={"jsonrpc": "2.0", "id": body["id"], "result": "0x" + answers[data].hex()}
            )
        return module_answer(body["id"])

    return EthClient(transport=httpx.MockTransport(handle), retry=RetryPolicy(attempts=1))


def test_a_factory_without_module_getters_reads_as_none() -> None:
    reverted = {"code": 3, "message": "execution reverted", "data": "0x"}
    node = _node(lambda i: httpx.Response(200, json={"jsonrpc": "2.0", "id": i, "error": reverted}))
    info = read_factory_info(node, FACTORY)
    assert info.passkey_module is None
    assert info.session_module is None


def test_module_getters_are_read() -> None:
    word = "0x" + abi_encode(["address"], [MODULE]).hex()
    node = _node(lambda i: httpx.Response(200, json={"jsonrpc": "2.0", "id": i, "result": word}))
    assert read_factory_info(node, FACTORY).passkey_module == "0x" + "33" * 20


def test_a_failed_transport_is_not_a_missing_module() -> None:
    def drop(_: int) -> httpx.Response:
        raise httpx.ConnectError("connection reset")

    with raises_rule(ErrorCode.RPC_CONNECTION):
        read_factory_info(_node(drop), FACTORY)


def test_a_malformed_answer_is_not_a_missing_module() -> None:
    node = _node(lambda i: httpx.Response(200, json={"jsonrpc": "2.0", "id": i, "result": 7}))
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
        read_factory_info(node, FACTORY)
