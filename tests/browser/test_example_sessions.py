"""The example's session keys (issues #18 and #21), on the local ERC-4337 stack through Alto: the passkey
approves a capped recurring transfer once, the backend pays with its own key (no assertion), the validator's
limits refuse what is over them with the named rule (409 and the passkey fallback when used up), revocation
takes the passkey again, and the page shows the limits and what remains."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from examples.dapp_backend import RunningExample, running_example
from examples.dapp_backend._sessions import SessionKeyVault
from sso_signer._codec import b64url_decode
from sso_signer.rpc import EthClient
from sso_signer.sso import SessionSpec
from sso_signer.webauthn import SqlStatement
from sso_signer.webauthn._store_pgserver import TemporaryPostgres
from tests.browser.conftest import Tab
from tests.browser.example_client import ROOMY, PageClient, fresh_address
from tests.browser.workers import WORKER_HEADER, pinned_away_from, workers_example

pytestmark = pytest.mark.bundler

SECRET = "test-secret-" + secrets.token_hex(8)
MILLI = 10**15  # 0.001 ETH


@pytest.fixture(scope="module")
def example() -> Iterator[RunningExample]:
    with running_example(
        flow="erc4337", bundler=True, serve=True, limits=ROOMY, session_secret=SECRET
    ) as run:
        yield run


def _session(client: PageClient, session_id: str) -> dict[str, Any]:
    status, listed = client.get("/api/sessions")
    assert status == 200, listed
    found: list[dict[str, Any]] = [s for s in listed["sessions"] if s["sessionId"] == session_id]
    assert len(found) == 1
    return found[0]


def _create(client: PageClient, passkey: Any, recipient: str, **overrides: Any) -> dict[str, Any]:
    body = {"recipient": recipient, "perUseEth": "0.001", "dailyEth": "0.002", "hours": 24, **overrides}
    status, request = client.post("/api/sessions/options", body)
    assert status == 200, request
    assert request["session"]["status"] == "awaiting approval"
    status, approved = client.approve(passkey, request)  # the one passkey prompt that opens it
    assert status == 200, approved
    assert approved["status"] == "included"
    return dict(request["session"])


def _stored(example: RunningExample, session_id: str) -> tuple[bytes, bytes, str]:
    def read() -> Generator[SqlStatement, list[tuple[Any, ...]], tuple[Any, ...]]:
        rows = yield SqlStatement(
            "SELECT spec, sealed_key, owner FROM app_session_keys WHERE session_id = :id", {"id": session_id}
        )
        return rows[0]

    spec, sealed, owner = example.backend.store.sql.transaction(read)
    return bytes(spec), bytes(sealed), str(owner)


def test_a_session_pays_within_its_limits_without_a_passkey_then_falls_back_and_is_revoked(
    example: RunningExample,
) -> None:
    recipient = fresh_address()
    with PageClient(example) as client:
        _, passkey, signed_up = client.sign_up()
        answers: list[str] = []
        created = _create(client, passkey, recipient)
        session_id = created["sessionId"]
        shown = _session(client, session_id)
        assert shown["status"] == "active"
        assert (shown["perUseWei"], shown["dailyWei"], shown["remainingTodayWei"]) == (
            str(MILLI),
            str(2 * MILLI),
            str(2 * MILLI),
        )

        # The key stays on the server: sealed in the store, in no answer.
        spec_bytes, sealed, owner = _stored(example, session_id)
        key = SessionKeyVault(SECRET).open(sealed, session_id=session_id, owner=owner)
        assert key.address == SessionSpec.decode(spec_bytes).signer == shown["signer"]
        private = bytes(key.account.key)
        assert private not in sealed

        # Paying: no credential in the request, and the passkey signs nothing (its counter stays put).
        counter = passkey.counter
        status, paid = client.post("/api/sessions/use", {"sessionId": session_id, "value": "0.001"})
        answers.append(json.dumps(paid))
        assert status == 200, paid
        assert passkey.counter == counter
        assert example.eth.get_balance(recipient) == MILLI
        # The session's own nonce lane: uint160(signer).
        assert int(paid["nonceKey"], 16) == int(key.address, 16)
        assert paid["session"]["remainingTodayWei"] == str(MILLI)

        # More than a payment may carry: refused by the preflight with the validator's rule, no fallback.
        status, refused = client.post("/api/sessions/use", {"sessionId": session_id, "value": "0.0015"})
        assert status == 403, refused
        assert (refused["rule"], refused["verdict"], refused["fallback"]) == (
            "session_value_per_use",
            "MaxValueExceeded",
            False,
        )

        status, paid = client.post("/api/sessions/use", {"sessionId": session_id, "value": "0.001"})
        answers.append(json.dumps(paid))
        assert status == 200, paid
        assert paid["session"]["status"] == "used up today"

        # Today's allowance is used up: 409 with the rule, and the passkey may pay instead.
        status, refused = client.post("/api/sessions/use", {"sessionId": session_id, "value": "0.001"})
        assert status == 409, refused
        assert (refused["rule"], refused["verdict"], refused["fallback"]) == (
            "session_period_limit",
            "AllowanceExceeded",
            True,
        )
        assert example.eth.get_balance(recipient) == 2 * MILLI
        assert passkey.counter == counter
        client.send(passkey, recipient, "0.001")  # the fallback: the same payment, approved with the passkey
        assert example.eth.get_balance(recipient) == 3 * MILLI

        # Revoking is a passkey-approved operation; the session then refuses to pay.
        status, request = client.post("/api/sessions/revoke", {"sessionId": session_id})
        assert status == 200, request
        status, revoked = client.approve(passkey, request)
        assert status == 200, revoked
        assert _session(client, session_id)["status"] == "revoked"
        status, refused = client.post("/api/sessions/use", {"sessionId": session_id, "value": "0.001"})
        assert (status, refused["rule"], refused["fallback"]) == (409, "session_not_active", True)
        status, again = client.post("/api/sessions/revoke", {"sessionId": session_id})
        assert (status, again["rule"]) == (409, "session_not_active")

        assert not any(private.hex() in text for text in answers)
        assert signed_up["account"] == example.backend.user(owner).account


def test_session_requests_are_validated_owned_and_capped(example: RunningExample) -> None:
    recipient = fresh_address()
    with PageClient(example) as alice, PageClient(example) as mallory:
        _, _, alice_view = alice.sign_up()
        mallory.sign_up()
        good = {"recipient": recipient, "perUseEth": "0.001", "dailyEth": "0.002", "hours": 24}
        cases = [
            ({**good, "dailyEth": "0.0005"}, "dailyEth"),
            ({**good, "dailyEth": "5"}, "dailyEth"),
            ({**good, "perUseEth": "0"}, "perUseEth"),
            ({**good, "perUseEth": "1e3"}, "perUseEth"),
            ({**good, "hours": 0}, "hours"),
            ({**good, "hours": "24"}, "hours"),
            ({**good, "recipient": alice_view["account"]}, "recipient"),
            ({**good, "recipient": "0x" + "00" * 20}, "recipient"),
            ({**good, "extra": 1}, "extra"),
        ]
        for body, field in cases:
            status, answer = alice.post("/api/sessions/options", body)
            assert (status, answer.get("field")) == (400, field), (body, answer)

        # Proposals count against the cap until they are approved, revoked, expired or stale.
        ids = []
        for _ in range(3):
            status, request = alice.post("/api/sessions/options", good)
            assert status == 200, request
            ids.append(request["session"]["sessionId"])
        status, capped = alice.post("/api/sessions/options", good)
        assert (status, capped["error"]) == (429, "RateLimited"), capped
        listed = alice.get("/api/sessions")[1]["sessions"]
        assert {s["sessionId"] for s in listed} == set(ids)
        assert {s["status"] for s in listed} == {"awaiting approval"}

        # Another user's session is not found, for using and for revoking; nobody signed in gets 401.
        for path, body in (
            ("/api/sessions/use", {"sessionId": ids[0], "value": "0.001"}),
            ("/api/sessions/revoke", {"sessionId": ids[0]}),
        ):
            status, answer = mallory.post(path, body)
            assert (status, answer["error"]) == (404, "SessionNotFound"), answer
        assert mallory.get("/api/sessions")[1]["sessions"] == []
        # A session never approved cannot pay: the chain does not know it.
        status, answer = alice.post("/api/sessions/use", {"sessionId": ids[0], "value": "0.001"})
        assert (status, answer["rule"]) == (409, "session_not_active")
    with PageClient(example) as stranger:
        assert stranger.get("/api/sessions")[0] == 401
        status, answer = stranger.post("/api/sessions/use", {"sessionId": ids[0], "value": "0.001"})
        assert status == 401
    with PageClient(example, origin="http://evil.example") as foreign:
        status, answer = foreign.post("/api/sessions/use", {"sessionId": ids[0], "value": "0.001"})
        assert (status, answer["error"]) == (403, "CrossSiteRequest")


def test_an_expired_session_answers_409_and_the_passkey_still_pays() -> None:
    # Its own chain: moving the clock forward would put the other tests' session windows ahead of Alto's.
    recipient = fresh_address()
    with (
        running_example(flow="erc4337", bundler=True, serve=True, limits=ROOMY) as example,
        PageClient(example) as client,
    ):
        _, passkey, _ = client.sign_up()
        session_id = _create(client, passkey, recipient, hours=1)["sessionId"]
        assert _session(client, session_id)["status"] == "active"
        example.eth.rpc.request("evm_increaseTime", [hex(3601)])
        example.eth.rpc.request("evm_mine", [])
        assert _session(client, session_id)["status"] == "expired"
        status, refused = client.post("/api/sessions/use", {"sessionId": session_id, "value": "0.001"})
        assert status == 409, refused
        assert (refused["rule"], refused["fallback"]) == ("session_expired", True)
        assert example.eth.get_balance(recipient) == 0
        client.send(passkey, recipient, "0.001")  # the fallback
        assert example.eth.get_balance(recipient) == MILLI


def test_sessions_need_the_bundler() -> None:
    with running_example(flow="erc4337", serve=True, limits=ROOMY) as plain, PageClient(plain) as client:
        client.sign_up()
        status, answer = client.get("/api/sessions")
        assert (status, answer["error"]) == (409, "SessionsUnavailable"), answer


@pytest.mark.browser
def test_the_page_shows_a_session_its_limits_and_what_remains(tab: Tab, example: RunningExample) -> None:
    recipient = fresh_address()
    tab.open(example.server.origin)
    tab.fill("name", f"user-{secrets.token_hex(4)}")
    assert tab.run("signup")["state"] == "signup-done"
    tab.fill("sessionTo", recipient)
    created = tab.run("sessioncreate", timeout=60)
    assert created["state"] == "sessioncreate-done", created
    assert _row(tab)[0] == "active"
    for _ in range(2):
        paid = tab.run("sessionuse", timeout=60)
        assert paid["state"] == "sessionuse-done", paid
    status, left, fees = _row(tab)[0], _row(tab)[4], _row(tab)[5]
    assert (status, left) == ("used up today", "0 ETH")
    assert fees.endswith(" ETH")
    assert _row(tab)[7] != "–"  # when today's allowance comes back
    assert example.eth.get_balance(recipient) == 2 * MILLI
    # Over today's allowance: the page says why and offers the passkey.
    tab.click("sessionuse")
    shown = tab.wait_state("fallback", timeout=60)
    assert shown["state"] == "fallback", shown
    assert "session_period_limit" in shown["message"]
    assert tab.page.evaluate("document.getElementById('sessionfallback').hidden") is False
    assert tab.run("sessionfallback", timeout=60)["state"] == "sessionfallback-done"
    assert example.eth.get_balance(recipient) == 3 * MILLI
    assert tab.run("sessionrevoke", timeout=60)["state"] == "sessionrevoke-done"
    assert _row(tab)[0] == "revoked"


def _row(tab: Tab) -> list[str]:
    cells: list[str] = tab.page.evaluate(
        "[...document.querySelectorAll('#sessions tr:first-child td')].map((c) => c.textContent)"
    )
    return cells


def _on_worker(client: PageClient, path: str, body: object = None) -> tuple[int, dict[str, Any], int]:
    """A request, and the pid of the worker that answered it."""
    if body is None:
        response = client.http.get(path)
    else:
        response = client.http.post(path, json=body, headers={"origin": client.origin})
    answer: dict[str, Any] = response.json()
    return response.status_code, answer, int(response.headers[WORKER_HEADER])


@pytest.mark.slow
def test_a_session_is_created_on_one_worker_and_used_from_both(sso_postgres: TemporaryPostgres) -> None:
    url = sso_postgres.create_database(f"sso_sessions_workers_{os.getpid()}")
    limits = dataclasses.asdict(ROOMY)
    with (
        workers_example(url, workers=2, limits=limits, bundler=True) as example,
        PageClient(example) as client,
    ):
        _, passkey, _ = client.sign_up()
        recipient = fresh_address()
        body = {"recipient": recipient, "perUseEth": "0.001", "dailyEth": "0.003", "hours": 2}
        status, request, first = _on_worker(client, "/api/sessions/options", body)
        assert status == 200, request
        approval = passkey.sign(b64url_decode(request["options"]["challenge"])).to_json()
        with pinned_away_from(first):  # the approval lands on the other worker
            status, approved, second = _on_worker(
                client, "/api/tx/submit", {"opId": request["opId"], "credential": approval}
            )
        assert status == 200, approved
        assert second != first
        session_id = request["session"]["sessionId"]
        # The sealed key is in the shared store: either worker opens it and pays on the session's lane.
        paid_by = []
        for _ in range(2):
            status, paid, worker = _on_worker(
                client, "/api/sessions/use", {"sessionId": session_id, "value": "0.001"}
            )
            assert status == 200, paid
            paid_by.append(worker)
            with pinned_away_from(worker):
                status, shown, other = _on_worker(client, "/api/sessions")
            assert status == 200, shown
            assert other != worker
            (state,) = shown["sessions"]
            assert state["remainingTodayWei"] == paid["session"]["remainingTodayWei"]
        assert paid["session"]["remainingTodayWei"] == str(MILLI)
        match = re.search(r"anvil chain \d+ at (\S+)", "".join(example.output))
        assert match, example.output
        with EthClient(match.group(1)) as eth:
            assert eth.get_balance(recipient) == 2 * MILLI
