"""A relying party configured with an origin no browser sends is refused at construction, not at every login.

The browser writes ``clientDataJSON.origin`` in one form and the relying party compares it exactly, so
``https://Example.org`` or ``https://example.org/`` would make every ceremony fail as an origin mismatch,
which looks like an attack. The same check guards the CLI's ``passkey create``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from sso_signer.exceptions import ErrorCode
from sso_signer.webauthn import (
    AsyncRelyingParty,
    AsyncSQLiteStore,
    HeadlessPasskey,
    RelyingParty,
    SQLiteStore,
)
from tests.errors import raises_rule

Build = Callable[[str, str | Sequence[str]], RelyingParty | AsyncRelyingParty]
ANDROID = "android:apk-key-hash:Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE"


@pytest.fixture(params=["sync", "async"])
def build(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Build]:
    """Build a RelyingParty or an AsyncRelyingParty from rp_id and origins (the check is the same code)."""
    sync_store = SQLiteStore(tmp_path / "rp.sqlite")
    async_store = AsyncSQLiteStore(tmp_path / "arp.sqlite")

    def make(rp_id: str, origins: str | Sequence[str]) -> RelyingParty | AsyncRelyingParty:
        if request.param == "sync":
            return RelyingParty(rp_id=rp_id, rp_name="Test", origins=origins, store=sync_store)
        return AsyncRelyingParty(rp_id=rp_id, rp_name="Test", origins=origins, store=async_store)

    yield make
    sync_store.close()
    asyncio.run(async_store.close())


@pytest.mark.parametrize(
    ("origin", "browser_form"),
    [
        ("https://Example.org", "https://example.org"),
        ("HTTPS://example.org", "https://example.org"),
        ("https://example.org/", "https://example.org"),
        ("https://example.org:443", "https://example.org"),
        ("https://app.example.org/login", "https://app.example.org"),
        ("https://example.org?", "https://example.org"),
        ("https://example.org#top", "https://example.org"),
        ("https://user@example.org", "https://example.org"),
        ("https://App.Example.org:8443", "https://app.example.org:8443"),
    ],
)
def test_an_origin_not_in_the_browsers_form_is_refused_naming_that_form(
    build: Build, origin: str, browser_form: str
) -> None:
    with raises_rule(ErrorCode.RELYING_PARTY_ORIGIN) as info:
        build("example.org", ["https://example.org", origin])
    assert repr(origin) in str(info.value)
    assert repr(browser_form) in str(info.value)


@pytest.mark.parametrize(
    ("rp_id", "origins", "says"),
    [
        ("example.org", [], "at least one allowed origin"),
        ("example.org", (), "at least one allowed origin"),
        ("example.org", "https://example.com", "does not cover"),
        ("example.org", "https://notexample.org", "does not cover"),
        ("app.example.org", "https://example.org", "does not cover"),
        ("example.org", "http://example.org", "only on localhost"),
        ("example.org", "http://app.example.org:8080", "only on localhost"),
        ("localhost", "ftp://localhost", "expected https://host[:port]"),
        ("localhost", "localhost:5173", "expected https://host[:port]"),
        ("localhost", "http://localhost:99999", "not an origin"),
        ("localhost", "", "expected https://host[:port]"),
        ("bücher.example", "https://bücher.example", "punycode"),
        ("example.org", "https://[::1]:8443", "does not cover"),  # an IP address is no subdomain
        ("Example.org", "https://example.org", "lower-case domain"),
        ("", "https://example.org", "lower-case domain"),
    ],
)
def test_a_relying_party_no_ceremony_could_pass_is_refused(
    build: Build, rp_id: str, origins: str | Sequence[str], says: str
) -> None:
    with raises_rule(ErrorCode.RELYING_PARTY_ORIGIN) as info:
        build(rp_id, origins)
    assert says in str(info.value)


@pytest.mark.parametrize(
    ("rp_id", "origins"),
    [
        ("localhost", "http://localhost"),
        ("localhost", ["http://localhost:5173", ANDROID]),
        ("app.localhost", "http://app.localhost:3000"),
        ("example.org", ["https://example.org", "https://app.example.org:8443", "https://a.b.example.org"]),
        ("xn--bcher-kva.example", "https://xn--bcher-kva.example"),
    ],
)
def test_origins_a_browser_sends_for_the_rp_id_are_accepted(
    build: Build, rp_id: str, origins: str | Sequence[str]
) -> None:
    rp = build(rp_id, origins)
    assert rp.origins == ((origins,) if isinstance(origins, str) else tuple(origins))


def test_saving_a_passkey_into_a_missing_directory_is_a_typed_error(tmp_path: Path) -> None:
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
    target = tmp_path / "missing" / "key.pem"
    with raises_rule(ErrorCode.KEY_FILE_NOT_WRITABLE, match="missing") as info:
        passkey.save(target)
    assert isinstance(info.value.__cause__, FileNotFoundError)
    assert not target.parent.exists()
    # Into a directory that exists, the same call writes a key file that loads back.
    passkey.save(tmp_path / "key.pem")
    assert HeadlessPasskey.load(tmp_path / "key.pem").credential_id == passkey.credential_id
