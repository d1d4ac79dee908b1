"""The passkey signer and the accounts' signing steps: both generations, every assertion provider kind, sync
and async, and the refusals. Signing asks only the passkey: no request reaches the (unused) node URL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import pathlib
from typing import Any

import pytest

from sso_signer._codec import b64url_decode, b64url_encode
from sso_signer._shell import drive
from sso_signer.accounts import (
    AssertionRequest,
    AsyncEraAccount,
    AsyncJsonAssertionProvider,
    EraAccount,
    EraNetwork,
    Erc4337Account,
    HeadlessAssertionProvider,
    JsonAssertionProvider,
    PasskeyAccount,
    PasskeySigner,
)
from sso_signer.exceptions import ErrorCode
from sso_signer.rpc import AsyncEthClient, EthClient
from sso_signer.sso import (
    FatSignature,
    personal_sign_hash,
    preflight,
    typed_data_sign_hash,
    wrap_typed_data_signature,
)
from sso_signer.sso._signature import decode_era_custom_signature, decode_erc4337_passkey_signature
from sso_signer.webauthn import Assertion, HeadlessPasskey
from sso_signer.zksync import Eip712Transaction
from tests.errors import raises_rule

ACCOUNT = "0x1111111111111111111111111111111111111111"
VALIDATOR = "0x006ecc2D79242F1986b7cb5F636d6E3f499f1026"
CHAIN = 300
MAIL: dict[str, Any] = {
    "domain": {"name": "Mail", "version": "1", "chainId": CHAIN, "verifyingContract": "0x" + "cc" * 20},
    "types": {"Mail": [{"name": "to", "type": "address"}, {"name": "body", "type": "string"}]},
    "primaryType": "Mail",
    "message": {"to": "0x" + "bb" * 20, "body": "hi"},
}


UNUSED = "http://127.0.0.1:9"  # nothing listens: a request reaching it would fail the test
NETWORK = EraNetwork(name="test", chain_id=CHAIN, passkey_validator=VALIDATOR)


def _era(credential: Any, provider: Any = None, **options: Any) -> EraAccount:
    return EraAccount(EthClient(UNUSED), NETWORK, ACCOUNT, credential, provider=provider, **options)


def _async_era(credential: Any, provider: Any = None) -> AsyncEraAccount:
    return AsyncEraAccount(AsyncEthClient(UNUSED), NETWORK, ACCOUNT, credential, provider=provider)


def _signer(passkey: HeadlessPasskey, generation: Any = "erc4337", chain_id: int = 31337) -> PasskeySigner:
    return PasskeySigner(
        generation=generation, address=ACCOUNT, credential=passkey, validator=VALIDATOR, chain_id=chain_id
    )


def _run(flow: Any, passkey: HeadlessPasskey) -> Any:
    return drive(flow, HeadlessAssertionProvider(passkey).get_assertion)


@pytest.fixture(scope="module")
def passkey() -> HeadlessPasskey:
    return HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")


def _tx(**changes: Any) -> Eip712Transaction:
    fields: dict[str, Any] = {
        "chain_id": CHAIN,
        "nonce": 5,
        "from_address": ACCOUNT,
        "to": "0x2222222222222222222222222222222222222222",
        "value": 10**15,
        "gas_limit": 100_000_000,
        "max_fee_per_gas": 25_000_000,
        "max_priority_fee_per_gas": 1,
    }
    fields.update(changes)
    return Eip712Transaction(**fields)


def test_era_sign_transaction_is_a_sendable_0x71(passkey: HeadlessPasskey) -> None:
    account = _era(passkey)
    assert isinstance(account, PasskeyAccount)
    assert (account.address, account.chain_id) == (ACCOUNT, CHAIN)
    tx = _tx()
    raw = account.sign_transaction(tx).serialize()
    assert raw[0] == 0x71
    parsed = Eip712Transaction.parse(raw)
    assert parsed.replace(custom_signature=b"") == tx
    custom = decode_era_custom_signature(parsed.custom_signature)
    assert custom.validator == VALIDATOR
    assert custom.validator_data == (b"",)
    fat = custom.fat_signature
    assert preflight("era", tx.signed_hash(), fat, passkey.credential).public_key == passkey.public_key
    assert raw == tx.replace(custom_signature=custom.encode()).serialize()


def test_era_message_and_typed_data_use_erc7739(passkey: HeadlessPasskey) -> None:
    account = _era(passkey)
    domain = account.signer.domain
    assert domain.name == "SSO1271"
    blob = account.sign_message("hello")
    fat = decode_era_custom_signature(blob).fat_signature
    preflight("era", personal_sign_hash("hello", domain), fat, passkey.credential)
    typed = account.sign_typed_data(MAIL)
    inner = typed[: len(blob)]
    fat2 = decode_era_custom_signature(inner).fat_signature
    preflight("era", typed_data_sign_hash(MAIL, domain), fat2, passkey.credential)
    assert typed == wrap_typed_data_signature(inner, MAIL)
    raw_hash = hashlib.sha256(b"x").digest()
    preflight(
        "era",
        raw_hash,
        decode_era_custom_signature(account.unsafe_sign_hash(raw_hash)).fat_signature,
        passkey,
    )


def test_erc4337_user_operation_and_messages(passkey: HeadlessPasskey) -> None:
    from sso_signer.erc4337 import ENTRY_POINT_V08, UserOperation, user_operation_hash

    account = _signer(passkey)
    op = UserOperation(sender=ACCOUNT, nonce=3, call_data=b"\x12\x34")
    sig = _run(account.sign_user_operation(op), passkey)
    validator, fat = decode_erc4337_passkey_signature(sig)
    assert validator == VALIDATOR
    digest = user_operation_hash(op, entry_point=ENTRY_POINT_V08, chain_id=31337)
    preflight("erc4337", digest, fat, passkey.credential)
    message_sig = _run(account.sign_message(b"\x00\x01"), passkey)
    assert message_sig[:20] == bytes.fromhex(VALIDATOR[2:])
    preflight(
        "erc4337", personal_sign_hash(b"\x00\x01", account.domain), message_sig[20:], passkey.credential
    )
    assert account.domain.name == "zksync-sso-1271"
    with raises_rule(ErrorCode.ACCOUNT_MISMATCH):
        _run(account.sign_user_operation(op.replace(sender="0x" + "99" * 20)), passkey)
    with raises_rule(ErrorCode.ACCOUNT_MISMATCH, match="era signer cannot sign a erc4337"):
        _run(_signer(passkey, "era").sign_user_operation(op), passkey)
    with raises_rule(ErrorCode.ACCOUNT_MISMATCH, match="erc4337 signer cannot sign a era"):
        _run(account.sign_transaction(_tx(chain_id=31337)), passkey)


def test_browser_round_trip_provider(passkey: HeadlessPasskey) -> None:
    seen: list[dict[str, Any]] = []

    def browser(options: dict[str, Any]) -> dict[str, Any]:
        # What a page would do: navigator.credentials.get(options) then send back the JSON.
        seen.append(options)
        return passkey.sign(b64url_decode(options["challenge"])).to_json()

    account = _era(passkey.credential, JsonAssertionProvider(browser))
    tx = _tx(nonce=9)
    raw = account.sign_transaction(tx).serialize()
    (options,) = seen
    assert options["userVerification"] == "required"
    assert options["rpId"] == "localhost"
    assert options["allowCredentials"] == [{"type": "public-key", "id": b64url_encode(passkey.credential_id)}]
    assert b64url_decode(options["challenge"]) == tx.signed_hash()
    fat = decode_era_custom_signature(Eip712Transaction.parse(raw).custom_signature).fat_signature
    preflight("era", tx.signed_hash(), fat, passkey.credential)


async def test_async_provider_waits_for_a_user(passkey: HeadlessPasskey) -> None:
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox: asyncio.Queue[str] = asyncio.Queue()

    async def deliver(options: dict[str, Any]) -> str:
        await outbox.put(options)
        return await inbox.get()

    async def user() -> None:

        options = await outbox.get()
        await inbox.put(json.dumps(passkey.sign(b64url_decode(options["challenge"])).to_json()))

    provider = AsyncJsonAssertionProvider(deliver)
    account = _async_era(passkey.credential, provider)
    tx = _tx(nonce=11)
    signed, _ = await asyncio.gather(account.sign_transaction(tx), user())
    fat = decode_era_custom_signature(signed.custom_signature).fat_signature
    preflight("era", tx.signed_hash(), fat, passkey.credential)
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION, match="async-only"):
        _era(passkey.credential, provider).sign_transaction(tx)  # the sync class cannot await it


async def test_async_api_with_headless_passkey(passkey: HeadlessPasskey) -> None:
    account = _async_era(passkey)
    blob = await account.sign_message("hi")
    preflight(
        "era",
        personal_sign_hash("hi", account.signer.domain),
        decode_era_custom_signature(blob).fat_signature,
        passkey,
    )
    typed = await account.sign_typed_data(MAIL)
    assert typed.endswith(wrap_typed_data_signature(b"", MAIL))


def test_wrong_sender_or_chain_is_refused(passkey: HeadlessPasskey) -> None:
    account = _era(passkey)
    with raises_rule(ErrorCode.ACCOUNT_MISMATCH):
        account.sign_transaction(_tx(from_address="0x" + "33" * 20))
    with raises_rule(ErrorCode.ACCOUNT_MISMATCH):
        account.sign_transaction(_tx(chain_id=324))


def test_assertion_for_another_credential_is_refused(passkey: HeadlessPasskey) -> None:
    other = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")

    class Other:
        def get_assertion(self, request: AssertionRequest) -> Assertion:
            return other.sign(request.challenge)

    account = _era(passkey.credential, Other())
    with raises_rule(ErrorCode.CREDENTIAL_MISMATCH):
        account.sign_message("x")


def test_provider_returning_garbage_is_refused(passkey: HeadlessPasskey) -> None:
    account = _era(passkey.credential, JsonAssertionProvider(lambda options: 42))
    with raises_rule(ErrorCode.ASSERTION_PROVIDER):
        account.sign_message("x")


def test_preflight_stops_an_unverified_assertion_before_it_is_sent(passkey: HeadlessPasskey) -> None:
    class NoUv:
        def get_assertion(self, request: AssertionRequest) -> Assertion:
            return passkey.sign(request.challenge, user_verified=False)

    strict = _era(passkey.credential, NoUv())
    with raises_rule(ErrorCode.FLAGS_UP_UV) as info:
        strict.sign_transaction(_tx())
    assert info.value.outcome == "return false"
    lax = _era(passkey.credential, NoUv(), run_preflight=False)
    fat = decode_era_custom_signature(lax.sign_transaction(_tx()).custom_signature)
    assert isinstance(fat.fat_signature, FatSignature)
    assert fat.fat_signature.authenticator_data[32] & 0x04 == 0


def test_bad_configuration_is_refused(passkey: HeadlessPasskey) -> None:
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION, match="get_assertion"):
        _era(passkey, provider=object())
    read_only = _era(passkey.credential)  # a bare credential cannot sign: the account reads and verifies
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION, match="no assertion provider"):
        read_only.sign_message("x")
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
        _signer(passkey, chain_id=0)
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION, match="generation"):
        _signer(passkey, generation="legacy")
    account = _era(passkey)
    assert "PRIVATE" not in (repr(account) + repr(account.signer)).upper()


async def test_sync_provider_serves_the_async_api_in_a_thread(passkey: HeadlessPasskey) -> None:
    import threading

    threads: list[str] = []

    def browser(options: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        return passkey.sign(b64url_decode(options["challenge"])).to_json()

    account = _async_era(passkey.credential, JsonAssertionProvider(browser))
    tx = _tx(nonce=12)
    signed = await account.sign_transaction(tx)
    assert threads
    assert threads[0] != threading.main_thread().name  # the event loop was not blocked
    fat = decode_era_custom_signature(signed.custom_signature).fat_signature
    preflight("era", tx.signed_hash(), fat, passkey.credential)


def test_erc4337_user_operation_for_another_entry_point(passkey: HeadlessPasskey) -> None:
    from sso_signer.erc4337 import UserOperation, user_operation_hash

    entry_point = "0x" + "44" * 20  # a non-default EntryPoint changes the hash that is signed
    account = _signer(passkey)
    op = UserOperation(sender=ACCOUNT, nonce=(7 << 64) | 1, call_data=b"\xe9\xae\x5c\x53")
    validator, fat = decode_erc4337_passkey_signature(
        _run(account.sign_user_operation(op, entry_point=entry_point), passkey)
    )
    assert validator == VALIDATOR
    digest = user_operation_hash(op, entry_point=entry_point, chain_id=31337)
    assert preflight("erc4337", digest, fat, passkey.credential).public_key == passkey.public_key
    typed = _run(account.sign_typed_data(MAIL), passkey)
    assert typed[:20] == bytes.fromhex(VALIDATOR[2:])
    preflight(
        "erc4337",
        typed_data_sign_hash(MAIL, account.domain),
        typed[20 : -len(wrap_typed_data_signature(b"", MAIL))],
        passkey,
    )


def test_the_signer_does_no_io_its_one_step_is_the_assertion_request(passkey: HeadlessPasskey) -> None:
    flow = _signer(passkey, "era", CHAIN).sign_message("hi")
    request = next(flow)
    assert isinstance(request, AssertionRequest)
    assert (request.purpose, request.rp_id, request.credential_id) == (
        "message",
        "localhost",
        passkey.credential_id,
    )
    with pytest.raises(StopIteration) as done:
        flow.send(passkey.sign(request.challenge))
    assert decode_era_custom_signature(done.value.value).validator == VALIDATOR


def test_both_generations_implement_the_one_interface() -> None:
    members = {name for name in dir(PasskeyAccount) if not name.startswith("_") and name not in dir(object)}
    assert {"send", "send_calls", "get_balance", "list_passkeys", "unsafe_sign_hash"} <= members
    for cls in (EraAccount, AsyncEraAccount, Erc4337Account):
        assert members <= set(dir(cls)), cls
    # One docstring per method, shared by the sync and async classes.
    assert EraAccount.send.__doc__ == AsyncEraAccount.send.__doc__


def test_the_signing_doc_runs_a_signer_without_an_account(passkey: HeadlessPasskey) -> None:
    """docs/signing.md "5. The signer" runs as printed with ``PasskeySigner.run`` (it named a helper that is
    no longer public), and gives what the generation's validator reads."""
    text = (pathlib.Path(__file__).resolve().parents[2] / "docs/signing.md").read_text()
    section = text[text.index("## 5. The signer") :]
    block = section[section.index("```python\n") + len("```python\n") : section.index("```\n", 10)]
    note = [{"name": "text", "type": "string"}]
    typed = {
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}], "Note": note},
        "primaryType": "Note",
        "domain": {"name": "doc"},
        "message": {"text": "hi"},
    }
    scope: dict[str, Any] = {"acct": ACCOUNT, "webauthn_validator": VALIDATOR, "typed": typed, "h": bytes(32)}
    scope["tx"] = _tx(chain_id=300)
    exec(compile(block, "signing.md", "exec"), scope)  # noqa: S102 - the doc's own block
    signed = Eip712Transaction.parse(scope["raw"])
    assert signed.chain_id == 300
    assert decode_era_custom_signature(signed.custom_signature).validator.lower() == VALIDATOR.lower()
    assert isinstance(scope["blob"], bytes)
    assert len(scope["blob"]) > 0
    era = _signer(passkey, "era", chain_id=300)
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
        era.run(era.sign_message("hi"), AsyncJsonAssertionProvider(_never))  # type: ignore[arg-type]


async def _never(options: dict[str, Any]) -> object:
    raise AssertionError("an async-only provider is refused before it is asked")
