"""The example backend's JSON API without a browser: a headless passkey drives it over HTTP (httpx against the
real uvicorn server), and every bad request gets the error class that names what was wrong."""

from __future__ import annotations

import contextlib
import pathlib
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from eth_account import Account

from examples.dapp_backend import RunningExample, deploy_validator, running_example
from sso_signer._codec import b64url_decode
from sso_signer.exceptions import ErrorCode
from sso_signer.node import AnvilNode
from tests.browser.example_client import ROOMY, PageClient, fresh_address
from tests.errors import raises_rule

pytestmark = pytest.mark.chain

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["era", "erc4337"])
def example(request: pytest.FixtureRequest) -> Iterator[RunningExample]:
    with running_example(flow=request.param, serve=True, limits=ROOMY) as running:
        yield running


def test_a_headless_passkey_signs_up_and_sends(example: RunningExample, page: PageClient) -> None:
    name, passkey, signed_up = page.sign_up()
    assert signed_up["user"] == name
    assert int(signed_up["balanceWei"]) == example.eth.get_balance(signed_up["account"]) > 0
    recipient = fresh_address()
    answer = page.send(passkey, recipient, "0.000000000000004242")
    assert (answer["validatorAccepted"], answer["status"]) == (True, "included")
    assert example.eth.get_balance(recipient) == 4242
    status, view = page.get("/api/session")
    assert status == 200
    (op,) = view["operations"]
    assert (op["opId"], op["status"], op["valueEth"]) == (answer["opId"], "included", "0.000000000000004242")
    assert op["transactionHash"] == answer["transactionHash"]
    assert [b64url_decode(k["id"]) for k in view["passkeys"]] == [passkey.credential_id]


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/register/options", {"user": "no spaces allowed"}, 400, "InvalidRequest"),
        ("/api/register/options", {"user": 7}, 400, "InvalidRequest"),
        ("/api/register/options", {"user": "ok", "extra": 1}, 400, "InvalidRequest"),
        ("/api/register/options", ["not", "an", "object"], 400, "InvalidRequest"),
        ("/api/register/verify", {}, 400, "InvalidRequest"),
        ("/api/register/verify", {"credential": {}}, 409, "NoRegistrationInProgress"),
        ("/api/login/verify", {"credential": {"id": "AA", "type": "public-key"}}, 401, "NotSignedIn"),
        ("/api/tx/options", {"to": "0x" + "11" * 20, "value": "1"}, 401, "NotSignedIn"),
        ("/api/tx/submit", {"opId": "x", "credential": {}}, 401, "NotSignedIn"),
        ("/api/keys/options", {}, 401, "NotSignedIn"),
        ("/api/keys/link", {"credential": {}}, 401, "NotSignedIn"),
        ("/api/nothing", {}, 404, "NotFound"),
    ],
)
def test_bad_requests_name_the_failed_check(
    page: PageClient, path: str, body: object, status: int, error: str
) -> None:
    got_status, answer = page.post(path, body)
    assert (got_status, answer["error"]) == (status, error), answer


def test_a_get_of_a_post_endpoint_is_405_and_no_session_is_401(page: PageClient) -> None:
    status, answer = page.get("/api/tx/options")
    assert (status, answer["error"]) == (405, "MethodNotAllowed")
    status, answer = page.get("/api/session")
    assert (status, answer["error"]) == (401, "NotSignedIn")


def test_a_sign_in_answer_needs_this_sessions_challenge(page: PageClient, example: RunningExample) -> None:
    _, passkey, _ = page.sign_up()
    with PageClient(example) as other:
        status, options = other.post("/api/login/options", {})
        assert status == 200
        assert options["allowCredentials"] == []
    # An assertion over another session's challenge cannot sign this session in.
    page.post("/api/login/options", {})
    login = passkey.sign(b64url_decode(options["challenge"])).to_json()
    status, answer = page.post("/api/login/verify", {"credential": login})
    assert (status, answer["rule"]) == (403, "challenge_mismatch"), answer
    with PageClient(example) as fresh:
        status, answer = fresh.post("/api/login/verify", {"credential": login})
        assert (status, answer["error"]) == (401, "NotSignedIn"), answer


