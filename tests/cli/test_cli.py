"""``sso-signer`` run as a subprocess against real local nodes: every main subcommand, ``--json``, exit codes.

Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 configuration / missing tool, 4 node or bundler error.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from sso_signer.accounts._era import add_passkey_calldata
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.node import AnvilNode
from sso_signer.sso import AccountDomain, personal_sign_hash
from sso_signer.sso._signature import decode_era_custom_signature
from sso_signer.webauthn import HeadlessPasskey
from sso_signer.zksync import Eip712Transaction

ROOT = Path(__file__).resolve().parent.parent.parent


def _env(**extra: str) -> dict[str, str]:
    # A clean environment: no SSO_SIGNER_* leaking in from the developer's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_SIGNER_")}
    env.update(extra)
    return env


def start_cli(*args: str) -> subprocess.Popen[str]:
    """Start ``python -m sso_signer.cli ARGS`` in the background, as a terminal would (Ctrl-C reaches it).

    A shell that runs the suite as a background job starts it with SIGINT ignored, and children inherit an
    ignored signal; a terminal user's process has Python's own SIGINT handling, so the child is given that.
    """
    inherited = signal.getsignal(signal.SIGINT)
    if inherited == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "sso_signer.cli", *args],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, inherited)


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sso_signer.cli ARGS`` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "sso_signer.cli", *args],
        cwd=ROOT,
        env=env if env is not None else _env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_json(*args: str, code: int = 0, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run with ``--json``; check the exit code and that stdout is exactly one JSON object."""
    result = cli(*args, "--json", env=env)
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["ok"] is (code == 0)
    if code != 0:
        assert data["error"]["exit_code"] == code
    return data


# --- no chain needed ----------------------------------------------------------------------------------------


