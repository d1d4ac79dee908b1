"""Full ceremonies per second: SQLite in one process vs PostgreSQL with 1, 2 and 4 workers, twice: through
the relying party alone, and through the example backend served by uvicorn workers over HTTP.

Not a test: it prints figures. Run from the repository root::

    .venv/bin/python benchmarks/store_ceremonies.py [-n 200] [--workers 1 2 4] [--http-clients 8]
        [--async-concurrency 8] [--json]

One ceremony is a whole registration (``registration_options`` → headless passkey answers →
``verify_registration``: consume the challenge and store the credential in one transaction) followed by a
whole authentication (``authentication_options`` → signature → ``verify_authentication``: consume the
challenge and move the counter in one transaction), through :class:`RelyingParty`, each worker process
with its own store on the same database. The PostgreSQL server is a private one this script starts
(Debian's ``initdb`` + ``pg_ctl``, Unix socket, default durability: ``fsync`` on, like SQLite's
``synchronous=FULL``). Passkeys are generated before the clock starts; the time is the wall clock from the
start signal until the last worker is done.

With ``--async-concurrency K``, rows are added for :class:`AsyncRelyingParty`: one process, one event loop,
``K`` ceremonies in flight at once on the async store (``AsyncSQLiteStore`` / ``AsyncPostgresStore``).

The second table is the same comparison one layer up: the example dapp backend (FastAPI, uvicorn, its
sessions, rate-limit buckets and registrations in the same store) started with ``--workers N`` on the
store, and ``--http-clients`` concurrent HTTP clients on 127.0.0.1 each signing in over and over (one
ceremony: ``POST /api/login/options`` → the headless passkey signs → ``POST /api/login/verify``, which
verifies the assertion, consumes the challenge, moves the counter and opens a session). The users sign up
before the clock starts (that step creates accounts on the example's anvil chain).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, emit, print_table

from sso_signer._codec import b64url_decode
from sso_signer.webauthn import AsyncRelyingParty, HeadlessPasskey, RelyingParty, open_async_store, open_store

RP_ID = "localhost"
ORIGIN = "http://localhost:5173"


@dataclass(frozen=True, slots=True)
class Row:
    """One configuration: ceremonies (registration + authentication) per second, all workers together."""

    store: str
    workers: int
    ceremonies: int
    seconds: float
    ceremonies_per_second: float


def _worker(url: str, count: int, barrier: Barrier, results: Any) -> None:
    passkeys = [HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN) for _ in range(count)]
    with open_store(url) as store:
        rp = RelyingParty(rp_id=RP_ID, rp_name="Bench", origins=[ORIGIN], store=store)
        barrier.wait(timeout=120)
        start = time.perf_counter()
        for passkey in passkeys:
            options = rp.registration_options(user_name="bench", user_handle=passkey.user_handle or None)
            issued_for = b64url_decode(str(options["user"]["id"]))
            rp.verify_registration(passkey.register_from_options(options), user_handle=issued_for)
            challenge = passkey.credential_id[:16] * 2  # unique per passkey, 32 bytes
            rp.authentication_options(challenge, credential_ids=[passkey.credential_id])
            rp.verify_authentication(passkey.sign(challenge).to_json())
        results.put(time.perf_counter() - start)


async def _async_ceremonies(url: str, count: int, concurrency: int) -> float:
    """``count`` ceremonies on one AsyncRelyingParty, ``concurrency`` at a time; the seconds they took."""
    passkeys = [HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN) for _ in range(count)]
    store = await open_async_store(url, max_connections=concurrency)
    try:
        rp = AsyncRelyingParty(rp_id=RP_ID, rp_name="Bench", origins=[ORIGIN], store=store)

        async def ceremonies(mine: list[HeadlessPasskey]) -> None:
            for passkey in mine:
                options = await rp.registration_options(
                    user_name="bench", user_handle=passkey.user_handle or None
                )
                issued_for = b64url_decode(str(options["user"]["id"]))
                await rp.verify_registration(passkey.register_from_options(options), user_handle=issued_for)
                challenge = passkey.credential_id[:16] * 2  # unique per passkey, 32 bytes
                await rp.authentication_options(challenge, credential_ids=[passkey.credential_id])
                await rp.verify_authentication(passkey.sign(challenge).to_json())

        start = time.perf_counter()
        await asyncio.gather(*(ceremonies(passkeys[i::concurrency]) for i in range(concurrency)))
        return time.perf_counter() - start
    finally:
        await store.close()


def measure_async(store: str, url: str, n: int, concurrency: int) -> Row:
    """``n`` ceremonies through :class:`AsyncRelyingParty` in this process, ``concurrency`` at once."""
    open_store(url).close()
    seconds = asyncio.run(_async_ceremonies(url, n, concurrency))
    return Row(f"{store}, async x{concurrency}", 1, n, seconds, n / seconds)


def measure(store: str, url: str, workers: int, n: int) -> Row:
    """Run ``n`` ceremonies split over ``workers`` processes on one database; the wall time counts."""
    open_store(url).close()  # the schema exists before the workers race to open
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(workers + 1)
    results = context.Queue()
    share = n // workers
    processes = [context.Process(target=_worker, args=(url, share, barrier, results)) for _ in range(workers)]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)
    start = time.perf_counter()
    for _ in processes:
        results.get(timeout=600)
    seconds = time.perf_counter() - start
    for process in processes:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise SystemExit(f"a {store} worker failed (exit {process.exitcode})")
    total = share * workers
    return Row(store, workers, total, seconds, total / seconds)


def run(n: int, worker_counts: list[int], concurrency: int = 0) -> list[Row]:
    """SQLite (one process) and PostgreSQL with each worker count, in one run; with ``concurrency``, the
    async relying party on each backend too."""
    from sso_signer.webauthn._store_pgserver import TemporaryPostgres

    sqlite, postgres = "SQLite (file, WAL, synchronous=FULL)", "PostgreSQL (Unix socket, fsync on)"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(measure(sqlite, f"sqlite://{Path(tmp) / 'b.db'}", 1, n))
        if concurrency:
            rows.append(measure_async(sqlite, f"sqlite://{Path(tmp) / 'a.db'}", n, concurrency))
    with TemporaryPostgres() as server:
        for workers in worker_counts:
            url = server.create_database(f"bench_{workers}")
            rows.append(measure(postgres, url, workers, n))
        if concurrency:
            rows.append(measure_async(postgres, server.create_database("bench_async"), n, concurrency))
    return rows


# The example with limits that never refuse the benchmark's own requests, started as its own process
# (uvicorn's worker supervisor needs a main thread).
_SERVER = textwrap.dedent(
    """
    import signal
    import sys
    from examples.dapp_backend import Limits, running_example
    # SIGTERM ends the process through its context managers, so the example's anvil stops with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    roomy = Limits(options_per_ip_burst=10**9, funding_per_ip_burst=10**6, funding_global_burst=10**6)
    with running_example(store=sys.argv[1], workers=int(sys.argv[2]), limits=roomy) as example:
        print(f"open {example.server.origin}/", flush=True)
        example.server.serve_forever()
    """
)


class _Example:
    """The example served by ``workers`` uvicorn workers on ``url``, as a child process."""

    def __init__(self, url: str, workers: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVER, url, str(workers)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.port = 0
        ready = 0
        deadline = time.monotonic() + 120
        assert self.process.stdout is not None
        while (not self.port or ready < workers) and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if match := re.search(r"open http://localhost:(\d+)/", line):
                self.port = int(match.group(1))
                ready += workers == 1  # one process: it serves once it printed its origin
            ready += line.startswith("worker ")
        # The origin is printed before serve_forever() binds: wait until the port takes connections.
        while self.port and time.monotonic() < deadline and not _accepts(self.port):
            time.sleep(0.05)
        if not self.port or ready < workers or not _accepts(self.port):
            self.stop()
            raise SystemExit(f"the example did not start: {''.join(self.lines)}")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _signed_up_client(port: int) -> tuple[httpx.Client, HeadlessPasskey]:
    origin = f"http://localhost:{port}"
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"origin": origin}, timeout=60)
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=origin, counter_mode="increment")
    options = client.post("/api/register/options", json={"user": f"bench-{os.urandom(4).hex()}"}).json()
    answer = client.post("/api/register/verify", json={"credential": passkey.register_from_options(options)})
    answer.raise_for_status()
    return client, passkey


def _sign_ins(client: httpx.Client, passkey: HeadlessPasskey, count: int) -> None:
    for _ in range(count):
        options = client.post("/api/login/options", json={}).json()
        credential = passkey.sign(b64url_decode(options["challenge"])).to_json()
        client.post("/api/login/verify", json={"credential": credential}).raise_for_status()


def measure_http(store: str, url: str, workers: int, n: int, clients: int) -> Row:
    """``n`` sign-in ceremonies over HTTP from ``clients`` concurrent clients, against ``workers`` workers."""
    example = _Example(url, workers)
    try:
        with ThreadPoolExecutor(clients) as pool:
            users = list(pool.map(lambda _: _signed_up_client(example.port), range(clients)))
            share = n // clients
            start = time.perf_counter()
            list(pool.map(lambda user: _sign_ins(user[0], user[1], share), users))
            seconds = time.perf_counter() - start
        for client, _ in users:
            client.close()
    finally:
        example.stop()
    return Row(store, workers, share * clients, seconds, share * clients / seconds)


def run_http(n: int, worker_counts: list[int], clients: int) -> list[Row]:
    """The example over HTTP: SQLite (one worker) and PostgreSQL with each worker count, in one run."""
    from sso_signer.webauthn._store_pgserver import TemporaryPostgres

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'app.db'}"
        rows.append(measure_http("example on SQLite (file)", url, 1, n, clients))
    with TemporaryPostgres() as server:
        for workers in worker_counts:
            url = server.create_database(f"bench_http_{workers}")
            rows.append(measure_http("example on PostgreSQL", url, workers, n, clients))
    return rows


def _print(rows: list[Row]) -> None:
    relying_party = [r for r in rows if not r.store.startswith("example")]
    over_http = [r for r in rows if r.store.startswith("example")]
    columns = ["store", "workers", "ceremonies", "seconds", "ceremonies/s"]
    print_table(
        "Full ceremonies (registration + authentication) per second through RelyingParty",
        columns,
        [(r.store, r.workers, r.ceremonies, r.seconds, r.ceremonies_per_second) for r in relying_party],
    )
    if over_http:
        print_table(
            "Sign-in ceremonies per second through the example backend (HTTP, uvicorn workers)",
            ["store", "uvicorn workers", "ceremonies", "seconds", "ceremonies/s"],
            [(r.store, r.workers, r.ceremonies, r.seconds, r.ceremonies_per_second) for r in over_http],
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=200, help="ceremonies per configuration")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="PostgreSQL worker counts")
    parser.add_argument(
        "--http-clients", type=int, default=8, help="concurrent HTTP clients of the example (0: skip it)"
    )
    parser.add_argument(
        "--async-concurrency",
        type=int,
        default=0,
        help="also run AsyncRelyingParty in one process with this many ceremonies at once (0: skip it)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    rows = run(args.n, args.workers, args.async_concurrency)
    if args.http_clients:
        rows += run_http(args.n, args.workers, args.http_clients)
    emit(rows, _print, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
