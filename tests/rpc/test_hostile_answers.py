"""A node that answers with a hostile JSON document must not crash the client (issue #14, defects 1 and 8).

A real HTTP server on 127.0.0.1 answers every request with the document its URL path names: an array nested
100,000 deep (the C JSON parser overruns the C stack and kills the process when the recursion limit is high),
an object nested as deep, a 5000-digit number (Python's int conversion raises a bare ``ValueError``). Each
call runs in a fresh interpreter so that a segfault fails the test instead of killing pytest; the child
prints the class of the error it got, which must be the typed one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

DEPTH = 100_000


def _body(kind: str, request_id: object) -> bytes:
    head = '{"jsonrpc":"2.0","id":' + json.dumps(request_id) + ',"result":'
    if kind == "deep-array":
        return ("[" * DEPTH + "]" * DEPTH).encode()
    if kind == "deep-result":
        return (head + "[" * DEPTH + "]" * DEPTH + "}").encode()
    if kind == "deep-object":
        return (head + '{"a":' * DEPTH + "1" + "}" * DEPTH + "}").encode()
    if kind == "unclosed":
        return (head + "[" * DEPTH).encode()
    if kind == "big-number":
        return (head + "1" * 5000 + "}").encode()
    if kind == "big-number-id":
        return ('{"jsonrpc":"2.0","id":' + "7" * 5000 + ',"result":"0x1"}').encode()
    raise AssertionError(kind)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        request_id = request[0]["id"] if isinstance(request, list) else request["id"]
        body = _body(self.path.strip("/"), request_id)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hostile_node() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    url, client, call, raised = sys.argv[1:5]
    from sso_signer.erc4337 import AsyncBundlerClient, BundlerClient, UserOperation
    from sso_signer.rpc import AsyncEthClient, EthClient, RetryPolicy
    if raised == "raised":
        # What an application that imported web3 or py_ecc before the SDK runs with.
        sys.setrecursionlimit(100_000)
    raw = bytes.fromhex("02f86b0180843b9aca00850ba43b740082520894") + bytes(60)
    op = UserOperation(sender="0x" + "11" * 20, nonce=0, call_data=b"", call_gas_limit=1,
                       verification_gas_limit=1, pre_verification_gas=1, max_fee_per_gas=1,
                       max_priority_fee_per_gas=1, signature=b"\\x01")
    no_retry = RetryPolicy(attempts=1)

    def sync():
        if call == "probe":
            # The local node's readiness probe: a garbled answer means "not ready yet", not a crash.
            from sso_signer.node._anvil import _probe
            return _probe(url)
        if call == "user_operation":
            with BundlerClient(url, retry=no_retry) as bundler:
                return bundler.send_user_operation(op, chain_id=1)
        with EthClient(url, retry=no_retry) as eth:
            return eth.chain_id() if call == "chain_id" else eth.send_raw_transaction(raw)

    async def asynchronous():
        if call == "user_operation":
            async with AsyncBundlerClient(url, retry=no_retry) as bundler:
                return await bundler.send_user_operation(op, chain_id=1)
        async with AsyncEthClient(url, retry=no_retry) as eth:
            return await (eth.chain_id() if call == "chain_id" else eth.send_raw_transaction(raw))

    try:
        result = sync() if client == "sync" else asyncio.run(asynchronous())
        print(json.dumps({"result": repr(result)[:80]}))
    except Exception as exc:
        print(json.dumps({
            "error": type(exc).__name__,
            "classes": [c.__name__ for c in type(exc).__mro__],
            "raw": (getattr(exc, "raw_transaction", None) or b"").hex() == raw.hex(),
            "cause": type(exc.__cause__).__name__ if exc.__cause__ else None,
            "message": str(exc)[:300],
        }))
    """
)


def _run_child(url: str, client: str, call: str, raised: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, url, client, call, raised],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"the client process died (status {done.returncode}): {done.stderr[-2000:]}"
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-2000:]
    outcome: dict[str, object] = json.loads(lines[-1])
    return outcome


KINDS = ["deep-array", "deep-result", "deep-object", "unclosed", "big-number", "big-number-id"]


@pytest.mark.parametrize("raised", ["default", "raised"])
@pytest.mark.parametrize("client", ["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_ordinary_call_gets_malformed_rpc_response(
    hostile_node: str, kind: str, client: str, raised: str
) -> None:
    outcome = _run_child(f"{hostile_node}/{kind}", client, "chain_id", raised)
    assert outcome.get("error") == "MalformedRpcResponse", outcome
    assert "SsoSignerError" in outcome["classes"]  # type: ignore[operator]


@pytest.mark.parametrize("client", ["sync", "async"])
@pytest.mark.parametrize("kind", ["deep-result", "unclosed", "big-number"])
def test_raw_transaction_send_reports_outcome_unknown_with_the_signed_bytes(
    hostile_node: str, kind: str, client: str
) -> None:
    # The bytes went out: a garbled answer says nothing about whether the node took them.
    outcome = _run_child(f"{hostile_node}/{kind}", client, "send_raw", "raised")
    assert outcome.get("error") == "SendOutcomeUnknown", outcome
    assert outcome["raw"] is True
    assert outcome["cause"] == "MalformedRpcResponse"


@pytest.mark.parametrize("client", ["sync", "async"])
@pytest.mark.parametrize("kind", ["deep-result", "unclosed", "big-number"])
def test_user_operation_send_gets_a_typed_error(hostile_node: str, kind: str, client: str) -> None:
    outcome = _run_child(f"{hostile_node}/{kind}", client, "user_operation", "raised")
    # The parse failure is typed; mapping a garbled answer to "outcome unknown" is the send path's decision.
    assert outcome.get("error") in {"MalformedRpcResponse", "UserOperationOutcomeUnknown"}, outcome
    assert "SsoSignerError" in outcome["classes"]  # type: ignore[operator]


@pytest.mark.parametrize("kind", ["deep-array", "unclosed", "big-number"])
def test_readiness_probe_reads_a_hostile_answer_as_not_ready(hostile_node: str, kind: str) -> None:
    outcome = _run_child(f"{hostile_node}/{kind}", "sync", "probe", "raised")
    assert outcome == {"result": "None"}, outcome
