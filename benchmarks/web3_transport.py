"""The SDK's httpx JSON-RPC core against web3.py's providers, for the same work on the same local anvil.

Not a test: it prints figures. Run from the repository root::

    .venv/bin/python benchmarks/web3_transport.py [-n 200] [--json]

Three workloads, each done by every path in the same run, interleaved round by round (this machine's speed
drifts; rows timed minutes apart would carry the drift into their ratios):

* ``era send reads``: what an Era passkey send reads before it signs: ``eth_chainId``, the pending
  ``eth_getTransactionCount``, ``eth_gasPrice``, ``eth_maxPriorityFeePerGas``, ``eth_getBalance``,
  ``eth_estimateGas`` (the same plain estimate request on every path: the transport is what is compared).
* ``balance read``: one ``eth_getBalance``.
* ``batch of 20``: twenty ``eth_getBalance`` of different addresses.

Paths: the SDK (``EthClient``: one JSON-RPC batch for several calls, httpx, the SDK's answer decoding);
web3.py ``w3.eth`` one call after another (``HTTPProvider``, requests, web3's default middleware and result
formatters, as a web3.py user calls it); web3.py ``w3.batch_requests()`` (one HTTP request); and web3.py's
``provider.make_request`` with no middleware (the provider alone). Per path: HTTP requests per operation
(counted at the HTTP client: an httpx transport wrapper, a requests session wrapper), the median latency of
one operation, and this process's CPU time per operation and per HTTP request (anvil's own CPU is not
counted; it is the same work for every path).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import requests
from _common import emit, print_table
from web3 import HTTPProvider, Web3

from sso_signer.node import AnvilNode
from sso_signer.rpc import EthClient, JsonRpcClient
from sso_signer.rpc._core import RpcCall  # the SDK's own batch step: what EraAccount.prepare sends

BATCH = 20
ROUNDS = 5


class _CountingTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return super().handle_request(request)


class _CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.requests_sent = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.requests_sent += 1
        return super().send(request, **kwargs)


@dataclass
class Row:
    workload: str
    path: str
    requests_per_op: float
    median_ms: float
    cpu_ms_per_op: float
    cpu_ms_per_request: float


def _measure(
    work: Callable[[], object], count: Callable[[], int], n: int
) -> tuple[float, list[float], float]:
    """``(requests per op, latencies in ms, CPU ms per op)`` of ``n`` runs of ``work``."""
    before = count()
    latencies = []
    cpu_start = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        work()
        latencies.append((time.perf_counter() - start) * 1000)
    cpu = (time.process_time() - cpu_start) * 1000 / n
    return (count() - before) / n, latencies, cpu


def run(n: int) -> list[Row]:
    with AnvilNode() as node:
        sender = node.accounts[0].address
        to = node.accounts[1].address
        addresses = [node.accounts[i % len(node.accounts)].address for i in range(BATCH)]
        estimate = {"from": sender, "to": to, "value": hex(1)}

        transport = _CountingTransport()
        sdk = EthClient(rpc=JsonRpcClient(node.url, transport=transport))
        session = _CountingSession()
        w3 = Web3(HTTPProvider(node.url, session=session))
        provider = w3.provider
        checksummed = [Web3.to_checksum_address(a) for a in addresses]
        w3_sender, w3_to = Web3.to_checksum_address(sender), Web3.to_checksum_address(to)

        reads: list[tuple[str, list[Any]]] = [
            ("eth_chainId", []),
            ("eth_getTransactionCount", [sender, "pending"]),
            ("eth_gasPrice", []),
            ("eth_maxPriorityFeePerGas", []),
            ("eth_getBalance", [sender, "latest"]),
            ("eth_estimateGas", [estimate]),
        ]

        def sdk_reads() -> object:
            return sdk.rpc.batch([RpcCall(method, tuple(params)) for method, params in reads])

        def w3_reads() -> object:
            return (
                w3.eth.chain_id,
                w3.eth.get_transaction_count(w3_sender, "pending"),
                w3.eth.gas_price,
                w3.eth.max_priority_fee,
                w3.eth.get_balance(w3_sender),
                w3.eth.estimate_gas({"from": w3_sender, "to": w3_to, "value": Web3.to_wei(1, "wei")}),
            )

        def w3_batch_reads() -> object:
            with w3.batch_requests() as batch:
                batch.add(w3.eth.get_transaction_count(w3_sender, "pending"))
                batch.add(w3.eth.get_balance(w3_sender))
                batch.add(
                    w3.eth.estimate_gas({"from": w3_sender, "to": w3_to, "value": Web3.to_wei(1, "wei")})
                )
                # chain id, gas price and the tip are properties in web3.py: a batch takes the methods
                batch.add(w3.eth._chain_id())
                batch.add(w3.eth._gas_price())
                batch.add(w3.eth._max_priority_fee())
                return batch.execute()

        def provider_reads() -> object:
            return [provider.make_request(method, params) for method, params in reads]  # type: ignore[arg-type]

        def sdk_balance() -> object:
            return sdk.get_balance(sender)

        def w3_balance() -> object:
            return w3.eth.get_balance(w3_sender)

        def provider_balance() -> object:
            return provider.make_request("eth_getBalance", [sender, "latest"])  # type: ignore[arg-type]

        def sdk_batch() -> object:
            return sdk.rpc.batch([RpcCall("eth_getBalance", (a, "latest")) for a in addresses])

        def w3_batch() -> object:
            with w3.batch_requests() as batch:
                for address in checksummed:
                    batch.add(w3.eth.get_balance(address))
                return batch.execute()

        def w3_batch_calls() -> object:
            return [w3.eth.get_balance(address) for address in checksummed]

        sdk_count = lambda: transport.requests  # noqa: E731
        w3_count = lambda: session.requests_sent  # noqa: E731
        plan: list[tuple[str, str, Callable[[], object], Callable[[], int]]] = [
            ("era send reads", "sso-signer EthClient (1 batch, httpx)", sdk_reads, sdk_count),
            ("era send reads", "web3.py w3.eth, one call each", w3_reads, w3_count),
            ("era send reads", "web3.py w3.batch_requests()", w3_batch_reads, w3_count),
            ("era send reads", "web3.py provider.make_request, no middleware", provider_reads, w3_count),
            ("balance read", "sso-signer EthClient", sdk_balance, sdk_count),
            ("balance read", "web3.py w3.eth", w3_balance, w3_count),
            ("balance read", "web3.py provider.make_request, no middleware", provider_balance, w3_count),
            (f"batch of {BATCH}", "sso-signer EthClient (1 batch)", sdk_batch, sdk_count),
            (f"batch of {BATCH}", "web3.py w3.batch_requests()", w3_batch, w3_count),
            (f"batch of {BATCH}", "web3.py w3.eth, one call each", w3_batch_calls, w3_count),
        ]
        for _, _, work, _ in plan:  # warm connections, caches and imports
            work()
        samples: dict[int, list[tuple[float, list[float], float]]] = {i: [] for i in range(len(plan))}
        per_round = max(1, n // ROUNDS)
        for _ in range(ROUNDS):
            for i, (_, _, work, count) in enumerate(plan):
                samples[i].append(_measure(work, count, per_round))
        rows = []
        for i, (workload, path, _, _) in enumerate(plan):
            requests_per_op = samples[i][0][0]
            latencies = [ms for sample in samples[i] for ms in sample[1]]
            cpu = min(sample[2] for sample in samples[i])  # the least disturbed round
            rows.append(
                Row(
                    workload,
                    path,
                    requests_per_op,
                    statistics.median(latencies),
                    cpu,
                    cpu / requests_per_op if requests_per_op else 0.0,
                )
            )
        sdk.close()
        return rows


def _print(rows: list[Row]) -> None:
    table = []
    for row in rows:
        base = next(r for r in rows if r.workload == row.workload)  # the SDK's row comes first
        table.append(
            [
                row.workload,
                row.path,
                row.requests_per_op,
                row.median_ms,
                row.cpu_ms_per_op,
                row.cpu_ms_per_request,
                row.median_ms / base.median_ms,
            ]
        )
    print_table(
        "JSON-RPC over HTTP to a local anvil: the SDK's core and web3.py's providers, same run",
        ["workload", "path", "requests/op", "median ms", "CPU ms/op", "CPU ms/request", "x SDK latency"],
        table,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=200, help="operations per path and workload")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    emit(run(args.n), _print, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