def test_console_script_and_version() -> None:
    script = shutil.which("sso-signer", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the sso-signer console script is not installed in this venv (pip install -e .)")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("sso-signer ")


def test_usage_errors_exit_2() -> None:
    assert cli().returncode == 2  # no subcommand
    missing = cli("send", "--value", "1")
    assert missing.returncode == 2
    assert "--to" in missing.stderr
    data = cli_json("send", code=2)  # JSON mode: the usage error is one JSON object too
    assert data["error"]["rule"] == "cli_usage"
    bad_value = cli_json(
        "send", "--to", "0x" + "11" * 20, "--value", "lots", "--rpc", "http://127.0.0.1:9", code=2
    )
    assert "amount" in bad_value["error"]["message"]
    bad_address = cli_json("send", "--to", "0x1234", "--rpc", "http://127.0.0.1:9", code=2)
    assert bad_address["error"]["rule"] == "invalid_address"
    bad_data = cli_json(
        "send", "--to", "0x" + "11" * 20, "--data", "0xzz", "--rpc", "http://127.0.0.1:9", code=2
    )
    assert bad_data["error"]["rule"] == "cli_usage"


def test_passkey_create_and_register(tmp_path: Path) -> None:
    key = tmp_path / "alice.pem"
    created = cli_json(
        "passkey", "create", "--out", str(key), "--origin", "https://app.example", "--rp-id", "app.example"
    )
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert created["origin"] == "https://app.example"
    assert created["encrypted"] is False
    assert len(bytes.fromhex(created["public_key"]["x"][2:])) == 32
    # Refuses to overwrite: the operation fails (1), nothing changes.
    before = key.read_bytes()
    assert cli_json("passkey", "create", "--out", str(key), code=1)["error"]["rule"] == "key_file_exists"
    assert key.read_bytes() == before

    store = tmp_path / "rp.sqlite"
    registered = cli_json(
        "passkey", "register", "--key", str(key), "--store", str(store), "--user-name", "alice"
    )
    assert registered["credential_id"] == created["credential_id"]
    assert registered["origin"] == "https://app.example"
    # The same credential twice: the relying party refuses (operation failed).
    again = cli_json("passkey", "register", "--key", str(key), "--store", str(store), code=1)
    assert again["error"]["rule"] == "duplicate_credential"


def test_encrypted_passkey_needs_its_passphrase(tmp_path: Path) -> None:
    key = tmp_path / "bob.pem"
    env = _env(BOB_PASS="correct horse battery staple")
    created = cli_json("passkey", "create", "--out", str(key), "--passphrase-env", "BOB_PASS", env=env)
    assert created["encrypted"] is True
    assert "correct horse" not in key.read_text()
    store = str(tmp_path / "rp.sqlite")
    cli_json(
        "passkey", "register", "--key", str(key), "--passphrase-env", "BOB_PASS", "--store", store, env=env
    )
    wrong = _env(BOB_PASS="wrong")
    failed = cli_json(
        "passkey",
        "register",
        "--key",
        str(key),
        "--passphrase-env",
        "BOB_PASS",
        "--store",
        store,
        code=1,
        env=wrong,
    )
    assert failed["error"]["rule"] == "wrong_passphrase"
    unset = cli_json(
        "passkey", "register", "--key", str(key), "--passphrase-env", "NOPE", "--store", store, code=2
    )
    assert "NOPE" in unset["error"]["message"]


def test_configuration_and_remote_errors(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    cli_json("passkey", "create", "--out", str(key))
    # No node URL anywhere: configuration (3).
    assert cli_json("account", "show", "--key", str(key), code=3)["error"]["rule"] == "missing_rpc_url"
    # No key file: configuration (3).
    assert (
        cli_json("account", "show", "--rpc", "http://127.0.0.1:9", code=3)["error"]["rule"]
        == "missing_passkey_file"
    )
    # Unknown network preset: configuration (3).
    unknown = cli_json("account", "show", "--key", str(key), "--network", "mainnet", code=3)
    assert unknown["error"]["rule"] == "unknown_network"
    # A node that is not there: remote (4).
    down = cli_json("deploy", "--rpc", "http://127.0.0.1:9", "--out", str(tmp_path / "d.json"), code=4)
    assert down["error"]["type"].startswith("Rpc")
    # Errors come without a traceback, unless --debug.
    plain = cli("deploy", "--rpc", "http://127.0.0.1:9", "--out", str(tmp_path / "d.json"))
    assert plain.returncode == 4
    assert plain.stderr.startswith("error: ")
    assert "Traceback" not in plain.stderr
    debug = cli("--debug", "deploy", "--rpc", "http://127.0.0.1:9", "--out", str(tmp_path / "d.json"))
    assert debug.returncode == 4
    assert "Traceback" in debug.stderr


# --- node start ---------------------------------------------------------------------------------------------


@pytest.mark.chain
def test_node_start_serves_until_interrupted() -> None:
    process = start_cli("node", "start", "--json")
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["ok"] is True
        assert first["kind"] == "anvil"
        answer = httpx.post(
            first["url"], json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5
        )
        assert int(answer.json()["result"], 16) == first["chain_id"] == 31337
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        # The node went down with it.
        with pytest.raises(httpx.TransportError):
            httpx.post(first["url"], json={"jsonrpc": "2.0", "id": 2, "method": "eth_chainId"}, timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- deploy and the ERC-4337 account flow (anvil + Alto) ---------------------------------------------------


@pytest.mark.chain
@pytest.mark.bundler
def test_deploy_then_the_erc4337_account_flow(sso_stack: LocalErc4337Stack, tmp_path: Path) -> None:
    assert sso_stack.node is not None
    rpc, bundler = sso_stack.node.url, sso_stack.bundler_url
    deployment = tmp_path / "deployment.json"
    deployed = cli_json("deploy", "--rpc", rpc, "--out", str(deployment))
    assert deployed["chain_id"] == 31337
    assert deployed["erc4337"]["entryPoint"] == "0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108"
    era_validator = deployed["era"]["passkey_validator"]
    assert sso_stack.eth.get_code(era_validator)
    assert json.loads(deployment.read_text())["era"]["passkey_validator"] == era_validator

    key = tmp_path / "owner.pem"
    created_key = cli_json("passkey", "create", "--out", str(key))
    common = ["--deployment", str(deployment), "--key", str(key)]

    # Counterfactual: the address is known before anything is sent.
    created = cli_json("account", "create", *common, "--counterfactual")
    address = created["address"]
    assert created["deployed"] is False
    assert not sso_stack.eth.get_code(address)
    shown = cli_json("account", "show", *common)
    assert (shown["address"], shown["deployed"], shown["balance_wei"]) == (address, False, "0")

    # Fund it; its first UserOperation (a transfer, signed by the passkey) creates it.
    sso_stack.eth.send_transaction(sso_stack.funder, to=address, value=10**17)
    recipient = "0x" + "5a" * 20
    before = sso_stack.eth.get_balance(recipient)
    sent = cli_json("send", *common, "--bundler", bundler, "--to", recipient, "--value", "0.001ether")
    assert sent["success"] is True
    assert sent["account"] == address
    assert sso_stack.eth.get_balance(recipient) - before == 10**15
    assert cli_json("account", "show", *common)["deployed"] is True

    # A call that reverts: the bundler refuses the operation (1).
    failing = cli_json(
        "send",
        *common,
        "--bundler",
        bundler,
        "--to",
        deployed["erc4337"]["factory"],
        "--data",
        "0xdeadbeef",
        code=1,
    )
    assert failing["error"]["type"].startswith("UserOperation")

    # ERC-1271 through ERC-7739: sign, then verify with the account's isValidSignature.
    signed = cli_json("sign-message", *common, "--message", "hello")
    assert signed["account"] == address
    ok = cli_json(
        "verify-message",
        "--rpc",
        rpc,
        "--account",
        address,
        "--message",
        "hello",
        "--signature",
        signed["signature"],
    )
    assert ok["valid"] is True
    wrong = cli_json(
        "verify-message",
        "--rpc",
        rpc,
        "--account",
        address,
        "--message",
        "hellO",
        "--signature",
        signed["signature"],
        code=1,
    )
    assert wrong["error"]["rule"] == "erc1271_signature_invalid"

    # A second passkey, added in a UserOperation signed by the first, then removing the first.
    second = tmp_path / "second.pem"
    second_id = cli_json("passkey", "create", "--out", str(second))["credential_id"]
    added = cli_json("account", "add-passkey", *common, "--bundler", bundler, "--new-key", str(second))
    assert added["account"] == address
    with_second = ["--deployment", str(deployment), "--key", str(second), "--bundler", bundler]
    assert cli_json("account", "show", *with_second)["address"] == address
    first_id = created_key["credential_id"]
    # ``=`` form: a base64url id may start with "-", which argparse would take for an option.
    removed = cli_json("account", "remove-passkey", *with_second, f"--credential-id={first_id}")
    assert removed["account"] == address
    # The first passkey no longer finds the account: the validator does not list it, and its counterfactual
    # account is this one (the factory refuses to create it again), so the CLI asks for the address.
    after = cli_json("account", "show", *common, code=1)
    assert after["error"]["rule"] == "account_not_found"
    assert "pass --address" in after["error"]["message"]
    assert cli_json("account", "show", *common, "--address", address)["deployed"] is True
    assert second_id != first_id


@pytest.mark.chain
@pytest.mark.bundler
def test_direct_account_creation_and_ceremony_signing(sso_stack: LocalErc4337Stack, tmp_path: Path) -> None:
    assert sso_stack.node is not None
    deployment = tmp_path / "deployment.json"
    cli_json("deploy", "--rpc", sso_stack.node.url, "--stack", "erc4337", "--out", str(deployment))
    key, store = tmp_path / "carol.pem", tmp_path / "rp.sqlite"
    cli_json("passkey", "create", "--out", str(key))
    cli_json("passkey", "register", "--key", str(key), "--store", str(store))
    common = ["--deployment", str(deployment), "--key", str(key)]
    # Through the factory by a direct transaction from dev account #0 (a local chain needs no key).
    created = cli_json("account", "create", *common)
    assert created["deployed"] is True
    assert sso_stack.eth.get_code(created["address"])
    # Found again from the passkey alone (WebAuthnValidator.getAccountList).
    assert cli_json("account", "show", *common)["address"] == created["address"]
    sso_stack.eth.send_transaction(sso_stack.funder, to=created["address"], value=10**17)
    # --store: every signature goes through the relying party's authentication ceremony.
    sent = cli_json(
        "send",
        *common,
        "--store",
        str(store),
        "--bundler",
        sso_stack.bundler_url,
        "--to",
        "0x" + "77" * 20,
        "--value",
        "1gwei",
    )
    assert sent["success"] is True
    # Without a bundler an ERC-4337 send cannot go anywhere: configuration (3).
    missing = cli_json("send", *common, "--to", "0x" + "77" * 20, code=3)
    assert missing["error"]["rule"] == "missing_bundler_url"


@pytest.mark.chain
def test_era_commands_on_plain_anvil_say_what_is_missing(sso_anvil: AnvilNode, tmp_path: Path) -> None:
    deployment = tmp_path / "deployment.json"
    cli_json("deploy", "--rpc", sso_anvil.url, "--stack", "era", "--out", str(deployment))
    key = tmp_path / "dave.pem"
    cli_json("passkey", "create", "--out", str(key))
    common = ["--deployment", str(deployment), "--key", str(key), "--kind", "era"]
    # There is no AAFactory on plain anvil (EraVM code): configuration (3), named.
    no_factory = cli_json("account", "create", *common, code=3)
    assert no_factory["error"]["rule"] == "missing_contract_address"
    # A 0x71 transaction needs a ZKsync node: configuration (3), before anything is signed.
    not_zksync = cli_json("send", *common, "--to", "0x" + "11" * 20, "--value", "1", code=3)
    assert not_zksync["error"]["rule"] == "era_needs_zksync_node"
    # The passkey is registered nowhere: the lookup fails as an operation (1).
    unknown = cli_json("account", "show", *common, code=1)
    assert unknown["error"]["rule"] == "account_not_found"
    # Once the key is registered for an account (as its onInstall would), the CLI finds it and signs an
    # ERC-1271 message for it; the deployed Era validator accepts the signature over the ERC-7739 digest.
    era = json.loads(deployment.read_text())["era"]["passkey_validator"]
    passkey = HeadlessPasskey.load(key)
    account = "0x" + os.urandom(20).hex()
    sso_anvil.eth.rpc.request("anvil_impersonateAccount", [account])
    sso_anvil.set_balance(account, 10**18)
    data = add_passkey_calldata(passkey.credential_id, passkey.public_key, passkey.origin)
    tx = sso_anvil.eth.rpc.request(
        "eth_sendTransaction", [{"from": account, "to": era, "data": "0x" + data.hex()}]
    )
    sso_anvil.eth.check_receipt(sso_anvil.eth.wait_for_receipt(bytes.fromhex(str(tx)[2:])))
    sso_anvil.eth.rpc.request("anvil_stopImpersonatingAccount", [account])
    assert cli_json("account", "show", *common)["address"].lower() == account
    signed = cli_json("sign-message", *common, "--message", "era hello")
    envelope = decode_era_custom_signature(bytes.fromhex(signed["signature"][2:]))
    assert envelope.validator == era
    digest = personal_sign_hash("era hello", AccountDomain.era(signed["account"], 31337))
    call = keccak(b"validateSignature(bytes32,bytes)")[:4] + abi_encode(
        ["bytes32", "bytes"], [digest, envelope.fat]
    )
    answer = sso_anvil.eth.call({"from": account, "to": era, "data": call})
    assert abi_decode(["bool"], answer) == (True,)
    # --sign-only: the 0x71 transfer is prepared (one batch, gas incl. WebAuthn), signed through preflight and
    # checked by the deployed validator; the raw bytes parse back to the same transaction.
    sso_anvil.set_balance(account, 10**18)
    dry = cli_json("send", *common, "--to", "0x" + "11" * 20, "--value", "0.001ether", "--sign-only")
    assert dry["validator_verdict"] == "Valid"
    raw = Eip712Transaction.parse(bytes.fromhex(dry["raw_transaction"][2:]))
    assert raw.value == 10**15
    assert "0x" + raw.signed_hash().hex() == dry["signed_hash"]
    assert raw.gas_limit == 21_000 + dry["validation_gas"]
    # Human output names the account kind and the missing piece, without a traceback.
    plain = cli("account", "create", *common, env=_env())
    assert plain.returncode == 3
    assert "error: ConfigurationError (missing_contract_address):" in plain.stderr
    assert "Traceback" not in plain.stderr


@pytest.mark.chain
@pytest.mark.bundler
def test_node_start_with_bundler_serves_the_whole_stack(tmp_path: Path) -> None:
    deployment = tmp_path / "deployment.json"
    process = start_cli("node", "start", "--with-bundler", "--out", str(deployment), "--json")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else ""
        started = json.loads(line)
        assert started["bundler_url"].startswith("http://127.0.0.1:")
        recorded = json.loads(deployment.read_text())
        assert recorded["bundler_url"] == started["bundler_url"]
        assert recorded["rpc_url"] == started["url"]
        # The deployment JSON is all the other commands need: no --rpc, no --bundler.
        key = tmp_path / "erin.pem"
        cli_json("passkey", "create", "--out", str(key))
        env = _env(SSO_SIGNER_DEPLOYMENT=str(deployment), SSO_SIGNER_KEY=str(key))
        address = cli_json("account", "create", "--counterfactual", env=env)["address"]
        funding = {"from": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "to": address, "value": hex(10**17)}
        httpx.post(
            started["url"],
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction", "params": [funding]},
            timeout=10,
        ).raise_for_status()
        sent = cli_json("send", "--to", "0x" + "42" * 20, "--value", "12345", env=env)
        assert sent["success"] is True
        shown = cli_json("account", "show", env=env)
        assert shown["deployed"] is True
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
