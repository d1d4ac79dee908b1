"""Full relying-party ceremonies per second: SQLite in one process vs PostgreSQL with 1, 2 and 4 workers.

Not a test: it prints figures. Run from the repository root::

    .venv/bin/python benchmarks/store_ceremonies.py [-n 200] [--workers 1 2 4] [--json]

One ceremony is a whole registration (``registration_options`` → headless passkey answers →
``verify_registration``: consume the challenge and store the credential in one transaction) followed by a
whole authentication (``authentication_options`` → signature → ``verify_authentication``: consume the
challenge and move the counter in one transaction), through :class:`RelyingParty`, each worker process
with its own store on the same database. The PostgreSQL server is a private one this script starts
(Debian's ``initdb`` + ``pg_ctl``, Unix socket, default durability: ``fsync`` on, like SQLite's
``synchronous=FULL``). Passkeys are generated before the clock starts; the time is the wall clock from the
start signal until the last worker is done.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from _common import emit, print_table

from sso_signer._codec import b64url_decode
from sso_signer.webauthn import HeadlessPasskey, RelyingParty, open_store

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


def run(n: int, worker_counts: list[int]) -> list[Row]:
    """SQLite (one process) and PostgreSQL with each worker count, in one run."""
    from sso_signer.webauthn._store_pgserver import TemporaryPostgres

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(measure("SQLite (file, WAL, synchronous=FULL)", f"sqlite://{Path(tmp) / 'b.db'}", 1, n))
    with TemporaryPostgres() as server:
        for workers in worker_counts:
            url = server.create_database(f"bench_{workers}")
            rows.append(measure("PostgreSQL (Unix socket, fsync on)", url, workers, n))
    return rows


def _print(rows: list[Row]) -> None:
    print_table(
        "Full ceremonies (registration + authentication) per second through RelyingParty",
        ["store", "workers", "ceremonies", "seconds", "ceremonies/s"],
        [(r.store, r.workers, r.ceremonies, r.seconds, r.ceremonies_per_second) for r in rows],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=200, help="ceremonies per configuration")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="PostgreSQL worker counts")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    emit(run(args.n, args.workers), _print, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
