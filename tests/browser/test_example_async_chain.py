"""The example's async backend awaits the ERC-4337 gateway's chain calls on the SDK's async clients: a whole
sign-up, transfer, passkey link and (with the bundler) a session key's proposal, payment and listing run on
the event loop, with no thread-pool hop, on a real anvil (and
through the real Alto bundler)."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import pytest
from starlette.concurrency import run_in_threadpool

from examples.dapp_backend import AsyncDappBackend, running_example
from examples.dapp_backend import _backend as backend_module
from examples.dapp_backend._sessions import SessionKeyVault, SessionService
from sso_signer._codec import b64url_decode
from sso_signer.webauthn import HeadlessPasskey, open_async_store
from tests.browser.example_client import ROOMY, fresh_address

pytestmark = pytest.mark.chain


@pytest.mark.parametrize("bundler", [False, True], ids=["handleOps", "bundler"])
def test_the_async_backend_awaits_the_erc4337_chain_calls(
    bundler: bool, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[str] = []
    real = run_in_threadpool

    async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(function, "__name__", repr(function)))
        return await real(function, *args, **kwargs)

    monkeypatch.setattr(backend_module, "run_in_threadpool", counted)
    url = f"sqlite:///{tmp_path}/example.db"
    with running_example(flow="erc4337", bundler=bundler, store=url, limits=ROOMY) as example:
        origin = example.server.origin
        first = HeadlessPasskey.generate(rp_id="localhost", origin=origin, counter_mode="increment")
        second = HeadlessPasskey.generate(rp_id="localhost", origin=origin, counter_mode="increment")
        recipient = fresh_address()

        def answer(passkey: HeadlessPasskey, request: dict[str, Any]) -> dict[str, Any]:
            challenge = b64url_decode(request["options"]["challenge"])
            return passkey.sign(challenge).to_json()

        async def main() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
            store = await open_async_store(url)
            try:
                async with example.backend.chain.async_clients() as clients:
                    aio = AsyncDappBackend.beside(example.backend, store, clients=clients)
                    options = await aio.signup_options("s", "alice", client="c")
                    await aio.signup("s", first.register_from_options(options), client="c")
                    request = await aio.tx_options("alice", to=recipient, value=77)
                    sent = await aio.tx_submit("alice", request["opId"], answer(first, request))
                    options = await aio.key_options("s", "alice", client="c")
                    link = await aio.key_link("s", "alice", second.register_from_options(options))
                    linked = await aio.tx_submit("alice", link["opId"], answer(first, link))
                    request = await aio.tx_options("alice", to=recipient, value=5)
                    by_second = await aio.tx_submit("alice", request["opId"], answer(second, request))
                    if bundler:
                        # The session-key endpoints' flows: propose (approved by the passkey), pay, list.
                        service = SessionService(example.backend.store.sql, SessionKeyVault("secret"))
                        proposal = await aio.run(
                            service.create_options(
                                aio, "alice", recipient=recipient, per_use=10**15, daily=2 * 10**15, hours=1
                            )
                        )
                        approved = await aio.tx_submit("alice", proposal["opId"], answer(second, proposal))
                        assert approved["status"] == "included"
                        session_id = proposal["session"]["sessionId"]
                        paid = await aio.run(service.use(aio, "alice", session_id, value=10**15))
                        assert paid["status"] == "included"
                        listed = await aio.run(service.sessions(aio, "alice"))
                        assert [v["status"] for v in listed["sessions"]] == ["active"]
                    # Without an async client of its own (eth=None) the account view reads the balance
                    # through the gateway, in the thread pool: the one hop, which shows the count works.
                    view = await aio.account_view("alice")
                    assert int(view["balanceWei"]) > 0
                    return sent, linked, by_second
            finally:
                await store.close()

        sent, linked, by_second = asyncio.run(main())
        assert (sent["status"], linked["status"], by_second["status"]) == ("included",) * 3
        assert sent["executedBy"] == (
            "bundler (eth_sendUserOperation)" if bundler else "EntryPoint v0.8 handleOps"
        )
        assert linked["message"] == "New passkey linked to the account."
        assert example.eth.get_balance(recipient) == 82 + (10**15 if bundler else 0)
        # Every other chain step was awaited on the async clients: none went to the thread pool.
        assert hops == ["balance"]
