"""``sso-signer session create|list|show|revoke`` and ``send --session-key`` on the local stack (anvil +
Alto), and the spec file's checks (no chain)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from sso_signer.cli._session import load_session_file, spec_from_json
from sso_signer.exceptions import ErrorCode
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.sso import Condition
from sso_signer.sso._session_spec import LimitType
from tests.cli.test_cli import cli_json
from tests.errors import raises_rule

RECIPIENT = "0x" + "5b" * 20
SIGNER = "0x1927715dbfadc8185950b30dae894d12d758041c"
TOKEN = "0x1d1499e622d69689cdf9004d05ec547d650ff211"


def test_the_spec_file_is_read_field_by_field() -> None:
    spec = spec_from_json(
        {
            "expires_in": 3600,
            "fee_limit": {"allowance": "0.01ether", "period": 86400},
            "transfers": [{"to": RECIPIENT, "max_value_per_use": "1gwei", "limit": {"lifetime": 5000000000}}],
            "calls": [
                {
                    "target": TOKEN,
                    "selector": "transfer(address, uint256)",
                    "constraints": [
                        {"index": 0, "condition": "equal", "value": RECIPIENT},
                        {
                            "index": 1,
                            "condition": "less_or_equal",
                            "value": "1000",
                            "limit": {"lifetime": 2500},
                        },
                    ],
                }
            ],
        },
        SIGNER,
        1_000,
    )
    assert spec.expires_at == 4_600
    assert (spec.fee_limit.limit_type, spec.fee_limit.limit, spec.fee_limit.period) == (
        LimitType.ALLOWANCE,
        10**16,
        86_400,
    )
    assert spec.transfer_policies[0].max_value_per_use == 10**9
    call = spec.call_policies[0]
    assert call.selector.hex() == "a9059cbb"
    assert call.constraints[0].ref_value == int(RECIPIENT, 16)
    assert (call.constraints[1].condition, call.constraints[1].limit.limit) == (Condition.LESS_OR_EQUAL, 2500)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "fee_limit"),
        ({"fee_limit": "unlimited"}, "fee_limit"),
        ({"fee_limit": {"allowance": 1, "period": 1}}, "period"),
        ({"fee_limit": {"lifetime": "lots"}}, "fee_limit.lifetime"),
        ({"fee_limit": {"lifetime": 1}, "transfers": [{"to": "0x12"}]}, "target"),
        ({"fee_limit": {"lifetime": 1}, "calls": [{"target": TOKEN, "selector": 7}]}, "calls[0].selector"),
        (
            {
                "fee_limit": {"lifetime": 1},
                "calls": [
                    {
                        "target": TOKEN,
                        "selector": "0xa9059cbb",
                        "constraints": [{"index": 0, "condition": "bigger"}],
                    }
                ],
            },
            "calls[0].constraints[0].condition",
        ),
        ([], "spec"),
    ],
)
def test_a_bad_spec_file_names_its_field(spec: object, field: str) -> None:
    with raises_rule(ErrorCode.INVALID_SESSION_SPEC) as bad:
        spec_from_json(spec, SIGNER, 0)
    assert bad.value.field == field


@pytest.mark.chain
@pytest.mark.bundler
def test_session_commands_end_to_end(sso_stack: LocalErc4337Stack, tmp_path: Path) -> None:
    assert sso_stack.node is not None
    deployment = tmp_path / "deployment.json"
    cli_json("deploy", "--rpc", sso_stack.node.url, "--stack", "erc4337", "--out", str(deployment))
    key = tmp_path / "owner.pem"
    cli_json("passkey", "create", "--out", str(key))
    common = ["--deployment", str(deployment), "--key", str(key), "--bundler", sso_stack.bundler_url]
    address = cli_json("account", "create", *common, "--counterfactual")["address"]
    sso_stack.eth.send_transaction(sso_stack.funder, to=address, value=10**17)

    spec_file = tmp_path / "spec.json"
    spec_file.write_text(
        json.dumps(
            {
                "expires_in": 86_400,
                "fee_limit": {"lifetime": "0.05ether"},
                "transfers": [
                    {"to": RECIPIENT, "max_value_per_use": "0.001ether", "limit": {"lifetime": "0.002ether"}}
                ],
            }
        )
    )
    session_file = tmp_path / "session.json"
    # The passkey opens the session; the account is created by this first UserOperation.
    created = cli_json("session", "create", *common, "--spec", str(spec_file), "--out", str(session_file))
    assert created["success"] is True
    assert created["account"] == address
    assert stat.S_IMODE(os.stat(session_file).st_mode) == 0o600
    spec, session_key, account = load_session_file(str(session_file))
    assert (account, session_key.address, "0x" + spec.session_hash.hex()) == (
        address,
        created["signer"],
        created["session_hash"],
    )
    again = cli_json(
        "session", "create", *common, "--spec", str(spec_file), "--out", str(session_file), code=2
    )
    assert "--force" in again["error"]["message"]

    # The session key sends: no passkey file (--key) is needed, the session file names the account and
    # --account confirms it.
    no_key = ["--deployment", str(deployment), "--bundler", sso_stack.bundler_url]
    env_key = os.environ.pop("SSO_SIGNER_KEY", None)
    try:
        before = sso_stack.eth.get_balance(RECIPIENT)
        sent = cli_json(
            "send", *no_key, "--account", address.lower(), "--session-key", str(session_file),
            "--to", RECIPIENT, "--value", "0.001ether",
        )  # fmt: skip
        assert sent["success"] is True
        assert sent["session_hash"] == created["session_hash"]
        assert sent["account"] == address
        assert sso_stack.eth.get_balance(RECIPIENT) == before + 10**15
        # Another account than the session's is a usage error (exit 2), before anything is sent; so is a
        # malformed address, and --account without a session.
        other = cli_json(
            "send", *no_key, "--account", RECIPIENT, "--session-key", str(session_file), "--to", RECIPIENT,
            code=2,
        )  # fmt: skip
        assert address in other["error"]["message"]
        bad = cli_json(
            "send", *no_key, "--account", "0x1234", "--session-key", str(session_file), "--to", RECIPIENT,
            code=2,
        )  # fmt: skip
        assert bad["error"]["rule"] == "invalid_address"
        alone = cli_json("send", *common, "--account", address, "--to", RECIPIENT, code=2)
        assert "--session-key" in alone["error"]["message"]
    finally:
        if env_key is not None:
            os.environ["SSO_SIGNER_KEY"] = env_key
    assert sso_stack.eth.get_balance(RECIPIENT) == before + 10**15

    # Over the value limit: refused by the preflight, with the rule (exit 1: a verification failure).
    refused = cli_json(
        "send",
        *common,
        "--session-key",
        str(session_file),
        "--to",
        RECIPIENT,
        "--value",
        "0.002ether",
        code=1,
    )
    assert (refused["error"]["type"], refused["error"]["rule"]) == ("SessionRefused", "session_value_per_use")

    (listed,) = cli_json("session", "list", *common)["sessions"]
    assert listed["session_hash"] == created["session_hash"]
    assert listed["active"] is True
    # --from-block bounds the log search: from the latest block (the session was created earlier) nothing.
    later = str(sso_stack.eth.block_number())
    assert cli_json("session", "list", *common, "--from-block", later)["sessions"] == []
    unreadable = cli_json("session", "list", *common, "--from-block", "-1", code=2)
    assert "block number" in unreadable["error"]["message"]
    shown = cli_json("session", "show", *common, "--hash", created["session_hash"])["sessions"][0]
    assert shown["transfer_value"][0]["remaining"] == str(10**15)

    # By hash: revoking does not read the spec back (a session this SDK would not build is revoked too).
    revoked = cli_json("session", "revoke", *common, "--hash", created["session_hash"])
    assert revoked["revoked"] == [created["session_hash"]]
    again = cli_json("session", "revoke", *common, "--session-key", str(session_file), code=1)
    assert again["error"]["rule"] == "session_not_active"
    assert cli_json("session", "show", *common, "--session-key", str(session_file))["sessions"][0][
        "status"
    ] == ("closed")
    gone = cli_json(
        "send", *common, "--session-key", str(session_file), "--to", RECIPIENT, "--value", "1", code=1
    )
    assert gone["error"]["rule"] == "session_not_active"


# Writes a session file over an existing one (--force) with the size of any file this process writes capped
# at 100 bytes: a real write failure (EFBIG, as a full disk would give), no mocked I/O.
_CAPPED_WRITE = """
import resource, signal, sys
from sso_signer.accounts import LocalSessionKey
from sso_signer.cli._session import _write_session_file, spec_from_json
from sso_signer.exceptions import CliUsageError

key = LocalSessionKey.generate()
spec = spec_from_json({"fee_limit": {"lifetime": "0.1ether"}}, key.address, 0)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))
try:
    _write_session_file(sys.argv[1], key, spec, sys.argv[2], True)
except CliUsageError as exc:
    print(exc)
"""


def test_a_failed_session_file_write_keeps_the_file_it_would_replace(tmp_path: Path) -> None:
    """``session create --force`` over an existing key file: if the new file cannot be written whole, the
    old key stays as it was (it may still be the only key of a live session) and no partial key is left."""
    import subprocess
    import sys

    target = tmp_path / "session.json"
    target.write_text("the previous session key file\n")
    done = subprocess.run(
        [sys.executable, "-c", _CAPPED_WRITE, str(target), RECIPIENT],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "cannot write" in done.stdout, done.stdout + done.stderr
    assert target.read_text() == "the previous session key file\n"
    assert [p.name for p in tmp_path.iterdir()] == ["session.json"]
