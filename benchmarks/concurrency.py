"""Concurrency: signed transactions per second submitted by the async client from 100 accounts to anvil.

Not a test: it prints figures. Run from the repository root::

    .venv/bin/python benchmarks/concurrency.py [--accounts 100] [--per-account 5] [--json]

anvil cannot execute 0x71 passkey transactions, so the submission is measured with EOA transactions and the
passkey signing cost separately; together they bound the passkey rate on a ZKsync node:

1. ``submit``: ``accounts × per_account`` EOA transfers, signed beforehand, submitted with
   :meth:`AsyncEthClient.send_raw_transaction` by one task per account (each sends its own nonces in order,
   the accounts run concurrently), at several concurrency levels (how many accounts send at once). The rate
   is transactions accepted (hash returned) per second; then every receipt is awaited and the
   accepted-to-mined rate reported.
2. ``send_transaction``: the full async path per transaction — one batch for nonce/fees/gas, local signing,
   send, receipt polling — for every account at once.
3. signing alone: eth-account EOA signing, and the SDK's passkey pipeline (0x71 signed hash, headless
   assertion, preflight, SSO signature, serialisation) as in benchmarks/client_throughput.py.

Where it saturates: the client's CPU time (``time.process_time``) and anvil's (``/proc/<pid>/stat``) are
read around each run and shown as a share of the wall time (100 % = one core busy for the whole run; the
machine has two).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from _common import emit, print_table
from client_throughput import sdk_rate
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sso_signer.node import AnvilNode
from sso_signer.rpc import AsyncEthClient

DEAD = "0x000000000000000000000000000000000000dEaD"
GAS_PRICE = 3 * 10**9  # above anvil's base fee for a while of automined blocks


@dataclass(frozen=True, slots=True)
class Run:
    """One timed run: rate and where the CPU went."""

    name: str
    concurrency: int
    transactions: int
    seconds: float
    rate: float
    client_cpu: float
    node_cpu: float
    mined_rate: float | None = None


@dataclass(frozen=True, slots=True)
class Figures:
    """All runs plus the signing rates."""

    runs: list[Run]
    eoa_sign_rate: float
    passkey_sign_rate: float


def _node_cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process, in seconds (0 where /proc is absent)."""
    if pid is None:
        return 0.0
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _timed(work: Callable[[], Awaitable[Any]], pid: int | None) -> tuple[float, float, float]:
    """(wall seconds, client CPU share, node CPU share) of ``await work()``."""
    wall, cpu, node = time.perf_counter(), time.process_time(), _node_cpu_seconds(pid)
    await work()
    seconds = time.perf_counter() - wall
    return seconds, (time.process_time() - cpu) / seconds, (_node_cpu_seconds(pid) - node) / seconds


def _sign_all(
    accounts: list[LocalAccount], per_account: int, chain_id: int, nonces: list[int]
) -> list[list[bytes]]:
    signed = []
    for account, first in zip(accounts, nonces, strict=True):
        txs = []
        for k in range(per_account):
            tx: Any = {
                "chainId": chain_id,
                "nonce": first + k,
                "to": DEAD,
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": GAS_PRICE,
                "maxPriorityFeePerGas": 10**9,
                "type": 2,
            }
            txs.append(bytes(account.sign_transaction(tx).raw_transaction))
        signed.append(txs)
    return signed


async def _submit_run(
    eth: AsyncEthClient, node: AnvilNode, accounts: list[LocalAccount], per_account: int, concurrency: int
) -> Run:
    nonces = list(await asyncio.gather(*(eth.get_transaction_count(a.address, "pending") for a in accounts)))
    signed = _sign_all(accounts, per_account, node.chain_id, nonces)
    hashes: list[bytes] = []
    gate = asyncio.Semaphore(concurrency)

    async def one_account(raws: list[bytes]) -> None:
        async with gate:
            for raw in raws:
                hashes.append(await eth.send_raw_transaction(raw))

    async def submit() -> None:
        await asyncio.gather(*(one_account(raws) for raws in signed))

    seconds, client, node_share = await _timed(submit, node.pid)
    start = time.perf_counter()
    await asyncio.gather(*(eth.wait_for_receipt(h, timeout=120) for h in hashes))
    mined = len(hashes) / (seconds + time.perf_counter() - start)
    total = len(hashes)
    return Run(
        "submit pre-signed (send_raw_transaction)",
        concurrency,
        total,
        seconds,
        total / seconds,
        client,
        node_share,
        mined,
    )


