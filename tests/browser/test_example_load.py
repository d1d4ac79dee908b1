"""A bounded concurrent load on the example served by two uvicorn workers on one PostgreSQL: about 270
requests from up to 12 concurrent clients on 127.0.0.1, with the same approval or sign-in raced on two
connections at once. Every request is answered with a status the step allows (none lost), no challenge
or operation is accepted twice, and the per-address rate limits hold across the workers (one bucket row).
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import httpx
import pytest

from sso_signer._codec import b64url_decode
from sso_signer.rpc import EthClient
from sso_signer.webauthn import HeadlessPasskey, SqlStatement, open_store
from sso_signer.webauthn._store_pgserver import TemporaryPostgres
from tests.browser.example_client import PageClient, fresh_address
from tests.browser.workers import WORKER_HEADER, WorkersExample, workers_example

SIGN_UPS = 12  # clients trying to sign up at once
FUNDED = 6  # sign-ups one address may fund (the rest: 429)
ROUNDS = 6  # sign-in + transfer rounds per signed-up client, each raced on two connections
OPTIONS = 60  # options requests one address may make (challenges stored)
FLOOD = 40  # options requests at the end, from 8 threads: only what is left of OPTIONS passes

LIMITS = {
    "funding_per_ip_rate": 1e-9,  # no refill within the test: the counts are exact
    "funding_per_ip_burst": FUNDED,
    "funding_global_burst": 1000,
    "options_per_ip_rate": 1e-9,
    "options_per_ip_burst": OPTIONS,
}


@pytest.fixture(scope="module")
def example(sso_postgres: TemporaryPostgres) -> Iterator[WorkersExample]:
    url = sso_postgres.create_database(f"sso_workers_load_{os.getpid()}")
    with workers_example(url, workers=2, limits=LIMITS) as running:
        yield running


class Log:
    """Every request's path, status and worker, from all threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[tuple[str, int, str]] = []

    def record(self, path: str, response: httpx.Response) -> None:
        with self.lock:
            self.entries.append((path, response.status_code, response.headers.get(WORKER_HEADER, "")))

    def statuses(self, path: str) -> Counter[int]:
        return Counter(status for p, status, _ in self.entries if p == path)


class Client(PageClient):
    """A page client that logs each answer (with the worker that gave it)."""

    def __init__(self, example: WorkersExample, log: Log) -> None:
        super().__init__(example)
        self.log = log
        self.http.event_hooks["response"] = [self._record]

    def _record(self, response: httpx.Response) -> None:
        self.log.record(response.request.url.path, response)

    def twin(self) -> Client:
        """Another connection pool with this client's cookie: the same browser session, in parallel."""
        twin = Client(self.example, self.log)  # type: ignore[arg-type]
        twin.http.cookies = httpx.Cookies(self.http.cookies)
        return twin


