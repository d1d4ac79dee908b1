"""The example on two uvicorn workers sharing one PostgreSQL (started by the test), in Chromium with a
virtual authenticator: each ceremony is started on one worker and finished on the other.

Pinning (``tests/browser/workers.py``): the browser's second request of a ceremony is held by the DevTools
``Fetch`` domain, the worker that answered the first is stopped, the request is let go (a new connection,
which only the other worker can accept), and the worker is resumed. Every response names its worker, so
the test asserts where each half ran rather than hoping the kernel spread them.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from sso_signer.rpc import EthClient
from sso_signer.webauthn._store_pgserver import TemporaryPostgres
from tests.browser.conftest import Tab
from tests.browser.workers import WORKER_HEADER, WorkersExample, pinned_away_from, workers_example

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def example(sso_postgres: TemporaryPostgres) -> Iterator[WorkersExample]:
    url = sso_postgres.create_database(f"sso_workers_browser_{os.getpid()}")
    with workers_example(url, workers=2, cli=True) as running:  # the command line a user runs
        yield running


@pytest.fixture(scope="module")
def eth(example: WorkersExample) -> Iterator[EthClient]:
    match = re.search(r"anvil chain \d+ at (\S+)", "".join(example.output))
    assert match, example.output
    with EthClient(match.group(1)) as client:
        yield client


def _worker(tab: Tab, path: str) -> int:
    event = tab.page.connection.wait_event(
        "Network.responseReceived",
        session_id=tab.page.session_id,
        predicate=lambda params: params["response"]["url"].endswith(path),
    )
    headers = {k.lower(): v for k, v in event["params"]["response"]["headers"].items()}
    return int(headers[WORKER_HEADER])


def _across_workers(
    tab: Tab, button: str, first_path: str, last_path: str
) -> tuple[dict[str, Any], int, int]:
    """Click ``button``; its ``first_path`` request is answered by one worker, ``last_path`` by another."""
    page = tab.page
    page.send("Network.enable")
    pattern = {"urlPattern": f"*{last_path}", "requestStage": "Request"}
    page.send("Fetch.enable", {"patterns": [pattern]})
    page.connection.drain_events("Network.responseReceived", session_id=page.session_id)
    try:
        tab.click(button)
        paused = page.connection.wait_event("Fetch.requestPaused", session_id=page.session_id, timeout=30)
        first = _worker(tab, first_path)
        tab.snap(f"{button}-started-on-worker-{first}")
        with pinned_away_from(first):
            page.send("Fetch.continueRequest", {"requestId": paused["params"]["requestId"]})
            shown = tab.wait_state(f"{button}-done", timeout=30)
        last = _worker(tab, last_path)
    finally:
        page.send("Fetch.disable")
    tab.snap(f"{button}-finished-on-worker-{last}")
    assert shown["state"] == f"{button}-done", shown["message"]
    return shown, first, last


def test_each_ceremony_starts_on_one_worker_and_finishes_on_the_other(
    tab: Tab, example: WorkersExample, eth: EthClient
) -> None:
    workers = example.worker_pids()
    assert len(workers) == 2
    tab.open(example.origin)
    name = f"user-{secrets.token_hex(4)}"
    tab.fill("name", name)

    # Sign-up: the registration (and its challenge) stored by one worker, verified by the other, which
    # then creates the account from its own funder.
    _, first, last = _across_workers(tab, "signup", "/api/register/options", "/api/register/verify")
    assert {first, last} == workers
    account = tab.page.evaluate("window.sso.view.account")
    assert eth.get_code(account) != b""

    # A transfer: the pending operation prepared by one worker, claimed and submitted by the other.
    recipient = to_checksum_address(secrets.token_bytes(20))
    tab.fill("to", recipient)
    tab.fill("value", "0.001")
    shown, first, last = _across_workers(tab, "approve", "/api/tx/options", "/api/tx/submit")
    assert {first, last} == workers
    assert eth.get_balance(recipient) == 10**15
    assert '"status": "included"' in shown["details"]

    # Sign out, then sign in: the session's login challenge set by one worker, the assertion checked by
    # the other (the signed cookie and the session row are all either needs).
    tab.run("signout")
    _, first, last = _across_workers(tab, "signin", "/api/login/options", "/api/login/verify")
    assert {first, last} == workers
    assert tab.page.evaluate("window.sso.view.user") == name
    # Both workers still serve (none was restarted by the supervisor while stopped).
    assert example.worker_pids() == workers
