"""``sso-signer guardian add|remove|list|accept`` and ``recover start|finish|cancel|status`` on the local
ERC-4337 stack (anvil + EntryPoint v0.8 + the SSO ERC-4337 contracts + Alto): a user loses the passkey, the
backend's key recovers the account after the delay, the new key file drives it. Each refusal is exit 1 (or 2
for usage) with its rule in the JSON error. Era accounts: tests/cli/test_era_guardian_cli.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.sso import GuardianExecutor
from tests.cli.test_cli import _env, cli
from tests.needs import started_erc4337_stack

pytestmark = [pytest.mark.bundler, pytest.mark.chain]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalErc4337Stack]:
    # Its own chain: the test moves the clock forward by a day.
    with started_erc4337_stack(test_token=False) as running:
        yield running


def _json(*args: str, code: int = 0, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = cli(*args, "--json", env=env)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return dict(json.loads(done.stdout))


def test_the_backend_recovers_a_lost_passkey_from_the_command_line(
    stack: LocalErc4337Stack, tmp_path: Path
) -> None:
    node = stack.node
    assert node is not None
    deployment = tmp_path / "deployment.json"
    _json("deploy", "--rpc", node.url, "--stack", "erc4337", "--out", str(deployment))
    lost, new = tmp_path / "lost.pem", tmp_path / "new.pem"
    _json("passkey", "create", "--out", str(lost))
    new_id = _json("passkey", "create", "--out", str(new))["credential_id"]
    chain = ["--deployment", str(deployment)]  # the guardian's side sends plain transactions
    owner = [*chain, "--bundler", stack.bundler_url, "--key", str(lost)]
    address = _json("account", "create", *owner)["address"]
    stack.eth.send_transaction(stack.funder, to=address, value=10**17)

    backend = Account.create()
    stack.eth.send_transaction(stack.funder, to=backend.address, value=10**17)
    as_backend = _env(SSO_SIGNER_GUARDIAN_KEY=backend.key.hex())

    listed = _json("guardian", "list", *owner)
    assert (listed["guardians"], listed["module_installed"], listed["recovery"]) == (
        [],
        False,
        {"pending": False},
    )

    # The account proposes the backend (installing the module), the backend accepts.
    added = _json("guardian", "add", backend.address, *owner)
    assert (added["guardian"], added["module_installed"]) == (backend.address, True)
    assert len(bytes.fromhex(added["user_operation"][2:])) == 32
    refused = _json("guardian", "add", backend.address, *owner, code=1)
    assert refused["error"]["rule"] == "guardian_already_present"
    missing_key = _json("guardian", "accept", "--account", address, *chain, code=2)
    assert "--guardian-key-env" in missing_key["error"]["message"]
    era_only = _json(
        "guardian", "accept", "--account", address, *chain, "--origin", "http://x", code=2, env=as_backend
    )
    assert "--origin: Era accounts only" in era_only["error"]["message"]
    assert (
        _json("guardian", "accept", "--account", address, *chain, env=as_backend)["already_active"] is False
    )
    assert _json("guardian", "accept", "--account", address, *chain, env=as_backend)["already_active"] is True
    listed = _json("guardian", "list", *owner)
    assert listed["guardians"] == [{"address": backend.address, "active": True}]

    # Nothing to cancel yet; the passkey is lost: the backend starts the recovery with the new key file.
    assert _json("recover", "cancel", *owner, code=1)["error"]["rule"] == "no_pending_recovery"
    started = _json("recover", "start", "--account", address, "--new-key", str(new), *chain, env=as_backend)
    assert started["new_credential_id"] == new_id
    assert started["recovery"]["pending"] is True
    assert started["recovery"]["finalizable_now"] is False
    again = _json(
        "recover", "start", "--account", address, "--new-key", str(new), *chain, env=as_backend, code=1
    )
    assert again["error"]["rule"] == "recovery_in_progress"
    early = _json("recover", "finish", "--account", address, *chain, env=as_backend, code=1)
    assert early["error"]["rule"] == "recovery_too_early"
    status = _json("recover", "status", "--account", address, *chain)
    assert status["recovery"]["finalizable_from"] == started["recovery"]["finalizable_from"]

    # A day later anyone finishes it: here anvil's dev account (no guardian key given).
    node.increase_time(GuardianExecutor.REQUEST_DELAY_SECONDS + 1)
    finished = _json("recover", "finish", "--account", address, *chain)
    assert finished["finished_by"] != backend.address
    assert _json("recover", "status", "--account", address, *chain)["recovery"] == {"pending": False}

    # The new key file finds the account and sends from it; it then removes the backend as guardian.
    with_new = [*chain, "--bundler", stack.bundler_url, "--key", str(new)]
    assert _json("account", "show", *with_new)["address"] == address
    assert _json("send", *with_new, "--to", "0x" + "5a" * 20, "--value", "1")["success"] is True
    assert _json("guardian", "remove", backend.address, *with_new)["guardian"] == backend.address
    gone = _json("guardian", "remove", backend.address, *with_new, code=1)
    assert gone["error"]["rule"] == "not_a_guardian"
    not_guardian = _json(
        "recover", "start", "--account", address, "--new-key", str(lost), *chain, env=as_backend, code=1
    )
    assert not_guardian["error"]["rule"] == "not_a_guardian"


def test_every_guardian_and_recover_action_is_listed_in_the_help() -> None:
    assert all(a in cli("guardian", "--help").stdout for a in ("add", "remove", "list", "accept"))
    assert all(a in cli("recover", "--help").stdout for a in ("start", "finish", "cancel", "status"))
    assert _json("recover", code=2)["error"]["rule"] == "cli_usage"
