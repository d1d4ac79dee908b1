"""End to end, Era flow: the example dapp in Chromium with a virtual authenticator, the backend, and the Era
validator on anvil. What real browsers do is covered: high-s signatures, extra clientDataJSON keys, a
missing crossOrigin, a foreign origin, a replayed assertion and a reused challenge. The page talks to the
backend with its own session cookie; tests that craft an assertion post it from the page too (``tab.api``)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_private_key
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from examples.dapp_backend import ExampleServer, RunningExample, eth_text, running_example
from sso_signer._codec import b64url_decode
from sso_signer.sso._signature import decode_era_custom_signature
from sso_signer.webauthn import AuthenticatorData, HeadlessPasskey, P256PublicKey
from sso_signer.webauthn._client_data import CollectedClientData
from sso_signer.webauthn._p256 import P256_HALF_N, EcdsaSignature
from sso_signer.zksync import Eip712Transaction
from tests.browser.conftest import Tab
from tests.browser.example_client import ROOMY, PageClient

pytestmark = pytest.mark.browser

CHROMIUM_EXTRA_KEY = {
    "other_keys_can_be_added_here": "do not compare clientDataJSON against a template. See https://goo.gl/yabPex"
}


@pytest.fixture(scope="module")
def example() -> Iterator[RunningExample]:
    with running_example(flow="era", serve=True, limits=ROOMY) as running:
        yield running


@pytest.fixture(scope="module")
def other_origin(example: RunningExample) -> Iterator[ExampleServer]:
    # The same app on another port: a different web origin with the same rpId ("localhost").
    with ExampleServer(example.server.app) as server:
        yield server


def _user() -> str:
    return f"user-{secrets.token_hex(4)}"


def _details(shown: dict[str, Any]) -> dict[str, Any]:
    assert shown["state"] != "error", f"page reported {shown['message']}"
    parsed: dict[str, Any] = json.loads(shown["details"])
    return parsed


def _sign_up(tab: Tab, example: RunningExample) -> tuple[str, dict[str, Any]]:
    name = _user()
    tab.open(example.server.origin)
    tab.fill("name", name)
    return name, _details(tab.run("signup"))


def _browser_passkey(
    tab: Tab, example: RunningExample, credential_id: bytes, counter: int, origin: str | None = None
) -> HeadlessPasskey:
    """The virtual authenticator's key for ``credential_id``: to craft what Chromium only sometimes sends."""
    for credential in tab.page.authenticator_credentials(tab.authenticator_id):
        if b64url_decode(credential["credentialId"].replace("+", "-").replace("/", "_")) == credential_id:
            key = load_der_private_key(b64url_decode(_b64_to_url(credential["privateKey"])), password=None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            return HeadlessPasskey(
                key,
                credential_id=credential_id,
                rp_id="localhost",
                origin=origin or example.server.origin,
                counter_mode="increment",
                counter=counter,
                # Chromium's virtual authenticator is a device-bound one: backup flags off, as registered.
                backup_eligible=False,
                backup_state=False,
                # A resident key answers with its userHandle, as Chromium does (usernameless logins need it).
                user_handle=b64url_decode(_b64_to_url(credential.get("userHandle", ""))),
            )
    raise AssertionError("credential not in the virtual authenticator")


def _b64_to_url(text: str) -> str:
    return text.replace("+", "-").replace("/", "_").rstrip("=")


def _call(
    example: RunningExample, signature: str, types: list[str], args: list[Any], sender: str | None = None
) -> bytes:
    data = function_signature_to_4byte_selector(signature) + abi_encode(types, args)
    tx: dict[str, object] = {"to": example.validator, "data": data}
    if sender is not None:
        tx["from"] = sender
    return example.eth.call(tx)


def _on_chain_key(
    example: RunningExample, origin: str, credential_id: bytes, account: str
) -> tuple[int, int]:
    answer = _call(
        example,
        "getAccountKey(string,bytes,address)",
        ["string", "bytes", "address"],
        [origin, credential_id, account],
    )
    x, y = abi_decode(["bytes32[2]"], answer)[0]
    return int.from_bytes(x, "big"), int.from_bytes(y, "big")


# --- sign-up and sign-in ---


def test_sign_up_installs_the_browser_passkey_on_chain(tab: Tab, example: RunningExample) -> None:
    name, result = _sign_up(tab, example)
    assert result["user"] == name
    credential_id = b64url_decode(result["credentialId"])
    created = tab.last_credential()
    client_data = CollectedClientData(b64url_decode(created["response"]["clientDataJSON"]))
    assert (client_data.type, client_data.origin) == ("webauthn.create", example.server.origin)

    held = tab.page.authenticator_credentials(tab.authenticator_id)
    assert [b64url_decode(_b64_to_url(c["credentialId"])) for c in held] == [credential_id]
    key = load_der_private_key(b64url_decode(_b64_to_url(held[0]["privateKey"])), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    public = P256PublicKey.from_cryptography(key.public_key())
    # The validator holds the browser's key under the page origin, for the new account.
    assert _on_chain_key(example, example.server.origin, credential_id, result["account"]) == (
        public.x,
        public.y,
    )


def test_sign_in_requires_user_verification(tab: Tab, example: RunningExample) -> None:
    name, signed_up = _sign_up(tab, example)
    tab.open(example.server.origin)  # a fresh page: nobody signed in
    tab.fill("name", name)
    signed_in = _details(tab.run("signin"))
    assert (signed_in["user"], signed_in["account"]) == (name, signed_up["account"])
    posted = tab.last_credential()
    assert AuthenticatorData(b64url_decode(posted["response"]["authenticatorData"])).user_verified

    # The same passkey without user verification: the backend refuses it, naming the check.
    passkey = _browser_passkey(tab, example, b64url_decode(signed_up["credentialId"]), counter=1000)
    status, options = tab.api("/api/login/options", {"user": name})
    assert status == 200
    assert options["userVerification"] == "required"
    unverified = passkey.sign(b64url_decode(options["challenge"]), user_verified=False)
    status, answer = tab.api("/api/login/verify", {"credential": unverified.to_json()})
    assert (status, answer["rule"]) == (403, "user_verification_missing")

    # An authenticator that cannot verify the user cannot even create a passkey: registration requires UV.
    tab.page.set_user_verified(tab.authenticator_id, False)
    tab.open(example.server.origin)
    tab.fill("name", _user())
    tab.click("signup")
    shown = tab.wait_state("signup-done")
    assert shown["state"] == "error"
    assert "NotAllowedError" in shown["message"]


# --- transactions ---


def _approve(tab: Tab, to: str, wei: int) -> dict[str, Any]:
    tab.fill("to", to)
    tab.fill("value", eth_text(wei))  # the page takes ETH
    result = _details(tab.run("approve"))
    # The page lists the operation as included, with its transaction hash.
    row = tab.page.evaluate(
        "[...document.querySelectorAll('#operations tr')].map((r) => [r.dataset.status, r.textContent])[0]"
    )
    assert row[0] == "included", row
    assert result["transactionHash"][:10] in row[1]
    return result


def _fresh_address() -> str:
    return to_checksum_address(secrets.token_bytes(20))


def test_browser_approval_is_accepted_by_the_validator_on_anvil(tab: Tab, example: RunningExample) -> None:
    _, account = _sign_up(tab, example)
    recipient = _fresh_address()
    result = _approve(tab, recipient, 12_345)
    assert result["validatorAccepted"] is True

    tx = Eip712Transaction.parse(bytes.fromhex(result["rawTransaction"][2:]))
    assert (tx.from_address, tx.to, tx.value) == (account["account"], recipient, 12_345)
    assert "0x" + tx.signed_hash().hex() == result["signedHash"]
    envelope = decode_era_custom_signature(tx.custom_signature)
    fat = envelope.fat_signature
    assert envelope.validator == example.validator
    assert fat.s <= P256_HALF_N  # the validator only accepts low-s
    # Exactly the bytes the browser produced are inside the signature.
    posted = tab.last_credential()["response"]
    assert fat.client_data_json == b64url_decode(posted["clientDataJSON"])
    assert fat.authenticator_data == b64url_decode(posted["authenticatorData"])

    # Ask the validator ourselves: valid from the account, not from any other address (keys are per account).
    accepts = ["bytes32", "bytes"], [tx.signed_hash(), fat.encode()]
    assert abi_decode(
        ["bool"], _call(example, "validateSignature(bytes32,bytes)", *accepts, account["account"])
    )[0]
    assert not abi_decode(["bool"], _call(example, "validateSignature(bytes32,bytes)", *accepts, recipient))[
        0
    ]
    assert example.eth.get_balance(recipient) == 12_345


def test_high_s_browser_signatures_are_normalised(tab: Tab, example: RunningExample) -> None:
    _sign_up(tab, example)
    recipient = _fresh_address()
    seen: set[bool] = set()
    approvals = 0
    # Chromium's authenticator returns high-s about half the time; approve until both kinds were accepted.
    while seen != {True, False} and approvals < 30:
        result = _approve(tab, recipient, 1)
        approvals += 1
        raw = EcdsaSignature.from_der(b64url_decode(tab.last_credential()["response"]["signature"]))
        assert result["lowS"] is raw.is_low_s
        seen.add(raw.is_low_s)
    assert seen == {True, False}, f"{approvals} approvals, all low-s={seen}"
    assert example.eth.get_balance(recipient) == approvals


def test_client_data_variants_real_browsers_send_are_accepted(tab: Tab, example: RunningExample) -> None:
    name, signed_up = _sign_up(tab, example)
    account = signed_up["account"]
    passkey = _browser_passkey(tab, example, b64url_decode(signed_up["credentialId"]), counter=1000)
    variants: list[dict[str, Any]] = [
        {"extra_client_data": CHROMIUM_EXTRA_KEY},  # Chromium, sometimes
        {"cross_origin": None},  # Safari omits crossOrigin
        {"cross_origin": None, "extra_client_data": CHROMIUM_EXTRA_KEY},
    ]
    recipient = _fresh_address()
    for variant in variants:
        status, options = tab.api("/api/login/options", {"user": name})
        login = passkey.sign(b64url_decode(options["challenge"]), **variant)
        status, answer = tab.api("/api/login/verify", {"credential": login.to_json()})
        assert (status, answer.get("user")) == (200, name), answer

        status, request = tab.api("/api/tx/options", {"to": recipient, "value": eth_text(7)})
        assert status == 200, request
        approval = passkey.sign(b64url_decode(request["options"]["challenge"]), **variant)
        assert ("crossOrigin" in approval.client_data.data) is (
            variant.get("cross_origin", False) is not None
        )
        body = {"opId": request["opId"], "credential": approval.to_json()}
        status, answer = tab.api("/api/tx/submit", body)
        assert (status, answer.get("validatorAccepted")) == (200, True), answer
    assert example.eth.get_balance(recipient) == 7 * len(variants)
    assert account == signed_up["account"]


def test_a_second_origin_is_rejected(tab: Tab, example: RunningExample, other_origin: ExampleServer) -> None:
    name, signed_up = _sign_up(tab, example)
    # The same app on another origin: its page's requests carry that Origin and are refused before any
    # ceremony starts.
    tab.open(other_origin.origin)
    tab.fill("name", name)
    tab.click("signin")
    shown = tab.wait_state("signin-done")
    assert shown["state"] == "error"
    assert shown["message"].startswith("CrossSiteRequest:"), shown["message"]
    assert other_origin.origin in shown["message"]

    # An assertion made on that origin (same rpId, so the browser would offer the passkey) and posted to
    # the real origin is refused by the relying party's own origin check.
    credential_id = b64url_decode(signed_up["credentialId"])
    foreign = _browser_passkey(tab, example, credential_id, counter=2000, origin=other_origin.origin)
    with PageClient(example) as client:
        status, answer = client.sign_in(foreign)
    assert (status, answer["rule"]) == (403, "origin_mismatch"), answer
    assert other_origin.origin in answer["message"]


def test_a_replayed_assertion_is_rejected(tab: Tab, example: RunningExample) -> None:
    name, _ = _sign_up(tab, example)
    tab.fill("name", name)
    _details(tab.run("signin"))
    login = tab.last_credential()
    # Replayed in the same session: its challenge was used up by the sign-in.
    status, answer = tab.api("/api/login/verify", {"credential": login})
    assert (status, answer["error"]) == (401, "NotSignedIn"), answer
    # Replayed over a fresh challenge of this session: it answers another challenge.
    tab.api("/api/login/options", {})
    status, answer = tab.api("/api/login/verify", {"credential": login})
    assert (status, answer["rule"]) == (403, "challenge_mismatch"), answer

    recipient = _fresh_address()
    _approve(tab, recipient, 5)
    op_id = tab.page.evaluate("window.sso.lastRequest.opId")
    status, answer = tab.api("/api/tx/submit", {"opId": op_id, "credential": tab.last_credential()})
    assert (status, answer["error"]) == (409, "NoPendingTransaction"), answer
    assert example.eth.get_balance(recipient) == 5  # sent once


def test_a_replayed_assertion_of_a_synced_passkey_is_rejected(example: RunningExample) -> None:
    # Synced passkeys keep their counter at 0, so only the single-use operation and challenge stop a replay.
    with PageClient(example) as client:
        _, passkey, _ = client.sign_up(passkey=client.passkey(counter_mode="fixed"))
        status, request = client.prepare(_fresh_address(), "0")
        assert status == 200, request
        signed = passkey.sign(b64url_decode(request["options"]["challenge"]))
        assert signed.authenticator_data.counter == 0
        body = {"opId": request["opId"], "credential": signed.to_json()}
        status, answer = client.post("/api/tx/submit", body)
        assert (status, answer.get("validatorAccepted")) == (200, True), answer
        status, answer = client.post("/api/tx/submit", body)
        assert (status, answer["error"]) == (409, "NoPendingTransaction"), answer
        # Even in another operation's name, the used challenge cannot be spent again.
        status, other = client.prepare(_fresh_address(), "0.5")
        status, answer = client.post(
            "/api/tx/submit", {"opId": other["opId"], "credential": signed.to_json()}
        )
        assert (status, answer["rule"]) == (403, "challenge_mismatch"), answer


def test_a_reused_challenge_is_rejected(tab: Tab, example: RunningExample) -> None:
    _sign_up(tab, example)
    recipient = _fresh_address()
    # Two fresh browser assertions over one challenge: only the first one counts.
    op_id, first, second = tab.page.evaluate(
        f"""(async () => {{
          const request = await api("/api/tx/options", {{to: {recipient!r}, value: "0.000000000000000003"}});
          return [request.opId, await usePasskey(request.options), await usePasskey(request.options)];
        }})()"""
    )
    assert first["response"]["signature"] != second["response"]["signature"]
    status, answer = tab.api("/api/tx/submit", {"opId": op_id, "credential": first})
    assert (status, answer["validatorAccepted"]) == (200, True), answer
    status, answer = tab.api("/api/tx/submit", {"opId": op_id, "credential": second})
    assert (status, answer["error"]) == (409, "NoPendingTransaction"), answer
    assert example.eth.get_balance(recipient) == 3


def test_a_new_passkey_is_linked_to_the_account(tab: Tab, example: RunningExample) -> None:
    name, signed_up = _sign_up(tab, example)
    account, first_id = signed_up["account"], b64url_decode(signed_up["credentialId"])
    (old_device,) = tab.page.authenticator_credentials(tab.authenticator_id)
    # A second device: the first one holds an excluded credential and would refuse to create another.
    tab.page.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": tab.authenticator_id})
    tab.authenticator_id = tab.page.add_virtual_authenticator()
    created = tab.page.evaluate("(async () => createPasskey(await api('/api/keys/options', {})))()")
    new_id = b64url_decode(created["rawId"])
    assert new_id != first_id
    # Approving the link needs a passkey the account already has: bring the old credential to this device
    # (as a non-discoverable one: a device keeps one discoverable credential per user and site).
    carried = {k: old_device[k] for k in ("credentialId", "rpId", "privateKey", "signCount")}
    carried["isResidentCredential"] = False
    tab.page.send("WebAuthn.addCredential", {"authenticatorId": tab.authenticator_id, "credential": carried})
    result = tab.page.evaluate(
        """(async () => {
          const request = await api("/api/keys/link", {credential: window.sso.lastCredential});
          return api("/api/tx/submit", {opId: request.opId, credential: await usePasskey(request.options)});
        })()"""
    )
    assert result["validatorAccepted"] is True
    assert b64url_decode(tab.last_credential()["rawId"]) == first_id  # the old passkey approved the link
    assert _on_chain_key(example, example.server.origin, new_id, account) != (0, 0)

    # Drop the old passkey: the next approval, through the page, can only be signed by the new one.
    remove = {"authenticatorId": tab.authenticator_id, "credentialId": old_device["credentialId"]}
    tab.page.send("WebAuthn.removeCredential", remove)
    tab.open(example.server.origin)
    tab.fill("name", name)
    _details(tab.run("signin"))
    recipient = _fresh_address()
    _approve(tab, recipient, 9)
    assert b64url_decode(tab.last_credential()["rawId"]) == new_id
    assert example.eth.get_balance(recipient) == 9


def test_the_app_served_twice_keeps_a_backend_per_server(example: RunningExample) -> None:
    """One app in two servers of one process (as ``other_origin`` serves it): each server's requests run on
    the backend its own lifespan opened in its own event loop, and stopping one leaves the other serving (the
    shared backend list used to hand the first server's backend to both, then empty it for both)."""

    def options(port: int) -> int:
        # The app's registered origin on either port: the origin check is the app's, not the server's.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            headers = {"origin": example.server.origin}
            return http.post("/api/register/options", json={"user": _user()}, headers=headers).status_code

    with ExampleServer(example.server.app) as second:
        assert options(second.port) == 200
        assert options(example.server.port) == 200
    assert options(example.server.port) == 200
