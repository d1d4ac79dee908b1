"""The example settles what a dead worker left unrecorded (real uvicorn, anvil, Alto for ERC-4337; SQLite,
and PostgreSQL for ERC-4337): an operation left ``signed`` (sent, or never sent) or ``sent`` past its grace is
read from the chain at the next housekeeping round and recorded ``included`` or ``failed``. Nothing of the
chain is faked: the operations really run (or never do); only the rows are written back as a worker that
stopped before recording anything would have left them (before this, nothing ever read them again)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from examples.dapp_backend import RunningExample, WebLimits, running_example
from sso_signer.webauthn import SqlStatement
from tests.browser.example_client import ROOMY, PageClient, fresh_address

pytestmark = pytest.mark.chain

# Every request runs the housekeeping round (the default is every 200): the test needs just one.
EVERY_REQUEST = WebLimits(purge_every=1)


def _row(ex: RunningExample, op_id: str) -> tuple[str, str | None, str | None]:
    def read() -> Any:
        return (
            yield SqlStatement(
                "SELECT status, tx_hash, error FROM app_operations WHERE op_id = :id", {"id": op_id}
            )
        )

    rows = ex.backend.store.sql.transaction(read, read_only=True)
    return str(rows[0][0]), rows[0][1], rows[0][2]


def _left_by_a_dead_worker(ex: RunningExample, op_id: str, status: str, tx_hash: str | None) -> None:
    """Write the row as a worker that claimed it long ago and stopped before recording the outcome."""

    def write() -> Any:
        yield SqlStatement(
            "UPDATE app_operations SET status = :status, tx_hash = CAST(:tx_hash AS TEXT), error = NULL,"
            " expires_at = :long_ago WHERE op_id = :id",
            {"status": status, "tx_hash": tx_hash, "long_ago": time.time() - 3600, "id": op_id},
        )

    ex.backend.store.sql.transaction(write)


def _a_grace_later(ex: RunningExample) -> None:
    """Let the claims of the settle rounds lapse (as ``Limits.settle_grace`` later): rows are read again."""

    def write() -> Any:
        yield SqlStatement("UPDATE app_settling SET next_at = 0")

    ex.backend.store.sql.transaction(write)


def _settles(ex: RunningExample, hash_key: str) -> None:
    with PageClient(ex) as page:
        _, passkey, _ = page.sign_up()
        paid, never, resent = fresh_address(), fresh_address(), fresh_address()
        # Prepared together: the same nonce. The first runs; the second can then never run.
        status, first = page.prepare(paid, "0.000000000000000007")
        assert status == 200, first
        status, second = page.prepare(never, "0.000000000000000008")
        assert status == 200, second
        status, ran = page.approve(passkey, first)
        assert (status, ran["status"]) == (200, "included"), ran
        status, third = page.prepare(resent, "0.000000000000000009")
        assert status == 200, third
        status, ran_too = page.approve(passkey, third)
        assert (status, ran_too["status"]) == (200, "included"), ran_too

        # Sent, then its worker died before recording it; claimed, then the worker died before sending;
        # sent and known sent (its hash recorded), then the worker died before its receipt.
        _left_by_a_dead_worker(ex, first["opId"], "signed", None)
        _left_by_a_dead_worker(ex, second["opId"], "signed", None)
        _left_by_a_dead_worker(ex, third["opId"], "sent", ran_too[hash_key])
        status, view = page.get("/api/session")  # any request: the housekeeping round settles them
        assert status == 200, view

        assert _row(ex, first["opId"]) == ("included", ran["transactionHash"], None)
        assert _row(ex, third["opId"]) == ("included", ran_too["transactionHash"], None)
        status_, tx_hash, error = _row(ex, second["opId"])
        assert (status_, tx_hash) == ("failed", None)
        assert error is not None
        assert "nonce" in error, error
        assert "another" in error, error
        # Each ran once (nothing is sent again), the second never.
        assert (ex.eth.get_balance(paid), ex.eth.get_balance(never), ex.eth.get_balance(resent)) == (7, 0, 9)
        # Their claims went with their outcomes; finished, they are the ordinary purge's now.
        assert ex.backend.store.counts()["settling"] == 0
        shown = {op["opId"]: op["status"] for op in page.get("/api/session")[1]["operations"]}
        assert [shown[op["opId"]] for op in (first, second, third)] == ["included", "failed", "included"]


def test_an_era_operation_left_signed_or_sent_by_a_dead_worker_is_settled_from_the_chain() -> None:
    with running_example(flow="era", serve=True, limits=ROOMY, web_limits=EVERY_REQUEST) as ex:
        _settles(ex, "transactionHash")


@pytest.mark.bundler
@pytest.mark.parametrize(("database", "bundler"), [("sqlite", True), ("postgres", True), ("sqlite", False)])
def test_a_user_operation_left_signed_or_sent_by_a_dead_worker_is_settled_from_the_chain(
    database: str, bundler: bool, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    # With the bundler its receipt is asked by userOpHash; without, the EntryPoint's event is read.
    store = (
        f"sqlite:///{tmp_path / 'example.db'}"
        if database == "sqlite"
        else str(request.getfixturevalue("sso_postgres_url"))
    )
    with running_example(
        flow="erc4337", bundler=bundler, serve=True, limits=ROOMY, web_limits=EVERY_REQUEST, store=store
    ) as ex:
        _settles(ex, "userOpHash")


def test_an_undecided_operation_waits_and_a_round_reads_a_bounded_number() -> None:
    limits = replace(ROOMY, settle_batch=1)
    with (
        running_example(flow="era", serve=True, limits=limits, web_limits=EVERY_REQUEST) as ex,
        PageClient(ex) as page,
    ):
        page.sign_up()
        # Claimed, never sent, and nothing else used their nonce: they may still run, so they stay signed.
        status, idle = page.prepare(fresh_address(), "0.000000000000000001")
        assert status == 200, idle
        status, other = page.prepare(fresh_address(), "0.000000000000000002")
        assert status == 200, other
        _left_by_a_dead_worker(ex, idle["opId"], "signed", None)
        _left_by_a_dead_worker(ex, other["opId"], "signed", None)
        assert page.get("/api/session")[0] == 200  # one round: one row read (settle_batch=1)
        assert ex.backend.store.counts()["settling"] == 1
        assert page.get("/api/session")[0] == 200
        assert ex.backend.store.counts()["settling"] == 2
        assert page.get("/api/session")[0] == 200  # both claimed until their grace passes
        assert ex.backend.store.counts()["settling"] == 2
        assert [_row(ex, op["opId"])[0] for op in (idle, other)] == ["signed", "signed"]


def test_an_era_operation_sent_but_never_mined_fails_once_its_nonce_is_used() -> None:
    with (
        running_example(flow="era", serve=True, limits=ROOMY, web_limits=EVERY_REQUEST) as ex,
        PageClient(ex) as page,
    ):
        _, passkey, _ = page.sign_up()
        lost, paid = fresh_address(), fresh_address()
        status, dropped = page.prepare(lost, "0.000000000000000003")
        assert status == 200, dropped
        status, other = page.prepare(paid, "0.000000000000000004")
        assert status == 200, other
        # Its worker recorded it sent with a hash the node never mined (dropped), then died.
        never_mined = "0x" + "ab" * 32
        _left_by_a_dead_worker(ex, dropped["opId"], "sent", never_mined)
        assert page.get("/api/session")[0] == 200
        assert _row(ex, dropped["opId"]) == ("sent", never_mined, None)  # its nonce unused: it may run
        status, ran = page.approve(passkey, other)  # the same nonce, used by another transaction
        assert (status, ran["status"]) == (200, "included"), ran
        _a_grace_later(ex)
        assert page.get("/api/session")[0] == 200
        status_, tx_hash, error = _row(ex, dropped["opId"])
        assert (status_, tx_hash) == ("failed", never_mined)
        assert error is not None
        assert "never included" in error, error
        assert ex.eth.get_balance(lost) == 0
