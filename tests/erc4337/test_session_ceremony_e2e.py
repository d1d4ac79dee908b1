"""Creating a session through the relying-party ceremony, on anvil + EntryPoint v0.8 + Alto.

The account's passkey signs ``create_session`` through :class:`CeremonyAssertionProvider`: the userOpHash is
issued as the user's challenge in the store (SQLite file, and the PostgreSQL server the tests start), a
headless passkey answers the options JSON like a browser, and the relying party verifies the answer before
the account uses it. A replayed answer, another user's credential and an answer from another user's passkey
are refused before anything is sent; the stored counter moves with each signature.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sso_signer._codec import b64url_decode
from sso_signer.accounts import (
    AssertionRequest,
    AsyncErc4337Account,
    CeremonyAssertionProvider,
    Erc4337Account,
    LocalSessionKey,
)
from sso_signer.erc4337 import AsyncBundlerClient
from sso_signer.exceptions import ErrorCode
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.rpc import AsyncEthClient
from sso_signer.sso import SessionSpec, TransferPolicy, UsageLimit, account_salt
from sso_signer.webauthn import (
    AsyncRelyingParty,
    HeadlessPasskey,
    PasskeyStore,
    RelyingParty,
    open_async_store,
    open_store,
)
from tests.erc4337.test_session_e2e import funded_account
from tests.errors import raises_rule
from tests.needs import started_erc4337_stack

pytestmark = [pytest.mark.bundler, pytest.mark.chain]

ORIGIN = "http://localhost:5173"
RECIPIENT = "0x1111111111111111111111111111111111111111"
ETHER = 10**18


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalErc4337Stack]:
    with started_erc4337_stack(test_token=False) as running:
        yield running


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'passkeys.db'}"
    url: str = request.getfixturevalue("sso_postgres_url")
    return url


def relying_party(store: Any) -> RelyingParty:
    return RelyingParty(rp_id="localhost", rp_name="Session test", origins=ORIGIN, store=store)


def register(rp: RelyingParty, user: str) -> HeadlessPasskey:
    """A passkey registered for ``user`` through the registration ceremony (its handle: the user's)."""
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN, counter_mode="increment")
    handle = user.encode()
    options = rp.registration_options(user_name=user, user_handle=handle)
    rp.verify_registration(passkey.register_from_options(options), user_handle=handle)
    return passkey


class Browser:
    """Answers request options JSON like ``navigator.credentials.get`` with one of the allowed passkeys,
    and keeps every answer it gave (to replay one)."""

    def __init__(self, *passkeys: HeadlessPasskey) -> None:
        self.passkeys = {p.credential_id: p for p in passkeys}
        self.answers: list[dict[str, Any]] = []
        self.options: list[dict[str, Any]] = []
        self.replay: dict[str, Any] | None = None  # an earlier answer to give instead of signing

    def __call__(self, options: dict[str, Any]) -> dict[str, Any]:
        self.options.append(options)
        if self.replay is not None:
            return self.replay
        allowed = [b64url_decode(c["id"], field="allowCredentials.id") for c in options["allowCredentials"]]
        passkey = next(self.passkeys[cid] for cid in allowed if cid in self.passkeys)
        challenge = b64url_decode(options["challenge"], field="challenge")
        answer = passkey.sign(challenge, user_verified=options["userVerification"] == "required").to_json()
        self.answers.append(answer)
        return answer


def new_account(
    stack: LocalErc4337Stack, passkey: HeadlessPasskey, user: str, provider: Any
) -> Erc4337Account:
    return funded_account(stack, passkey, user, provider=provider)


