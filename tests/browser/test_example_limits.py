"""The example's per-address buckets group IPv6 clients by /64, and its chain-reading GETs are limited.

Each HTTP test runs against the real uvicorn server, with a real anvil chain and SQLite store.
"""

from __future__ import annotations

import dataclasses
import socket

import httpx
import pytest

from examples.dapp_backend import ExampleServer, Limits, RateLimited, running_example
from examples.dapp_backend._backend import _address_group
from tests.browser.example_client import ROOMY, PageClient


@pytest.mark.parametrize(
    ("client", "group"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:0:0:0:9", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::1", "::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("fe80::2%eth1", "fe80::/64"),
        ("unknown", "unknown"),
    ],
)
def test_a_client_address_is_grouped_ipv4_alone_ipv6_by_its_64(client: str, group: str) -> None:
    assert _address_group(client) == group


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.chain
def test_an_ipv6_client_cannot_dodge_the_per_address_limits_within_its_64() -> None:
    if not _has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1) to serve on")
    limits = dataclasses.replace(ROOMY, options_per_ip_burst=2, options_per_ip_rate=1e-6)
    with running_example(flow="era", serve=True, limits=limits) as ex:
        with (
            ExampleServer(ex.server.app, host="::1") as v6,
            httpx.Client(base_url=f"http://[::1]:{v6.port}", timeout=60) as client,
        ):
            headers = {"origin": ex.server.origin}
            statuses = [client.post("/api/login/options", json={}, headers=headers) for _ in range(3)]
            assert [r.status_code for r in statuses] == [200, 200, 429]
            assert statuses[2].json()["error"] == "RateLimited"
            assert int(statuses[2].headers["retry-after"]) > 0
        # Any other address of ::/64 shares the spent bucket; another /64, and IPv4, have their own.
        with pytest.raises(RateLimited):
            ex.backend.login_options(client="::2")
        with pytest.raises(RateLimited):
            ex.backend.login_options(client="::abcd:1234:5678:9abc")
        ex.backend.login_options(client="0:0:0:1::1")
        with PageClient(ex) as page:
            status, answer = page.post("/api/login/options", {})
            assert status == 200, answer


@pytest.mark.chain
def test_account_and_session_list_reads_are_limited_per_user_and_per_address() -> None:
    limits = dataclasses.replace(ROOMY, reads_burst=3, reads_rate=1e-6)
    with (
        running_example(flow="era", serve=True, limits=limits) as ex,
        PageClient(ex) as alice,
        PageClient(ex) as bob,
        PageClient(ex) as stranger,
    ):
        alice.sign_up()
        bob.sign_up()
        statuses = [alice.get(path)[0] for path in ("/api/session", "/api/sessions", "/api/session")]
        assert 429 not in statuses
        response = alice.http.get("/api/sessions")
        assert (response.status_code, response.json()["error"]) == (429, "RateLimited")
        assert int(response.headers["retry-after"]) > 0
        assert "for this user" in response.json()["message"]
        # Another user on the same address reads on: the bucket is the user's.
        assert bob.get("/api/session")[0] == 200
        # Before sign-in the address pays (so guessing cookies is limited too).
        assert [stranger.get("/api/session")[0] for _ in range(4)] == [401, 401, 401, 429]


@pytest.mark.chain
def test_the_pages_refreshes_stay_under_the_default_read_limit() -> None:
    # static/app.js does not poll on a timer: it refreshes (GET /api/session, then GET /api/sessions) once
    # at load and after each action, twice when an action fails (in the try, then in the catch).
    defaults = Limits()
    actions = 14
    reads = 2 * (1 + 2 * actions)
    assert reads <= defaults.reads_burst
    with running_example(flow="era", serve=True, limits=ROOMY) as ex, PageClient(ex) as page:
        assert ex.backend.limits.reads_burst == defaults.reads_burst
        page.sign_up()
        paths = ("/api/session", "/api/sessions")
        statuses = [page.get(path)[0] for _ in range(reads // 2) for path in paths]
        assert 429 not in statuses, statuses
        assert page.get("/api/session")[0] == 200