def test_a_typed_name_must_be_the_passkeys_user(page: PageClient, example: RunningExample) -> None:
    alice, _, _ = page.sign_up()
    with PageClient(example) as other:
        _, mallory_key, _ = other.sign_up()
    status, answer = page.sign_in(mallory_key, name=alice)
    assert (status, answer["error"]) == (403, "WrongUser"), answer
    # The failed sign-in changed nothing: the page is still signed in as Alice, not as Mallory.
    assert page.get("/api/session")[1]["user"] == alice


@pytest.mark.parametrize("value", ["-1", "1e3", "²", "0.1234567890123456789", "0x10", " 1", 1.5, True, 10])
def test_bad_amounts_are_refused_naming_the_field(page: PageClient, value: object) -> None:
    page.sign_up()
    status, answer = page.post("/api/tx/options", {"to": "0x" + "22" * 20, "value": value})
    assert (status, answer["error"], answer.get("field")) == (400, "InvalidRequest", "value"), answer


def test_a_taken_user_name_cannot_sign_up_again(page: PageClient, example: RunningExample) -> None:
    name, _, _ = page.sign_up()
    with PageClient(example) as other:
        status, answer = other.post("/api/register/options", {"user": name})
    assert (status, answer["error"]) == (409, "AccountAlreadyExists")


def test_another_users_passkey_cannot_approve(page: PageClient, example: RunningExample) -> None:
    page.sign_up()
    with PageClient(example) as other:
        _, mallory_key, _ = other.sign_up()
    recipient = fresh_address()
    status, request = page.prepare(recipient, "1")
    assert status == 200
    # Mallory's passkey is not among the credentials allowed for Alice's transaction.
    status, answer = page.approve(mallory_key, request)
    assert (status, answer["rule"]) == (403, "credential_not_allowed"), answer
    assert example.eth.get_balance(recipient) == 0


def test_a_sign_in_assertion_is_not_a_transaction_approval(page: PageClient) -> None:
    _, passkey, _ = page.sign_up()
    status, request = page.prepare(fresh_address(), "0.5")
    assert status == 200
    _, options = page.post("/api/login/options", {})
    login = passkey.sign(b64url_decode(options["challenge"]))
    status, answer = page.post("/api/tx/submit", {"opId": request["opId"], "credential": login.to_json()})
    assert (status, answer["rule"]) == (403, "challenge_mismatch"), answer


def test_the_same_transaction_asked_twice_gets_the_same_operation(page: PageClient) -> None:
    _, passkey, _ = page.sign_up()
    to = fresh_address()
    first = page.prepare(to, "0.000000000000000002")[1]
    again = page.prepare(to, "0.000000000000000002")[1]
    assert (first["opId"], first["options"]["challenge"]) == (again["opId"], again["options"]["challenge"])
    status, answer = page.approve(passkey, again)
    assert (status, answer["validatorAccepted"]) == (200, True)
    # Signed once: submitting it again is a conflict, and nothing is sent twice.
    status, answer = page.approve(passkey, again)
    assert (status, answer["error"]) == (409, "NoPendingTransaction"), answer