def _race(*calls: Callable[[], tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], tuple[int, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _sign_up(example: WorkersExample, log: Log) -> tuple[Client, HeadlessPasskey] | None:
    client = Client(example, log)
    passkey = client.passkey()
    status, options = client.post("/api/register/options", {"user": f"user-{secrets.token_hex(4)}"})
    assert status == 200, options
    status, answer = client.post(
        "/api/register/verify", {"credential": passkey.register_from_options(options)}
    )
    assert status in (200, 429), answer
    if status == 429:
        assert answer["error"] == "RateLimited"
        client.close()
        return None
    return client, passkey


def _rounds(client: Client, passkey: HeadlessPasskey, recipient: str) -> list[str]:
    """Sign in and transfer ``ROUNDS`` times, each final request raced on two connections."""
    outcomes: list[str] = []
    for _ in range(ROUNDS):
        status, options = client.post("/api/login/options", {})
        assert status == 200, options
        credential = passkey.sign(b64url_decode(options["challenge"])).to_json()
        twin = client.twin()
        answer: dict[str, Any] = {"credential": credential}
        results = _race(
            partial(client.post, "/api/login/verify", answer), partial(twin.post, "/api/login/verify", answer)
        )
        statuses = sorted(status for status, _ in results)
        assert statuses[0] == 200, results  # the assertion counted once...
        assert statuses[1] in (403, 409), results  # ...its challenge used, or the session moved on
        if results[1][0] == 200:  # the twin won: its cookie holds the new session
            client.http.cookies = httpx.Cookies(twin.http.cookies)
        twin.close()

        status, request = client.prepare(recipient, "0.0001")
        assert status == 200, request
        approval = passkey.sign(b64url_decode(request["options"]["challenge"])).to_json()
        body = {"opId": request["opId"], "credential": approval}
        twin = client.twin()
        results = _race(
            partial(client.post, "/api/tx/submit", body), partial(twin.post, "/api/tx/submit", body)
        )
        twin.close()
        statuses = sorted(status for status, _ in results)
        assert statuses == [200, 409], results  # claimed once: one submission, one "already signed"
        outcomes.extend(str(answer.get("status", answer.get("error"))) for _, answer in results)
    return outcomes


def test_concurrent_load_loses_nothing_and_accepts_nothing_twice(example: WorkersExample) -> None:
    log = Log()

    # Sign-ups, all at once: the per-address funding bucket is one row both workers take from.
    with ThreadPoolExecutor(SIGN_UPS) as pool:
        signed_up = [r for r in pool.map(lambda _: _sign_up(example, log), range(SIGN_UPS)) if r]
    assert len(signed_up) == FUNDED
    assert log.statuses("/api/register/verify") == {200: FUNDED, 429: SIGN_UPS - FUNDED}

    # Sign-ins and transfers, every client at once, every final request raced.
    recipients = [fresh_address() for _ in signed_up]
    with ThreadPoolExecutor(len(signed_up)) as pool:
        outcomes = list(
            pool.map(
                lambda job: _rounds(job[0][0], job[0][1], job[1]), zip(signed_up, recipients, strict=True)
            )
        )
    assert all(o.count("included") == ROUNDS for o in outcomes), outcomes

    # The rest of the options budget, from 8 threads: exactly what is left passes, across both workers.
    used = sum(log.statuses(p)[200] for p in ("/api/register/options", "/api/login/options"))
    flooder = Client(example, log)
    with ThreadPoolExecutor(8) as pool:
        flood = list(pool.map(lambda _: flooder.post("/api/login/options", {})[0], range(FLOOD)))
    assert Counter(flood) == {200: OPTIONS - used, 429: FLOOD - (OPTIONS - used)}

    # Nothing lost: every request got an answer the step allows (no 5xx, no dropped connection).
    assert all(status in (200, 403, 409, 429) for _, status, _ in log.entries), Counter(
        (p, s) for p, s, _ in log.entries
    )
    print(f"{len(log.entries)} requests: {Counter(s for _, s, _ in log.entries)}")
    served = Counter(worker for _, _, worker in log.entries)
    print(f"per worker: {dict(served)}")
    assert set(served) == {str(pid) for pid in example.worker_pids()}  # both workers took part

    # What the chain and the database say: each transfer ran once, each challenge was used once.
    match = re.search(r"anvil chain \d+ at (\S+)", "".join(example.output))
    assert match
    with EthClient(match.group(1)) as eth:
        assert [eth.get_balance(r) for r in recipients] == [ROUNDS * 10**14] * FUNDED
    with open_store(example.store) as store:
        used_challenges = store.transaction(_used_authentication_challenges, read_only=True)
    assert used_challenges == 2 * ROUNDS * FUNDED  # one per sign-in and one per transfer, none twice
    for client, _ in signed_up:
        client.close()
    flooder.close()


def _used_authentication_challenges() -> Generator[SqlStatement, list[tuple[Any, ...]], int]:
    rows = yield SqlStatement(
        "SELECT count(*) FROM challenges WHERE purpose = 'authentication' AND used_at IS NOT NULL"
    )
    return int(rows[0][0])