async def _full_run(eth: AsyncEthClient, node: AnvilNode, accounts: list[LocalAccount]) -> Run:
    async def send_all() -> None:
        await asyncio.gather(
            *(eth.send_transaction(a, to=DEAD, value=1, max_fee_per_gas=GAS_PRICE) for a in accounts)
        )

    seconds, client, node_share = await _timed(send_all, node.pid)
    n = len(accounts)
    name = "send_transaction (fill + sign + send + receipt)"
    return Run(name, n, n, seconds, n / seconds, client, node_share)


def eoa_sign_rate(n: int) -> float:
    """eth-account EOA signatures per second (pure Python secp256k1 unless coincurve is installed)."""
    account = Account.create()
    tx: Any = {
        "chainId": 1,
        "nonce": 0,
        "to": DEAD,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": GAS_PRICE,
        "maxPriorityFeePerGas": 1,
        "type": 2,
    }
    start = time.perf_counter()
    for i in range(n):
        account.sign_transaction({**tx, "nonce": i})
    return n / (time.perf_counter() - start)


async def _measure(accounts_n: int, per_account: int, levels: list[int]) -> list[Run]:
    with AnvilNode(hardfork="osaka") as node:
        accounts: list[LocalAccount] = [Account.create() for _ in range(accounts_n)]
        for account in accounts:
            node.set_balance(account.address, 10**20)
        async with AsyncEthClient(node.url) as eth:
            runs = [await _submit_run(eth, node, accounts, per_account, level) for level in levels]
            runs.append(await _full_run(eth, node, accounts))
        return runs


def measure(accounts: int, per_account: int, levels: list[int] | None = None, sign_n: int = 500) -> Figures:
    """Run every measurement (levels: concurrency levels of the submit runs, capped at ``accounts``;
    ``sign_n``: signatures per signing measurement)."""
    levels = sorted({min(level, accounts) for level in (levels or [1, 10, 100])})
    runs = asyncio.run(_measure(accounts, per_account, levels))
    return Figures(runs, eoa_sign_rate(sign_n), sdk_rate(sign_n, preflight=True))


def print_figures(f: Figures) -> None:
    """Print the table of :func:`measure` and a reading of it."""
    rows: list[list[object]] = [
        [
            r.name,
            r.concurrency,
            r.transactions,
            r.rate,
            r.mined_rate if r.mined_rate else "-",
            f"{100 * r.client_cpu:.0f}%",
            f"{100 * r.node_cpu:.0f}%",
        ]
        for r in f.runs
    ]
    print_table(
        "Async submission to anvil (automine) from many accounts",
        ["run", "accounts at once", "txs", "tx/s", "mined tx/s", "client CPU", "anvil CPU"],
        rows,
    )
    print_table(
        "Signing alone (one core)",
        ["signer", "signatures/s"],
        [
            ["eth-account EOA (secp256k1)", f.eoa_sign_rate],
            ["sso-signer passkey 0x71 (EraPasskeyAccount, preflight on)", f.passkey_sign_rate],
        ],
    )
    best = max(f.runs[:-1], key=lambda r: r.rate) if len(f.runs) > 1 else f.runs[0]
    print(f"best submission rate: {best.rate:,.0f} tx/s (goal >= 200/s), {best.concurrency} sending at once;")
    print(
        f"passkey signing alone: {f.passkey_sign_rate:,.0f}/s -> a passkey sender is bounded by "
        f"min(submission, signing) = {min(best.rate, f.passkey_sign_rate):,.0f} tx/s on one core."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="async submission benchmark")
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--per-account", type=int, default=5)
    parser.add_argument("--levels", type=int, nargs="*", default=[1, 10, 100])
    parser.add_argument("--sign-n", type=int, default=500, help="signatures per signing measurement")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = measure(args.accounts, args.per_account, args.levels, args.sign_n)
    emit(figures, print_figures, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