def test_a_second_passkey_is_linked_and_then_signs_alone(page: PageClient, example: RunningExample) -> None:
    name, first, signed_up = page.sign_up()
    second = page.passkey()
    status, options = page.post("/api/keys/options", {})
    assert status == 200, options
    excluded = [b64url_decode(c["id"]) for c in options["excludeCredentials"]]
    assert excluded == [first.credential_id]
    status, request = page.post("/api/keys/link", {"credential": second.register_from_options(options)})
    assert status == 200, request
    assert b64url_decode(request["transaction"]["linksPasskey"]) == second.credential_id

    # Until the link is approved, the new passkey cannot approve anything.
    status, answer = page.approve(second, request)
    assert (status, answer["rule"]) == (403, "credential_not_allowed"), answer

    status, answer = page.approve(first, request)
    assert (status, answer["validatorAccepted"]) == (200, True), answer
    status, view = page.get("/api/session")
    assert [b64url_decode(k["id"]) for k in view["passkeys"]] == [first.credential_id, second.credential_id]

    recipient = fresh_address()
    page.send(second, recipient, "0.000000000000000077")
    assert example.eth.get_balance(recipient) == 77
    # Signing in with the new passkey (discoverable: no user name given) finds the same account.
    with PageClient(example) as fresh:
        status, answer = fresh.sign_in(second)
        assert (status, answer["user"], answer["account"]) == (200, name, signed_up["account"])


def test_a_failed_account_creation_leaves_no_passkey_behind() -> None:
    broke = Account.create()  # pays for nothing: creating the account fails on-chain
    with contextlib.ExitStack() as stack:
        node = stack.enter_context(AnvilNode())
        validator = deploy_validator(node.eth, node.accounts[0])
        ex = stack.enter_context(
            running_example(flow="era", node_url=node.url, funder=broke, validator=validator, serve=True)
        )
        page = stack.enter_context(PageClient(ex))
        name = f"api-{secrets.token_hex(4)}"
        passkey = page.passkey()
        status, options = page.post("/api/register/options", {"user": name})
        assert status == 200, options
        created = passkey.register_from_options(options)
        status, answer = page.post("/api/register/verify", {"credential": created})
        # The node refused the funding transaction: a remote failure, named.
        assert (status, answer["error"]) == (502, "TransactionRejected"), answer
        with raises_rule(ErrorCode.CREDENTIAL_NOT_FOUND):
            ex.backend.rp.store.get_credential(passkey.credential_id)
        assert page.get("/api/session")[0] == 401

        # Once the funder has money, the same passkey signs up: nothing of the first attempt is in the way.
        node.set_balance(broke.address, 10**20)
        status, options = page.post("/api/register/options", {"user": name})
        assert options["excludeCredentials"] == []
        status, answer = page.post(
            "/api/register/verify", {"credential": passkey.register_from_options(options)}
        )
        assert status == 200, answer


def test_the_command_line_serves_and_a_sigterm_stops_anvil_too() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.dapp_backend", "--flow", "era", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        node = re.search(r"at (http://127\.0\.0\.1:\d+)", lines[0])
        page = re.search(r"open (http://localhost:\d+)/", lines[2])
        assert node, lines
        assert page, lines
        response = httpx.post(
            page[1].replace("localhost", "127.0.0.1") + "/api/login/options",
            json={},
            headers={"origin": page[1]},
        )
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    with pytest.raises(httpx.TransportError):  # anvil went with it
        httpx.post(node[1], json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5)


def test_a_step_begun_on_the_sync_backend_finishes_on_the_servers_async_one(
    example: RunningExample, page: PageClient
) -> None:
    # The server runs AsyncDappBackend on its own async store, the test holds the sync DappBackend: on the
    # default store ("in memory": a temporary file both open) they share the users, operations and challenges.
    name, passkey, signed_up = page.sign_up()
    assert example.backend.user(name).account == signed_up["account"]
    recipient = fresh_address()
    request = example.backend.tx_options(name, to=recipient, value=77)
    status, answer = page.approve(passkey, request)
    assert (status, answer["status"]) == (200, "included"), answer
    assert example.eth.get_balance(recipient) == 77
    status, again = page.approve(passkey, request)  # the async side claimed it: the sync side sees it used
    assert (status, again["error"]) == (409, "NoPendingTransaction"), again
    with pytest.raises(Exception, match="already signed"):
        example.backend.tx_submit(
            name, request["opId"], passkey.sign(b64url_decode(request["options"]["challenge"])).to_json()
        )