def session_for(stack: LocalErc4337Stack, key: LocalSessionKey) -> SessionSpec:
    block = stack.eth.get_block("latest")
    assert block is not None
    return SessionSpec(
        signer=key.address,
        expires_at=int(block["timestamp"], 16) + 86_400,
        fee_limit=UsageLimit.lifetime(ETHER // 10),
        transfer_policies=(TransferPolicy(RECIPIENT, 10**15, UsageLimit.lifetime(3 * 10**15)),),
    )


def counter(store: PasskeyStore, passkey: HeadlessPasskey) -> int:
    return store.get_credential(passkey.credential_id).sign_count


def test_a_session_is_created_through_the_relying_party_and_a_replay_is_refused(
    stack: LocalErc4337Stack, store_url: str
) -> None:
    with open_store(store_url) as store:
        rp = relying_party(store)
        alice = register(rp, "alice")
        browser = Browser(alice)
        provider = CeremonyAssertionProvider(rp, user_handle=b"alice", callback=browser)
        account = new_account(stack, alice, f"ceremony-{store_url[:6]}@example.org", provider)
        before = counter(store, alice)

        key = LocalSessionKey.generate()
        spec = session_for(stack, key)
        assert account.create_session(spec, key).success
        assert len(browser.answers) == 1  # one ceremony, for the userOpHash
        assert counter(store, alice) > before  # compare-and-set in the store
        assert account.session_state(spec).active
        # The session then works without the passkey.
        assert account.send_with_session(spec, key, RECIPIENT, 10**15).success
        assert len(browser.answers) == 1

        # Verifying that answer again is refused: its counter is no longer ahead of the stored one (a synced
        # passkey's counter stays 0, and then the consumed challenge refuses it: CHALLENGE_ALREADY_USED).
        first = browser.answers[0]
        with raises_rule(ErrorCode.COUNTER_REGRESSION):
            rp.verify_authentication(first, user_handle=b"alice")

        # A browser that replays that answer for the next operation: refused, nothing sent.
        nonce = account.get_nonce()
        counted = counter(store, alice)
        browser.replay = first
        with raises_rule(ErrorCode.CHALLENGE_MISMATCH):
            account.create_session(session_for(stack, other := LocalSessionKey.generate()), other)
        assert len(browser.options) == 2  # the browser was asked, for another challenge
        assert account.get_nonce() == nonce
        assert counter(store, alice) == counted


def test_another_users_credential_is_refused(stack: LocalErc4337Stack, store_url: str) -> None:
    with open_store(store_url) as store:
        rp = relying_party(store)
        alice, bob = register(rp, "alice"), register(rp, "bob")
        key = LocalSessionKey.generate()
        user = f"ceremony-bob-{store_url[:6]}@example.org"

        # Bob's session asks to sign for an account whose passkey is Alice's: refused when issuing.
        browser = Browser(alice, bob)
        as_bob = new_account(
            stack, alice, user, CeremonyAssertionProvider(rp, user_handle=b"bob", callback=browser)
        )
        with raises_rule(ErrorCode.CREDENTIAL_NOT_ALLOWED):
            as_bob.create_session(session_for(stack, key), key)
        assert browser.answers == []  # the browser was never asked

        # Alice's operation answered with Bob's passkey (a browser that picks another credential): refused
        # by the relying party (the challenge allows Alice's credential only), Bob's counter untouched.
        bob_before = counter(store, bob)

        def wrong_passkey(options: dict[str, Any]) -> dict[str, Any]:
            challenge = b64url_decode(options["challenge"], field="challenge")
            return bob.sign(challenge, user_verified=True).to_json()

        as_alice = new_account(
            stack, alice, user, CeremonyAssertionProvider(rp, user_handle=b"alice", callback=wrong_passkey)
        )
        with raises_rule(ErrorCode.CREDENTIAL_NOT_ALLOWED):
            as_alice.create_session(session_for(stack, key), key)
        assert counter(store, bob) == bob_before
        assert stack.eth.get_code(as_alice.address) == b""  # nothing was sent


async def test_the_async_account_awaits_the_ceremony_on_an_async_store(
    stack: LocalErc4337Stack, store_url: str
) -> None:
    with open_store(store_url) as sync_store:  # registration done beforehand, with the blocking store
        alice = register(relying_party(sync_store), "alice")
        before = counter(sync_store, alice)
    store = await open_async_store(store_url)
    try:
        rp = AsyncRelyingParty(rp_id="localhost", rp_name="Session test", origins=ORIGIN, store=store)
        browser = Browser(alice)

        async def in_browser(options: dict[str, Any]) -> dict[str, Any]:
            await asyncio.sleep(0)  # e.g. waiting on a websocket
            return browser(options)

        provider = CeremonyAssertionProvider(rp, user_handle=b"alice", callback=in_browser)
        key = LocalSessionKey.generate()
        spec = session_for(stack, key)
        async with AsyncEthClient(stack.eth.rpc.url) as eth, AsyncBundlerClient(stack.bundler_url) as bundler:
            account = await AsyncErc4337Account.counterfactual(
                deployment=stack.deployment,
                eth=eth,
                bundler=bundler,
                credential=alice,
                salt=account_salt(f"ceremony-async-{store_url[:6]}@example.org"),
                provider=provider,
            )
            stack.fund(account.address, ETHER)
            assert (await account.create_session(spec, key)).success
        assert len(browser.answers) == 1
        stored = await store.get_credential(alice.credential_id)
        assert stored.sign_count > before
    finally:
        await store.close()


def test_the_sync_account_refuses_an_async_relying_party_or_callback(tmp_path: Path) -> None:
    from sso_signer.webauthn import AsyncSQLiteStore

    request = AssertionRequest(bytes(32), "localhost", b"\x01" * 16, ORIGIN, "user_operation")
    async_rp = AsyncRelyingParty(
        rp_id="localhost", rp_name="t", origins=ORIGIN, store=AsyncSQLiteStore(tmp_path / "a.db")
    )
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
        CeremonyAssertionProvider(async_rp, user_handle=b"u", callback=dict).get_assertion(request)

    with open_store(f"sqlite:///{tmp_path / 'b.db'}") as store:
        rp = relying_party(store)
        passkey = register(rp, "carol")
        request = AssertionRequest(bytes(range(32)), "localhost", passkey.credential_id, ORIGIN)

        async def later(options: dict[str, Any]) -> object:
            return Browser(passkey)(options)

        with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
            CeremonyAssertionProvider(rp, user_handle=b"carol", callback=later).get_assertion(request)
        # The same provider awaited runs the coroutine callback (the stored counter moves).
        provider = CeremonyAssertionProvider(rp, user_handle=b"carol", callback=later)
        other = AssertionRequest(bytes(range(1, 33)), "localhost", passkey.credential_id, ORIGIN)
        assertion = asyncio.run(provider.aget_assertion(other))
        assert assertion.client_data.challenge == other.challenge
        assert counter(store, passkey) == assertion.authenticator_data.counter


def test_configuration_is_checked() -> None:
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
        CeremonyAssertionProvider(object(), user_handle=b"u", callback=dict)  # type: ignore[arg-type]
    with open_store("sqlite://:memory:") as store, raises_rule(ErrorCode.FIELD_TOO_LARGE):
        CeremonyAssertionProvider(relying_party(store), user_handle=bytes(65), callback=dict)


def test_an_answer_after_the_challenge_expired_is_refused(store_url: str) -> None:
    now = [1_000_000.0]
    with open_store(store_url) as store:
        rp = RelyingParty(
            rp_id="localhost",
            rp_name="t",
            origins=ORIGIN,
            store=store,
            challenge_ttl=60,
            clock=lambda: now[0],
        )
        passkey = register(rp, "dave")
        browser = Browser(passkey)

        def slow_user(options: dict[str, Any]) -> dict[str, Any]:
            now[0] += 61  # the user answered after the challenge's lifetime
            return browser(options)

        provider = CeremonyAssertionProvider(rp, user_handle=b"dave", callback=slow_user)
        request = AssertionRequest(bytes(range(32)), "localhost", passkey.credential_id, ORIGIN)
        with raises_rule(ErrorCode.CHALLENGE_EXPIRED):
            provider.get_assertion(request)
        assert counter(store, passkey) == 0  # nothing recorded
