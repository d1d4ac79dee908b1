"""The example after a send (real uvicorn, anvil, Alto for ERC-4337, a SQLite file): a store failure once the
transaction or UserOperation has left answers with its hashes and ``"sent": true`` (it was a bare 503 "retry
later"), the operation is never sent twice, and the next request records its outcome. And a transfer prepared
again once its challenge was purged gets a fresh operation (it hit the UNIQUE challenge: a 503)."""

from __future__ import annotations

import pathlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from examples.dapp_backend import RunningExample, WebLimits, running_example
from sso_signer import hex_decode
from sso_signer.webauthn import SqlStatement
from tests.browser.example_client import ROOMY, PageClient, fresh_address

pytestmark = pytest.mark.chain


class StoreLock:
    """Another writer holding the SQLite file's lock (past the store's 10 s timeout) from a chosen moment."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.holder: sqlite3.Connection | None = None

    def take(self) -> None:
        self.holder = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.holder.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        if self.holder is not None:
            self.holder.execute("ROLLBACK")
            self.holder.close()
            self.holder = None


@pytest.fixture
def lock(tmp_path: pathlib.Path) -> Iterator[StoreLock]:
    held = StoreLock(tmp_path / "example.db")
    yield held
    held.release()


def _status(example: RunningExample, op_id: str) -> tuple[str, str | None]:
    def read() -> Any:
        return (
            yield SqlStatement("SELECT status, tx_hash FROM app_operations WHERE op_id = :id", {"id": op_id})
        )

    rows = example.backend.store.sql.transaction(read, read_only=True)
    return str(rows[0][0]), rows[0][1]


def _lock_after(ex: RunningExample, method: str, lock: StoreLock) -> None:
    """Make the Era gateway's ``method`` take the store's lock right after its real work on anvil."""
    chain: Any = ex.backend.chain
    real = getattr(chain, method)

    def then_lock(*args: Any) -> Any:
        result = real(*args)
        lock.take()  # the store fails from here on
        return result

    setattr(chain, method, then_lock)


def _prepared(ex: RunningExample) -> tuple[PageClient, Any, dict[str, Any], str]:
    page = PageClient(ex)
    _, passkey, _ = page.sign_up()
    to = fresh_address()
    status, request = page.prepare(to, "0.000000000000000007")
    assert status == 200, request
    return page, passkey, request, to


def _check_the_answer_and_the_convergence(
    ex: RunningExample,
    lock: StoreLock,
    page: PageClient,
    passkey: Any,
    request: dict[str, Any],
    to: str,
    hash_key: str,
) -> dict[str, Any]:
    try:
        status, answer = page.approve(passkey, request)
    finally:
        lock.release()
    # Was a bare 503 "the service cannot answer now; retry later", without a hash: the page marked it failed.
    assert (status, answer["error"], answer["sent"]) == (503, "FailedAfterSend", True), answer
    assert answer["opId"] == request["opId"]
    assert answer["status"] == "included"
    assert answer[hash_key] is not None, answer
    assert answer[hash_key] in answer["message"], answer
    assert "lock" not in answer["message"].lower(), answer  # still none of the database's text
    receipt = ex.eth.get_transaction_receipt(hex_decode(answer["transactionHash"]))
    assert receipt is not None
    assert receipt.status == 1
    assert ex.eth.get_balance(to) == 7
    # Left claimed meanwhile: the same approval again is refused, nothing is sent twice.
    assert _status(ex, request["opId"])[0] == "signed"
    status, again = page.approve(passkey, request)
    assert (status, again["error"]) == (409, "NoPendingTransaction"), again
    assert ex.eth.get_balance(to) == 7
    # That request (any request does) recorded the outcome: the page shows it included, with its hash.
    assert _status(ex, request["opId"]) == ("included", answer["transactionHash"])
    status, view = page.get("/api/session")
    assert status == 200, view
    shown = [op for op in view["operations"] if op["opId"] == request["opId"]]
    assert [(op["status"], op["transactionHash"]) for op in shown] == [
        ("included", answer["transactionHash"])
    ]
    page.close()
    return answer


def test_a_store_failure_after_an_era_send_answers_with_the_hash_and_converges(
    tmp_path: pathlib.Path, lock: StoreLock
) -> None:
    with running_example(flow="era", serve=True, limits=ROOMY, store=f"sqlite:///{lock.path}") as ex:
        page, passkey, request, to = _prepared(ex)
        _lock_after(ex, "submit_now", lock)
        answer = _check_the_answer_and_the_convergence(
            ex, lock, page, passkey, request, to, "transactionHash"
        )
        assert answer["rawTransaction"].startswith("0x71")  # and the signed 0x71 bytes


@pytest.mark.bundler
def test_a_store_failure_after_a_user_operation_is_sent_answers_with_its_hash_and_converges(
    tmp_path: pathlib.Path, lock: StoreLock
) -> None:
    with running_example(
        flow="erc4337", bundler=True, serve=True, limits=ROOMY, store=f"sqlite:///{lock.path}"
    ) as ex:
        chain: Any = ex.backend.chain
        sent = chain.submit

        def submit(*args: Any) -> Any:
            result = yield from sent(*args)  # the real UserOperation, through Alto
            lock.take()
            return result

        page, passkey, request, to = _prepared(ex)
        chain.submit = submit
        _check_the_answer_and_the_convergence(ex, lock, page, passkey, request, to, "userOpHash")


def test_a_transfer_prepared_again_after_its_challenge_was_purged_gets_a_fresh_operation(
    tmp_path: pathlib.Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'example.db'}"
    with running_example(flow="era", serve=True, limits=ROOMY, store=store) as ex, PageClient(ex) as page:
        _, passkey, signed_up = page.sign_up()
        to = fresh_address()
        # More than the account holds: refused by the node before anything is sent ("failed", nonce unused).
        status, first = page.prepare(to, "3")
        assert status == 200, first
        status, refused = page.approve(passkey, first)
        assert status >= 400, refused
        assert "sent" not in refused, refused
        assert _status(ex, first["opId"])[0] == "failed"
        # Within the hour its used challenge is kept: the same transaction is a clear 409.
        status, again = page.prepare(to, "3")
        assert (status, again["error"]) == (409, "NoPendingTransaction"), again
        # An hour later the relying party purged that challenge; was a 503 (UNIQUE app_operations.challenge).
        ex.backend.rp.store.purge_challenges(now=time.time() + 2 * 3600, keep_used_for=3600.0)
        status, fresh = page.prepare(to, "3")
        assert status == 200, fresh
        assert fresh["opId"] != first["opId"]
        assert fresh["options"]["challenge"] == first["options"]["challenge"]  # the same transaction
        # Funded now, the user approves it and it runs once.
        chain: Any = ex.backend.chain
        ex.eth.send_transaction(chain.funder, to=signed_up["account"], value=3 * 10**18)
        status, paid = page.approve(passkey, fresh)
        assert (status, paid["status"]) == (200, "included"), paid
        assert ex.eth.get_balance(to) == 3 * 10**18


def test_a_store_failure_after_the_account_was_created_answers_with_its_hash_and_the_user_can_sign_in(
    tmp_path: pathlib.Path, lock: StoreLock
) -> None:
    with running_example(flow="era", serve=True, limits=ROOMY, store=f"sqlite:///{lock.path}") as ex:
        _lock_after(ex, "create_account_now", lock)  # storing the new user fails
        with PageClient(ex) as page:
            passkey = page.passkey()
            status, options = page.post("/api/register/options", {"user": "carol"})
            assert status == 200, options
            try:
                status, answer = page.post(
                    "/api/register/verify", {"credential": passkey.register_from_options(options)}
                )
            finally:
                lock.release()
            # Was a generic 503 "retry later", and the passkey was removed: the account on chain was lost.
            assert (status, answer["error"], answer["sent"]) == (503, "FailedAfterSend", True), answer
            assert answer["transactionHash"] in answer["message"], answer
            receipt = ex.eth.get_transaction_receipt(hex_decode(answer["transactionHash"]))
            assert receipt is not None
            assert receipt.status == 1
            account = answer["message"].split("account ")[1].split()[0]
            # The next request writes the user; the same passkey then signs in to that account.
            status, signed_in = page.sign_in(passkey)
            assert status == 200, signed_in
            assert (signed_in["user"], signed_in["account"]) == ("carol", account)


def test_an_outcome_past_the_held_writes_cap_is_not_held_and_is_settled_from_the_chain(
    tmp_path: pathlib.Path, lock: StoreLock
) -> None:
    # The writes a backend holds while its store fails were unbounded; with no room (the cap 0) the answer
    # still carries the hash, nothing is sent twice, and the housekeeping's chain read records the outcome.
    limits = replace(ROOMY, unrecorded_kept=0)
    with running_example(
        flow="era",
        serve=True,
        limits=limits,
        web_limits=WebLimits(purge_every=1),
        store=f"sqlite:///{lock.path}",
    ) as ex:
        page, passkey, request, to = _prepared(ex)
        _lock_after(ex, "submit_now", lock)
        try:
            status, answer = page.approve(passkey, request)
        finally:
            lock.release()
        assert (status, answer["error"], answer["sent"]) == (503, "FailedAfterSend", True), answer
        assert answer["transactionHash"] in answer["message"], answer
        assert "from the chain" in answer["message"], answer
        status, again = page.approve(passkey, request)
        assert (status, again["error"]) == (409, "NoPendingTransaction"), again
        assert ex.eth.get_balance(to) == 7
        # Not held: the next request did not record it; it stays claimed until a settle round reads it.
        assert _status(ex, request["opId"]) == ("signed", None)

        def a_grace_later() -> Any:
            yield SqlStatement(
                "UPDATE app_operations SET expires_at = :long_ago WHERE op_id = :id",
                {"long_ago": time.time() - 3600, "id": request["opId"]},
            )

        ex.backend.store.sql.transaction(a_grace_later)
        status, view = page.get("/api/session")  # this request's housekeeping settles it
        assert status == 200, view
        assert _status(ex, request["opId"]) == ("included", answer["transactionHash"])
        assert ex.eth.get_balance(to) == 7
        page.close()
