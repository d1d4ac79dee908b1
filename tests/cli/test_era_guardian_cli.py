"""``sso-signer guardian …`` / ``recover …`` on Era accounts (the GuardianRecoveryValidator).

On anvil as chain 260, behind the EraTestAccount stand-in (tests/accounts/test_era_recovery.py): every command
runs for real against the deployed module and WebAuthValidator, the guardian's transactions are real ones.
Plain anvil cannot take a 0x71 transaction, so each command that would send one (the account's ``guardian
add|remove`` and ``recover cancel``, ``recover finish`` once the module would accept it) must stop with
``era_needs_zksync_node`` (exit 3) before anything is signed; the test then runs that step through the SDK's
own signed transaction, validated and executed by the stand-in as the bootloader would. The whole story with
the command line sending every 0x71 runs on anvil-zksync (the test at the end; skipped, saying why, without
it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sso_signer._codec import b64url_encode
from sso_signer.accounts import Guardian
from sso_signer.sso import GuardianRecoveryValidator
from sso_signer.webauthn import HeadlessPasskey
from tests.accounts.test_era_recovery import GAS, ORIGIN, EraRecoveryChain
from tests.cli.test_cli import _env, cli
from tests.needs import artifact, live_era_network, started_anvil

DAY = GuardianRecoveryValidator.REQUEST_DELAY_SECONDS


def _json(*args: str, code: int = 0, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = cli(*args, "--json", env=env)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return dict(json.loads(done.stdout))


def _rule(*args: str, code: int, env: dict[str, str] | None = None) -> str:
    return str(_json(*args, code=code, env=env)["error"]["rule"])


def _key_file(path: Path) -> HeadlessPasskey:
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN)
    passkey.save(path)
    return passkey


@pytest.fixture(scope="module")
def chain() -> Iterator[EraRecoveryChain]:
    artifact("GuardianRecoveryValidator")
    # Its own chain: the test moves the clock forward by a day.
    with started_anvil(chain_id=260, hardfork="osaka") as node:
        yield EraRecoveryChain.deploy(node)


@pytest.mark.chain
def test_the_backend_recovers_an_era_account_from_the_command_line(
    chain: EraRecoveryChain, tmp_path: Path
) -> None:
    # A fresh account of the lost passkey: its WebAuthValidator installed, not the recovery module.
    lost_file, new_file, other_file = tmp_path / "lost.pem", tmp_path / "new.pem", tmp_path / "other.pem"
    lost, new, _ = _key_file(lost_file), _key_file(new_file), _key_file(other_file)
    address, _ = chain.fresh_account(lost)
    deployment = tmp_path / "deployment.json"
    deployment.write_text(
        json.dumps({"chain_id": 260, "rpc_url": chain.node.url, "era": chain.network.to_json()})
    )
    chain_args = ["--deployment", str(deployment)]
    owner = [*chain_args, "--key", str(lost_file)]
    backend: LocalAccount = Account.create()
    chain.node.set_balance(backend.address, 10**19)
    as_backend = _env(SSO_SIGNER_GUARDIAN_KEY=backend.key.hex())
    scoped = [*chain_args, "--origin", ORIGIN]

    listed = _json("guardian", "list", *owner)
    assert (listed["kind"], listed["account"], listed["module_installed"]) == ("era", address, False)
    assert (listed["guardians"], listed["recovery"]) == ([], {"pending": False})

    # The account proposes the backend: a 0x71, so plain anvil refuses it before the passkey signs; the same
    # proposal signed by the SDK installs the module and proposes in one transaction.
    assert _rule("guardian", "add", backend.address, *owner, code=3) == "era_needs_zksync_node"
    account = chain.account_object(lost, address)
    chain.send_as_account(lambda: account.propose_guardian(backend.address), address)
    listed = _json("guardian", "list", *owner)
    assert listed["module_installed"] is True
    assert listed["guardians"] == [{"address": backend.address, "active": False}]

    # The backend accepts: an Era guardian is scoped by the dapp's origin.
    assert (
        _rule("guardian", "accept", "--account", address, *chain_args, code=2, env=as_backend) == "cli_usage"
    )
    accepted = _json("guardian", "accept", "--account", address, *scoped, env=as_backend)
    assert (accepted["kind"], accepted["guardian"], accepted["already_active"]) == (
        "era",
        backend.address,
        False,
    )
    assert len(bytes.fromhex(accepted["transaction"][2:])) == 32
    assert (
        _json("guardian", "accept", "--account", address, *scoped, env=as_backend)["already_active"] is True
    )
    assert _json("guardian", "list", *owner)["guardians"] == [{"address": backend.address, "active": True}]

    # The passkey is lost: the backend starts the recovery with the user's new key file.
    started = _json(
        "recover", "start", "--account", address, "--new-key", str(new_file), *chain_args, env=as_backend
    )
    assert started["kind"] == "era"
    assert started["origin"] == ORIGIN
    recovery = started["recovery"]
    assert (recovery["pending"], recovery["type"], recovery["finalizable_now"]) == (True, "passkey", False)
    assert recovery["finalizable_from"] == recovery["started_at"] + DAY
    assert (
        recovery["expires_at"]
        == recovery["started_at"] + GuardianRecoveryValidator.REQUEST_VALIDITY_SECONDS + 1
    )
    again = ["recover", "start", "--account", address, "--new-key", str(new_file), *chain_args]
    assert _rule(*again, code=1, env=as_backend) == "recovery_in_progress"
    status = _json("recover", "status", "--account", address, *scoped)
    assert (status["kind"], status["recovery"]) == ("era", recovery)
    assert _json("guardian", "list", *owner)["recovery"] == recovery

    # Finishing needs the new key file (the module keeps only hashes); before the delay it is refused with
    # its rule, and so is another passkey than the requested one.
    finish = ["recover", "finish", "--account", address, *chain_args]
    assert _rule(*finish, code=2) == "cli_usage"
    assert _rule(*finish, "--new-key", str(new_file), code=1) == "recovery_too_early"
    assert _rule(*finish, "--new-key", str(other_file), code=1) == "recovery_data_mismatch"

    # A day later the module would accept it: the command line gets as far as the send, which plain anvil
    # cannot take; the stand-in runs the same finishing transaction.
    chain.node.increase_time(DAY + 1)
    chain.node.mine()
    assert _json("recover", "status", "--account", address, *scoped)["recovery"]["finalizable_now"] is True
    assert _rule(*finish, "--new-key", str(new_file), code=3) == "era_needs_zksync_node"
    guardian = Guardian(chain.node.eth, backend)
    chain.run(
        guardian.era_recovery_transaction(
            chain.network, address, new.credential_id, new.public_key, ORIGIN, gas_limit=GAS
        )
    )
    assert _json("recover", "status", "--account", address, *scoped)["recovery"] == {"pending": False}

    # The new key file finds the account and signs for it; the validator accepts its transaction.
    with_new = [*chain_args, "--key", str(new_file)]
    assert _json("account", "show", *with_new)["address"] == address
    signed = _json("send", *with_new, "--to", backend.address, "--value", "1", "--sign-only")
    assert (signed["account"], signed["validator_verdict"]) == (address, "Valid")
    # Its first change removes the lost passkey; the validator then refuses the lost one's transactions.
    recovered = chain.account_object(new, address)
    chain.send_as_account(lambda: recovered.remove_passkey(lost.credential_id, ORIGIN), address)
    old = ["send", *owner, "--address", address, "--to", backend.address, "--value", "1", "--sign-only"]
    assert _rule(*old, code=1) == "erc1271_signature_invalid"

    # The finished request stays stored (fulfilled) until it expires, so a new one waits: the account
    # discards it first (the module keeps only hashes, so it cannot tell a finished request by itself).
    blocked = ["recover", "start", "--account", address, "--new-key", str(other_file), *chain_args]
    assert _rule(*blocked, code=1, env=as_backend) == "recovery_in_progress"
    chain.send_as_account(recovered.discard_recovery, address)
    # A second request: the account (now the new passkey) discards it; nothing is left to finish.
    _json("recover", "start", "--account", address, "--new-key", str(other_file), *chain_args, env=as_backend)
    assert _rule("recover", "cancel", *with_new, code=3) == "era_needs_zksync_node"
    chain.send_as_account(recovered.discard_recovery, address)
    assert _json("guardian", "list", *with_new)["recovery"] == {"pending": False}
    assert _rule(*finish, "--new-key", str(other_file), code=1) == "no_pending_recovery"
    # A stranger is no guardian; an ERC-4337-only option is not mixed in.
    stranger = _env(SSO_SIGNER_GUARDIAN_KEY=Account.create().key.hex())
    assert (
        _rule("guardian", "accept", "--account", address, *scoped, code=1, env=stranger) == "not_a_guardian"
    )


# --- live Era (anvil-zksync): the command line sends every 0x71 --------------------------------------------


@pytest.mark.anvil_zksync
def test_the_whole_era_recovery_from_the_command_line_on_anvil_zksync(
    anvil_zksync_node: Any, tmp_path: Path
) -> None:
    eth, network = live_era_network(anvil_zksync_node, recovery_validator="SSO_SIGNER_ERA_RECOVERY_VALIDATOR")
    deployment = tmp_path / "deployment.json"
    deployment.write_text(
        json.dumps({"chain_id": network.chain_id, "rpc_url": anvil_zksync_node.url, "era": network.to_json()})
    )
    chain_args = ["--deployment", str(deployment)]
    lost_file, new_file, other_file = tmp_path / "lost.pem", tmp_path / "new.pem", tmp_path / "other.pem"
    lost = _key_file(lost_file)
    _key_file(new_file), _key_file(other_file)
    owner = [*chain_args, "--key", str(lost_file)]
    address = _json("account", "create", *owner, "--kind", "era")["address"]
    deployer = anvil_zksync_node.accounts[0]
    backend: LocalAccount = Account.create()
    for funded in (address, backend.address):
        eth.send_transaction(deployer, to=funded, value=10**18)
    as_backend = _env(SSO_SIGNER_GUARDIAN_KEY=backend.key.hex())
    scoped = [*chain_args, "--origin", ORIGIN]

    added = _json("guardian", "add", backend.address, *owner)
    assert (added["kind"], added["guardian"]) == ("era", backend.address)
    assert _json("guardian", "list", *owner)["module_installed"] is True
    assert _rule("guardian", "add", backend.address, *owner, code=1) == "guardian_already_present"
    assert (
        _json("guardian", "accept", "--account", address, *scoped, env=as_backend)["already_active"] is False
    )
    assert _json("guardian", "list", *owner)["guardians"] == [{"address": backend.address, "active": True}]
    assert _rule("recover", "cancel", *owner, code=1) == "no_pending_recovery"

    _json("recover", "start", "--account", address, "--new-key", str(new_file), *chain_args, env=as_backend)
    finish = ["recover", "finish", "--account", address, *chain_args, "--new-key", str(new_file)]
    assert _rule(*finish, code=1) == "recovery_too_early"
    eth.rpc.request("evm_increaseTime", [hex(DAY + 1)])
    finished = _json(*finish)
    assert (finished["kind"], finished["finished_by"]) == ("era", address)
    assert _json("recover", "status", "--account", address, *scoped)["recovery"] == {"pending": False}

    # The new key file sends; it removes the lost passkey, whose transactions are then refused.
    with_new = [*chain_args, "--key", str(new_file)]
    assert _json("send", *with_new, "--to", backend.address, "--value", "1")["account"] == address
    lost_id = b64url_encode(lost.credential_id)
    _json("account", "remove-passkey", *with_new, f"--credential-id={lost_id}")
    old = ["send", *owner, "--address", address, "--to", backend.address, "--value", "1", "--sign-only"]
    assert _rule(*old, code=1) == "erc1271_signature_invalid"

    # The finished request stays stored until it expires: the account discards it before a second one.
    assert _json("recover", "cancel", *with_new)["discarded"] is True
    # A second request, cancelled by the account.
    _json("recover", "start", "--account", address, "--new-key", str(other_file), *chain_args, env=as_backend)
    assert _json("recover", "cancel", *with_new)["discarded"] is True
    assert _json("guardian", "list", *with_new)["recovery"] == {"pending": False}
