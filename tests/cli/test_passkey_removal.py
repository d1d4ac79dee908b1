"""Removing a passkey never locks an account out by accident, and a removed key never finds a stranger.

Era: the checks run against the project's Era ``WebAuthValidator`` on plain anvil (keys added from an
impersonated account address, as the account itself would); nothing is signed when removal is refused.
ERC-4337: the whole flow through the CLI, anvil and Alto, and the Python API the CLI calls.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sso_signer.accounts import EraAccount, Erc4337Account
from sso_signer.accounts._deployment import local_era_network
from sso_signer.accounts._era import add_passkey_calldata, remove_passkey_calldata
from sso_signer.exceptions import RemovalWouldLockAccount
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.node import AnvilNode
from sso_signer.webauthn import HeadlessPasskey
from tests.cli.test_cli import cli
from tests.cli.test_era_lifecycle import ORIGIN, _new_account_address, _send_from, era_validator

__all__ = ["era_validator"]  # the module-scoped fixture, shared


def _register(node: AnvilNode, validator: str, account: str) -> HeadlessPasskey:
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN)
    _send_from(
        node, account, validator, add_passkey_calldata(passkey.credential_id, passkey.public_key, ORIGIN)
    )
    return passkey


class _RefusingProvider:
    """An assertion provider that fails the test if anything is signed."""

    def get_assertion(self, *_: Any, **__: Any) -> Any:
        raise AssertionError("nothing may be signed when the removal is refused")


@pytest.mark.chain
def test_era_last_passkey_is_not_removed_without_force(sso_anvil: AnvilNode, era_validator: str) -> None:
    account = _new_account_address()
    only = _register(sso_anvil, era_validator, account)
    network = local_era_network(passkey_validator=era_validator, chain_id=31337)
    era = EraAccount(sso_anvil.eth, network, account, only, provider=_RefusingProvider())
    with pytest.raises(RemovalWouldLockAccount) as info:
        era.remove_passkey(only.credential_id, ORIGIN)
    assert info.value.account.lower() == account
    assert "force" in str(info.value)
    assert "last" in str(info.value)


@pytest.mark.chain
def test_era_remaining_access_counts_the_other_passkeys(sso_anvil: AnvilNode, era_validator: str) -> None:
    account = _new_account_address()
    first = _register(sso_anvil, era_validator, account)
    second = _register(sso_anvil, era_validator, account)
    network = local_era_network(passkey_validator=era_validator, chain_id=31337)
    era = EraAccount(sso_anvil.eth, network, account, first)
    access = era.remaining_access(first.credential_id, ORIGIN)
    assert access.other_passkeys == 1
    assert access.keeps_access
    listed = era.list_passkeys()
    assert [(key.credential_id, key.origin) for key in listed] == [
        (first.credential_id, ORIGIN),
        (second.credential_id, ORIGIN),
    ]
    assert (listed[0].x, listed[0].y) == (first.public_key.x, first.public_key.y)
    # Removed keys are replayed from the events: after removing the second, the first is alone again.
    _send_from(sso_anvil, account, era_validator, remove_passkey_calldata(second.credential_id, ORIGIN))
    access = era.remaining_access(first.credential_id, ORIGIN)
    assert access.other_passkeys == 0
    assert not access.keeps_access
    assert [key.credential_id for key in era.list_passkeys()] == [first.credential_id]


# --- ERC-4337 ----------------------------------------------------------------------------------------------


def _json(*args: str, code: int = 0) -> dict[str, Any]:
    done = cli(*args, "--json")
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return dict(json.loads(done.stdout))


@pytest.fixture
def funded_account(sso_stack: LocalErc4337Stack, tmp_path: Path) -> tuple[list[str], str, str]:
    """A deployment JSON, a key file and its deployed, funded ERC-4337 account (created by the CLI)."""
    assert sso_stack.node is not None
    deployment = tmp_path / "deployment.json"
    _json("deploy", "--rpc", sso_stack.node.url, "--stack", "erc4337", "--out", str(deployment))
    key = tmp_path / "owner.pem"
    credential_id = _json("passkey", "create", "--out", str(key))["credential_id"]
    common = ["--deployment", str(deployment), "--key", str(key), "--bundler", sso_stack.bundler_url]
    address = _json("account", "create", *common)["address"]
    sso_stack.eth.send_transaction(sso_stack.funder, to=address, value=10**17)
    return common, address, credential_id


def _add_second_passkey(common: list[str], tmp_path: Path) -> tuple[Path, str]:
    """A new key file, registered on the account by the first passkey; returns it and its credential id."""
    other = tmp_path / "other.pem"
    other_id = str(_json("passkey", "create", "--out", str(other))["credential_id"])
    _json("account", "add-passkey", *common, "--new-key", str(other))
    return other, other_id


@pytest.mark.chain
@pytest.mark.bundler
def test_cli_refuses_to_remove_the_last_passkey(
    funded_account: tuple[list[str], str, str], sso_stack: LocalErc4337Stack
) -> None:
    common, address, credential_id = funded_account
    refused = _json("account", "remove-passkey", *common, f"--credential-id={credential_id}", code=1)
    assert refused["error"]["rule"] == "removal_would_lock_account"
    assert address in refused["error"]["message"]
    assert "--force" in refused["error"]["message"]
    # Still controlled by the passkey: it can send.
    assert _json("send", *common, "--to", "0x" + "5a" * 20, "--value", "1")["success"] is True
    help_text = cli("account", "remove-passkey", "--help").stdout
    assert "--force" in help_text
    assert "lock" in help_text


@pytest.mark.chain
@pytest.mark.bundler
def test_removing_the_signing_passkey_says_the_key_file_no_longer_controls_the_account(
    funded_account: tuple[list[str], str, str], sso_stack: LocalErc4337Stack, tmp_path: Path
) -> None:
    common, address, credential_id = funded_account
    other, other_id = _add_second_passkey(common, tmp_path)
    removed = _json("account", "remove-passkey", *common, f"--credential-id={credential_id}")
    assert removed["signing_key_removed"] is True
    assert any("no longer controls" in w for w in removed["warnings"])
    # The removed key no longer finds the account, and does not drift to another one.
    shown = _json("account", "show", *common, code=1)
    assert shown["error"]["rule"] == "account_not_found"
    assert address in shown["error"]["message"]
    assert "--address" in shown["error"]["message"]
    # The remaining passkey is now the last one.
    with_other = [*common[:2], "--key", str(other), *common[4:]]
    again = _json("account", "remove-passkey", *with_other, f"--credential-id={other_id}", code=1)
    assert again["error"]["rule"] == "removal_would_lock_account"


@pytest.mark.chain
@pytest.mark.bundler
def test_a_removed_added_key_does_not_create_its_own_counterfactual_account(
    funded_account: tuple[list[str], str, str], sso_stack: LocalErc4337Stack, tmp_path: Path
) -> None:
    common, address, _ = funded_account
    other, other_id = _add_second_passkey(common, tmp_path)
    _json("account", "remove-passkey", *common, f"--credential-id={other_id}")
    with_other = [*common[:2], "--key", str(other), *common[4:]]
    # Its counterfactual account is another, empty one: the CLI says which account dropped it instead.
    for command in (["account", "show"], ["send", "--to", "0x" + "5a" * 20, "--value", "1"]):
        refused = _json(*command, *with_other, code=1)
        assert refused["error"]["rule"] == "account_not_found", command
        assert address in refused["error"]["message"]
        assert "--address" in refused["error"]["message"]


@pytest.mark.chain
@pytest.mark.bundler
def test_python_api_refuses_the_last_passkey_and_force_removes_it(
    passkey_account: Erc4337Account, sso_stack: LocalErc4337Stack
) -> None:
    passkey_account.send_calls([("0x" + "5a" * 20, 1, b"")])  # creates it
    credential = passkey_account.signer.credential
    second = HeadlessPasskey.generate(rp_id=credential.rp_id, origin=credential.origin)
    added = passkey_account.add_passkey(second.credential_id, second.public_key, second.origin)
    assert added.success
    assert len(added.transaction_hash) == 32
    listed = passkey_account.list_passkeys()
    assert [key.credential_id for key in listed] == [credential.credential_id, second.credential_id]
    assert (listed[1].x, listed[1].y) == (second.public_key.x, second.public_key.y)
    passkey_account.remove_passkey(second.credential_id, second.origin)  # another one remains: no force
    assert [key.credential_id for key in passkey_account.list_passkeys()] == [credential.credential_id]
    with pytest.raises(RemovalWouldLockAccount):
        passkey_account.remove_passkey(credential.credential_id, credential.origin)
    receipt = passkey_account.remove_passkey(credential.credential_id, credential.origin, force=True)
    assert receipt.success
    access = passkey_account.remaining_access(os.urandom(32), credential.origin)
    assert access.other_passkeys == 0


@pytest.mark.chain
@pytest.mark.bundler
def test_cli_adds_an_origin_only_the_erc4337_validator_accepts(
    funded_account: tuple[list[str], str, str], tmp_path: Path
) -> None:
    # 254 characters: over the Era WebAuthValidator's 253, within the ERC-4337 WebAuthnValidator's 255. The
    # CLI's prefund explanation must encode the call as the ERC-4337 account does, not as Era would refuse it.
    common, address, _ = funded_account
    host = ".".join(["a" * 61, "b" * 61, "c" * 61, "d" * 60])
    origin = f"https://{host}"
    assert len(origin) == 254
    other = tmp_path / "long-origin.pem"
    _json("passkey", "create", "--out", str(other), "--origin", origin, "--rp-id", host)
    added = _json("account", "add-passkey", *common, "--new-key", str(other))
    assert (added["kind"], added["account"], added["origin"]) == ("erc4337", address, origin)
