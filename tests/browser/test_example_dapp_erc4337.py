"""End to end, ERC-4337 flow: passkeys made in Chromium own ModularSmartAccounts on anvil, and transfers
approved in the browser really execute through EntryPoint v0.8."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_private_key
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from examples.dapp_backend import RunningExample, eth_text, running_example
from sso_signer import hex_decode
from sso_signer._codec import b64url_decode
from sso_signer.erc4337 import ENTRY_POINT_V08, EntryPoint
from sso_signer.exceptions import SendOutcomeUnknown
from sso_signer.webauthn import P256PublicKey
from sso_signer.webauthn._p256 import EcdsaSignature
from tests.browser.conftest import Tab
from tests.browser.example_client import ROOMY

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def example() -> Iterator[RunningExample]:
    with running_example(flow="erc4337", serve=True, limits=ROOMY) as running:
        yield running


def _details(shown: dict[str, Any]) -> dict[str, Any]:
    assert shown["state"] != "error", f"page reported {shown['message']}"
    parsed: dict[str, Any] = json.loads(shown["details"])
    return parsed


def _url(text: str) -> str:
    return text.replace("+", "-").replace("/", "_").rstrip("=")


def _sign_up(tab: Tab, example: RunningExample) -> dict[str, Any]:
    tab.open(example.server.origin)
    tab.fill("name", f"user-{secrets.token_hex(4)}")
    return _details(tab.run("signup"))


def _approve(tab: Tab, to: str, wei: int) -> dict[str, Any]:
    tab.fill("to", to)
    tab.fill("value", eth_text(wei))  # the page takes ETH
    result = _details(tab.run("approve"))
    # The account panel shows the new balance in ETH.
    shown = tab.page.evaluate("document.getElementById('balance').textContent")
    assert shown == f"{tab.page.evaluate('window.sso.view.balanceEth')} ETH"
    return result


def test_sign_up_deploys_an_account_holding_the_browser_passkey(tab: Tab, example: RunningExample) -> None:
    signed_up = _sign_up(tab, example)
    account = signed_up["account"]
    assert example.eth.get_code(account) != b""
    (held,) = tab.page.authenticator_credentials(tab.authenticator_id)
    key = load_der_private_key(b64url_decode(_url(held["privateKey"])), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    public = P256PublicKey.from_cryptography(key.public_key())
    data = function_signature_to_4byte_selector("getAccountKey(string,bytes,address)") + abi_encode(
        ["string", "bytes", "address"],
        [example.server.origin, b64url_decode(signed_up["credentialId"]), account],
    )
    ((x, y),) = abi_decode(["bytes32[2]"], example.eth.call({"to": example.validator, "data": data}))
    assert (int.from_bytes(x, "big"), int.from_bytes(y, "big")) == (public.x, public.y)


def test_browser_approved_transfers_execute_with_high_and_low_s(tab: Tab, example: RunningExample) -> None:
    account = _sign_up(tab, example)["account"]
    recipient = to_checksum_address(secrets.token_bytes(20))
    seen: set[bool] = set()
    sent = 0
    before = example.eth.get_balance(account)
    gas_cost = 0
    # Chromium's authenticator returns high-s about half the time; send until both kinds went through.
    while seen != {True, False} and sent < 30:
        result = _approve(tab, recipient, 1000)
        sent += 1
        gas_cost += int(result["gasCost"])
        raw = EcdsaSignature.from_der(b64url_decode(tab.last_credential()["response"]["signature"]))
        assert result["lowS"] is raw.is_low_s
        seen.add(raw.is_low_s)
    assert seen == {True, False}, f"{sent} approvals, all low-s={seen}"
    # The transfers really happened, paid by the account: value to the recipient, gas to the bundler (the
    # unused part of each prefund stays the account's deposit in the EntryPoint).
    assert example.eth.get_balance(recipient) == 1000 * sent
    deposit = EntryPoint(example.eth, ENTRY_POINT_V08).balance_of(account)
    assert example.eth.get_balance(account) + deposit == before - 1000 * sent - gas_cost


def test_adding_a_passkey_on_the_same_device_explains_why_not(tab: Tab, example: RunningExample) -> None:
    _sign_up(tab, example)
    tab.click("addkey")
    shown = tab.wait_state("addkey-done")
    # excludeCredentials lists the account's passkey, so this authenticator refuses to make another.
    assert shown["state"] == "error"
    assert shown["message"].startswith("InvalidStateError:"), shown["message"]
    assert "another device" in shown["message"]
    assert len(tab.page.authenticator_credentials(tab.authenticator_id)) == 1


@pytest.fixture(scope="module")
def example_with_bundler() -> Iterator[RunningExample]:
    with running_example(flow="erc4337", bundler=True, serve=True, limits=ROOMY) as running:
        yield running


@pytest.mark.bundler
def test_a_browser_approved_transfer_goes_through_the_alto_bundler(
    tab: Tab, example_with_bundler: RunningExample
) -> None:
    example = example_with_bundler
    account = _sign_up(tab, example)["account"]
    recipient = to_checksum_address(secrets.token_bytes(20))
    result = _approve(tab, recipient, 31_337)
    assert result["executedBy"].startswith("bundler")
    assert example.eth.get_balance(recipient) == 31_337
    # The bundler estimated the gas (no fixed limits): the operation's cost is what the account paid.
    deposit = EntryPoint(example.eth, ENTRY_POINT_V08).balance_of(account)
    spent = 10**18 - example.eth.get_balance(account) - deposit
    assert spent == 31_337 + int(result["gasCost"])


def test_the_page_shows_the_user_op_hash_of_a_send_whose_outcome_is_unknown(
    tab: Tab, example: RunningExample
) -> None:
    # The UserOperation really runs; then its receipt is "lost": the answer knows only its userOpHash. The
    # page tracked only transactionHash, so the sent row showed no hash at all.
    _sign_up(tab, example)
    recipient = to_checksum_address(secrets.token_bytes(20))
    chain: Any = example.backend.chain
    real = chain.submit

    def submit(*args: Any) -> Any:
        result = yield from real(*args)
        raise SendOutcomeUnknown("the receipt was lost", user_op_hash=hex_decode(result["userOpHash"]))

    chain.submit = submit
    try:
        answer = tab.page.evaluate(
            f"""(async () => {{
              const request = await api("/api/tx/options", {{to: {recipient!r}, value: "0.5"}});
              try {{ await submitOperation(await signOperation(request)); }}
              catch (error) {{
                renderOperations(window.sso.view.operations);
                const userOpHash = request.transaction.userOpHash;
                return {{sent: error.sent, userOpHash, hash: error.transactionHash}};
              }}
              return null;
            }})()"""
        )
    finally:
        del chain.submit
    assert answer is not None
    assert (answer["sent"], answer["hash"]) == (True, None), answer
    cells = tab.page.evaluate(
        "[...document.querySelectorAll('#operations tr')[0].cells].map((c) => c.textContent)"
    )
    assert cells[1] == "sent", cells
    assert cells[3].startswith(answer["userOpHash"][:10]), cells  # was empty
    assert example.eth.get_balance(recipient) == 5 * 10**17  # it did run


def test_the_page_shows_an_operation_move_from_signed_to_included(tab: Tab, example: RunningExample) -> None:
    account = _sign_up(tab, example)["account"]
    recipient = to_checksum_address(secrets.token_bytes(20))
    row = "[...document.querySelectorAll('#operations tr')].map((r) => [r.dataset.status, r.textContent])[0]"
    status, text = tab.page.evaluate(
        f"""(async () => {{
          const request = await api("/api/tx/options", {{to: {recipient!r}, value: "0.25"}});
          window.signedOperation = await signOperation(request);
          return {row};
        }})()"""
    )
    tab.snap("signed")
    user_op_hash = tab.page.evaluate("window.signedOperation.op.hash")
    assert status == "signed"
    assert "0.25 ETH" in text
    assert user_op_hash[:10] in text
    assert example.eth.get_balance(recipient) == 0  # signed is not sent

    result = tab.page.evaluate(
        "(async () => { const r = await submitOperation(window.signedOperation); "
        "await refresh(); return r; })()"
    )
    tab.snap("included")
    status, text = tab.page.evaluate(row)
    assert (status, result["status"]) == ("included", "included")
    assert result["transactionHash"][:10] in text
    assert example.eth.get_balance(recipient) == 25 * 10**16
    balance = tab.page.evaluate("document.getElementById('balance').textContent")
    assert balance == f"{eth_text(example.eth.get_balance(account))} ETH"
