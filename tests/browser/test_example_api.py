"""The example backend's JSON API without a browser: a headless passkey drives it, and every bad request gets
the error class that names what was wrong."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address

from examples.dapp_backend import RunningExample, deploy_validator, running_example
from sso_signer._codec import b64url_decode
from sso_signer.node import AnvilNode
from sso_signer.webauthn import CredentialNotFound, HeadlessPasskey

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module", params=["era", "erc4337"])
def example(request: pytest.FixtureRequest) -> Iterator[RunningExample]:
    with running_example(flow=request.param, serve=True) as running:
        yield running


def _post(example: RunningExample, path: str, body: object) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{example.server.port}{path}"
    response = httpx.post(url, json=body, timeout=30)
    answer: dict[str, Any] = response.json()
    return response.status_code, answer


def _sign_up(example: RunningExample) -> tuple[str, HeadlessPasskey, dict[str, Any]]:
    name = f"api-{secrets.token_hex(4)}"
    passkey = HeadlessPasskey.generate(
        rp_id="localhost", origin=example.server.origin, counter_mode="increment"
    )
    status, options = _post(example, "/api/register/options", {"user": name})
    assert status == 200, options
    status, answer = _post(
        example, "/api/register/verify", {"user": name, "credential": passkey.register_from_options(options)}
    )
    assert status == 200, answer
    return name, passkey, answer


def _approve(
    example: RunningExample, name: str, passkey: HeadlessPasskey, to: str, value: int
) -> dict[str, Any]:
    status, request = _post(example, "/api/tx/options", {"user": name, "to": to, "value": str(value)})
    assert status == 200, request
    approval = passkey.sign(b64url_decode(request["options"]["challenge"]))
    status, answer = _post(example, "/api/tx/submit", {"user": name, "credential": approval.to_json()})
    assert status == 200, answer
    return answer


def test_a_headless_passkey_signs_up_and_sends(example: RunningExample) -> None:
    name, passkey, signed_up = _sign_up(example)
    recipient = to_checksum_address(secrets.token_bytes(20))
    answer = _approve(example, name, passkey, recipient, 4242)
    assert answer["validatorAccepted"] is True
    assert example.eth.get_balance(recipient) == 4242
    assert example.eth.get_transaction_count(signed_up["account"]) > 0


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/register/options", {"user": "no spaces allowed"}, 400, "InvalidRequest"),
        ("/api/register/options", {"user": 7}, 400, "InvalidRequest"),
        ("/api/register/options", ["not", "an", "object"], 400, "NotJson"),
        ("/api/register/verify", {"credential": {}}, 400, "InvalidRequest"),
        ("/api/register/verify", {"user": "nobody-here", "credential": {}}, 409, "UnknownUser"),
        ("/api/tx/options", {"user": "nobody-here", "to": "0x" + "11" * 20}, 409, "UnknownUser"),
        ("/api/tx/options", {"user": "nobody-here", "to": "0x1234"}, 400, "InvalidRequest"),
        (
            "/api/login/verify",
            {"credential": {"id": "AA", "type": "public-key"}},
            400,
            "InvalidCredentialJson",
        ),
        ("/api/nothing", {}, 404, "NotFound"),
    ],
)
def test_bad_requests_name_the_failed_check(
    example: RunningExample, path: str, body: object, status: int, error: str
) -> None:
    got_status, answer = _post(example, path, body)
    assert (got_status, answer["error"]) == (status, error), answer


def test_bad_amounts_are_refused(example: RunningExample) -> None:
    name, _, _ = _sign_up(example)
    for value in ("-1", "1.5", True, 2**256):
        status, answer = _post(
            example, "/api/tx/options", {"user": name, "to": "0x" + "22" * 20, "value": value}
        )
        assert (status, answer["error"]) == (400, "InvalidRequest"), value


def test_a_taken_user_name_cannot_sign_up_again(example: RunningExample) -> None:
    name, _, _ = _sign_up(example)
    status, answer = _post(example, "/api/register/options", {"user": name})
    assert (status, answer["error"]) == (409, "AccountAlreadyExists")


def test_another_users_passkey_cannot_approve(example: RunningExample) -> None:
    alice, _, _ = _sign_up(example)
    _, mallory_key, _ = _sign_up(example)
    status, request = _post(example, "/api/tx/options", {"user": alice, "to": "0x" + "33" * 20, "value": "1"})
    assert status == 200
    # Mallory's passkey is not among the credentials allowed for Alice's transaction.
    forged = mallory_key.sign(b64url_decode(request["options"]["challenge"]))
    status, answer = _post(example, "/api/tx/submit", {"user": alice, "credential": forged.to_json()})
    assert (status, answer["error"]) == (403, "CredentialNotAllowed"), answer
    assert example.eth.get_balance("0x" + "33" * 20) == 0


def test_a_sign_in_assertion_is_not_a_transaction_approval(example: RunningExample) -> None:
    name, passkey, _ = _sign_up(example)
    status, options = _post(example, "/api/login/options", {"user": name})
    login = passkey.sign(b64url_decode(options["challenge"]))
    status, answer = _post(example, "/api/tx/submit", {"user": name, "credential": login.to_json()})
    assert (status, answer["error"]) == (409, "NoPendingTransaction"), answer


def test_the_same_transaction_asked_twice_gets_the_same_challenge(example: RunningExample) -> None:
    name, passkey, _ = _sign_up(example)
    body = {"user": name, "to": "0x" + "44" * 20, "value": "2"}
    first = _post(example, "/api/tx/options", body)[1]
    again = _post(example, "/api/tx/options", body)[1]
    assert first["options"]["challenge"] == again["options"]["challenge"]
    approval = passkey.sign(b64url_decode(again["options"]["challenge"]))
    status, answer = _post(example, "/api/tx/submit", {"user": name, "credential": approval.to_json()})
    assert (status, answer["validatorAccepted"]) == (200, True)


def test_a_second_passkey_is_linked_and_then_signs_alone(example: RunningExample) -> None:
    name, first, signed_up = _sign_up(example)
    second = HeadlessPasskey.generate(
        rp_id="localhost", origin=example.server.origin, counter_mode="increment"
    )
    status, options = _post(example, "/api/keys/options", {"user": name})
    assert status == 200, options
    excluded = [b64url_decode(c["id"]) for c in options["excludeCredentials"]]
    assert excluded == [first.credential_id]
    status, request = _post(
        example, "/api/keys/link", {"user": name, "credential": second.register_from_options(options)}
    )
    assert status == 200, request
    assert b64url_decode(request["transaction"]["linksPasskey"]) == second.credential_id

    # Until the link is approved, the new passkey cannot approve anything.
    early = second.sign(b64url_decode(request["options"]["challenge"]))
    status, answer = _post(example, "/api/tx/submit", {"user": name, "credential": early.to_json()})
    assert (status, answer["error"]) == (403, "CredentialNotAllowed"), answer

    approval = first.sign(b64url_decode(request["options"]["challenge"]))
    status, answer = _post(example, "/api/tx/submit", {"user": name, "credential": approval.to_json()})
    assert (status, answer["validatorAccepted"]) == (200, True), answer

    recipient = to_checksum_address(secrets.token_bytes(20))
    _approve(example, name, second, recipient, 77)
    assert example.eth.get_balance(recipient) == 77
    # Signing in with the new passkey (discoverable: no user name given) finds the same account.
    status, answer = _post(example, "/api/login/verify", {"credential": _login(example, second)})
    assert (status, answer["user"], answer["account"]) == (200, name, signed_up["account"])


def _login(example: RunningExample, passkey: HeadlessPasskey) -> dict[str, Any]:
    status, options = _post(example, "/api/login/options", {})
    assert status == 200, options
    return passkey.sign(b64url_decode(options["challenge"])).to_json()


def test_a_failed_account_creation_leaves_no_passkey_behind() -> None:
    broke = Account.create()  # pays for nothing: creating the account fails on-chain
    with contextlib.ExitStack() as stack:
        node = stack.enter_context(AnvilNode())
        validator = deploy_validator(node.eth, node.accounts[0])
        ex = stack.enter_context(
            running_example(flow="era", node_url=node.url, funder=broke, validator=validator, serve=True)
        )
        name = f"api-{secrets.token_hex(4)}"
        passkey = HeadlessPasskey.generate(rp_id="localhost", origin=ex.server.origin)
        status, options = _post(ex, "/api/register/options", {"user": name})
        assert status == 200, options
        created = passkey.register_from_options(options)
        status, answer = _post(ex, "/api/register/verify", {"user": name, "credential": created})
        # The node refused the funding transaction: a remote failure, named.
        assert (status, answer["error"]) == (502, "TransactionRejected"), answer
        with pytest.raises(CredentialNotFound):
            ex.backend.rp.store.get_credential(passkey.credential_id)

        # Once the funder has money, the same passkey signs up: nothing of the first attempt is in the way.
        node.set_balance(broke.address, 10**20)
        status, options = _post(ex, "/api/register/options", {"user": name})
        assert options["excludeCredentials"] == []
        status, answer = _post(
            ex, "/api/register/verify", {"user": name, "credential": passkey.register_from_options(options)}
        )
        assert status == 200, answer
