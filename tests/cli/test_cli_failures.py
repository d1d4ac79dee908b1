"""Every failure of ``sso-signer`` is one typed error with a documented exit code, never a traceback.

Exit codes (docs/cli.md): 0 ok, 1 operation failed, 2 usage, 3 configuration / missing tool, 4 node or
bundler error, 130 interrupted, 141 stdout closed early.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sso_signer import exceptions
from sso_signer.cli import ExitCode, main
from sso_signer.exceptions import InsufficientBalance, TransactionRejected
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.node import AnvilNode
from sso_signer.webauthn import HeadlessPasskey
from tests.cli.test_cli import ROOT, _env, cli

DOCUMENTED = {0, 1, 2, 3, 4, 130, 141}
ERROR_NAMES = set(exceptions.__all__)
BEEF = "0x000000000000000000000000000000000000bEEF"


def _json(*args: str, code: int) -> dict[str, Any]:
    done = cli(*args, "--json")
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return dict(json.loads(done.stdout))


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "owner.pem"
    HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173").save(path)
    return path


# --- output files -------------------------------------------------------------------------------------------


def test_out_into_a_missing_directory_or_onto_a_directory(tmp_path: Path) -> None:
    missing = str(tmp_path / "no" / "such" / "key.pem")
    for args in (
        ["passkey", "create", "--out", missing],
        ["passkey", "create", "--out", str(tmp_path), "--force"],
        ["passkey", "create", "--out", str(tmp_path)],
        # Checked before anything is deployed or started (the node URL is never contacted).
        ["deploy", "--rpc", "http://127.0.0.1:9", "--out", missing],
        ["deploy", "--rpc", "http://127.0.0.1:9", "--out", str(tmp_path)],
        ["node", "start", "--with-bundler", "--out", missing],
    ):
        error = _json(*args, code=2)["error"]
        assert error["rule"] == "cli_usage", args
        assert "--out" in error["message"]


def test_node_start_with_bundler_checks_its_default_out_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without --out the stack writes ./deployment.json (the help says so); that default is checked up front
    # too. It used to reach the check as None and escape as a bare TypeError (exit 1).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deployment.json").mkdir()
    code, out, _ = _run_main(["node", "start", "--with-bundler", "--json"])  # in process: the cwd counts
    error = json.loads(out)["error"]
    assert (code, error["rule"]) == (2, "cli_usage"), error
    assert "deployment.json" in error["message"]


def test_out_onto_a_path_no_one_can_write() -> None:
    # /proc refuses new files even to root; the write itself fails and is reported typed.
    if not Path("/proc/self").exists():
        pytest.skip("no /proc on this system: no path that refuses writes to every user")
    error = _json("passkey", "create", "--out", "/proc/sso-signer-key.pem", code=2)["error"]
    assert error["rule"] == "cli_usage"
    assert "cannot write" in error["message"] or "not writable" in error["message"]


def test_out_into_an_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip(
                "running as a user who may write anywhere (root): an unwritable directory cannot be made"
            )
        error = _json("passkey", "create", "--out", str(locked / "key.pem"), code=2)["error"]
        assert error["rule"] == "cli_usage"
        assert "not writable" in error["message"]
    finally:
        locked.chmod(0o700)


def test_store_that_cannot_be_opened(tmp_path: Path, key: Path) -> None:
    for store in (str(tmp_path), str(tmp_path / "missing" / "rp.sqlite")):
        error = _json("passkey", "register", "--key", str(key), "--store", store, code=2)["error"]
        assert error["rule"] == "cli_usage"
        assert "--store" in error["message"]


# --- key files ----------------------------------------------------------------------------------------------


def test_a_key_file_others_can_read_is_used_with_a_warning(tmp_path: Path, key: Path) -> None:
    key.chmod(0o644)
    done = cli("account", "show", "--key", str(key), "--json")  # fails later (no node URL): warned first
    assert done.returncode == ExitCode.CONFIGURATION
    assert "warning: --key" in done.stderr
    assert "chmod 600" in done.stderr
    payload = json.loads(done.stdout)
    assert any("accessible to group and others" in w for w in payload["warnings"])
    # A passkey created with the CLI is 0600: no warning.
    created = tmp_path / "fresh.pem"
    assert "warnings" not in _json("passkey", "create", "--out", str(created), code=0)
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    quiet = cli("account", "show", "--key", str(created), "--json")
    assert "warning" not in quiet.stderr
    assert "warnings" not in json.loads(quiet.stdout)


def test_the_warning_also_applies_to_the_key_named_by_the_environment(key: Path) -> None:
    key.chmod(0o640)
    done = cli("account", "show", "--json", env=_env(SSO_SIGNER_KEY=str(key)))
    assert "accessible to group (mode 0640)" in done.stderr


@pytest.mark.parametrize(
    "counter",
    ["1e999", "9" * 5000, str(2**70), "-1", '"x"'],
)
def test_key_file_metadata_with_absurd_numbers_is_an_invalid_key_file(
    tmp_path: Path, key: Path, counter: str
) -> None:
    text = key.read_text().replace('"counter":0', f'"counter":{counter}')
    assert f'"counter":{counter}' in text
    bad = tmp_path / "bad.pem"
    bad.write_text(text)
    bad.chmod(0o600)
    error = _json("sign-message", "--key", str(bad), "--message", "hi", code=2)["error"]
    assert error["rule"] == "invalid_key_file"


# --- stdout closed early ----------------------------------------------------------------------------------


def _with_closed_stdout(*args: str) -> subprocess.CompletedProcess[bytes]:
    # What ``sso-signer … | head -1`` meets once head has gone: a pipe with no reader, so any write fails
    # (EPIPE), however little is written. The child needs far longer to start than this takes to close.
    proc = subprocess.Popen(
        [sys.executable, "-m", "sso_signer.cli", *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, b"", err)


def test_a_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    done = _with_closed_stdout("passkey", "create", "--out", str(tmp_path / "k.pem"))
    assert done.stderr == b""  # no traceback, no "Exception ignored … BrokenPipeError"
    assert done.returncode == ExitCode.BROKEN_PIPE
    assert (tmp_path / "k.pem").exists()  # the work was done; only its report was lost
    # argparse swallows a failed write of the help text itself; either way, not a word on stderr.
    shown = _with_closed_stdout("--help")
    assert shown.stderr == b""
    assert shown.returncode in (ExitCode.OK, ExitCode.BROKEN_PIPE)


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_main_returns_141_when_stdout_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    code = main(["passkey", "create", "--out", str(tmp_path / "k.pem")])
    assert code == ExitCode.BROKEN_PIPE
    assert "Traceback" not in capsys.readouterr().err
    assert (tmp_path / "k.pem").exists()  # the work was done; only its report was lost


# --- bad arguments ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["node", "start", "--port", "0"],
        ["node", "start", "--port", "70000"],
        ["node", "start", "--port", "-1"],
        ["node", "start", "--chain-id", "0"],
        ["node", "start", "--chain-id", str(2**64)],
        ["send", "--to", BEEF, "--timeout", "nan"],
        ["send", "--to", BEEF, "--timeout", "-5"],
        ["send", "--to", BEEF, "--timeout", "inf"],
        ["account", "remove-passkey", "--credential-id=x", "--timeout", "0"],
        ["send", "--to", BEEF, "--value", "-1"],
        ["send", "--to", BEEF, "--value", "1e999"],
        ["send", "--to", BEEF, "--data", "0xabc"],
        ["send", "--to", "0x12"],
        ["verify-message", "--account", BEEF, "--message", "m", "--signature", "zz"],
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str]) -> None:
    done = cli(*args, "--json")
    assert done.returncode == ExitCode.USAGE, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr


# --- funds --------------------------------------------------------------------------------------------------


def _counterfactual_account(stack: LocalErc4337Stack, tmp_path: Path) -> tuple[list[str], str]:
    """Deploy the ERC-4337 stack, make a passkey and its counterfactual account: (common options, address)."""
    assert stack.node is not None
    deployment = tmp_path / "deployment.json"
    _json("deploy", "--rpc", stack.node.url, "--stack", "erc4337", "--out", str(deployment), code=0)
    key = tmp_path / "owner.pem"
    _json("passkey", "create", "--out", str(key), code=0)
    common = ["--deployment", str(deployment), "--key", str(key), "--bundler", stack.bundler_url]
    return common, _json("account", "create", *common, "--counterfactual", code=0)["address"]


@pytest.mark.chain
@pytest.mark.bundler
def test_an_unfunded_user_operation_says_what_is_there_and_what_is_needed(
    sso_stack: LocalErc4337Stack, tmp_path: Path
) -> None:
    common, address = _counterfactual_account(sso_stack, tmp_path)
    sso_stack.eth.send_transaction(sso_stack.funder, to=address, value=1000)  # far too little
    error = _json("send", *common, "--to", BEEF, "--value", "1", code=1)["error"]
    assert error["rule"] == "insufficient_balance"
    message = error["message"]
    assert address in message
    assert "holds 0.000000000000001 ETH" in message
    assert "maxFeePerGas" in message
    assert "Fund it with at least" in message
    assert "AA21" not in message or "needs" in message


@pytest.mark.chain
@pytest.mark.bundler
def test_era_only_send_options_are_refused_for_an_erc4337_account_and_nothing_is_sent(
    sso_stack: LocalErc4337Stack, tmp_path: Path
) -> None:
    # --sign-only promises that nothing is sent, --paymaster that someone else pays: an ERC-4337 account can
    # keep neither promise here, so the command refuses rather than sending a UserOperation regardless.
    common, address = _counterfactual_account(sso_stack, tmp_path)
    sso_stack.eth.send_transaction(sso_stack.funder, to=address, value=10**17)
    recipient = "0x" + os.urandom(20).hex()  # fresh: the session's chain is shared with other tests
    for option in (["--sign-only"], ["--paymaster", BEEF]):
        error = _json("send", *common, "--to", recipient, "--value", "1", *option, code=2)["error"]
        assert error["rule"] == "cli_usage"
        assert option[0] in error["message"]
        assert "Era" in error["message"]
    assert not sso_stack.eth.get_code(address), "a UserOperation was sent (it would have created the account)"
    assert sso_stack.eth.get_balance(recipient) == 0


@pytest.mark.chain
def test_an_era_send_the_node_refuses_for_lack_of_funds_says_the_numbers(sso_anvil: AnvilNode) -> None:
    from sso_signer.cli._accounts import era_funds_error
    from sso_signer.cli._context import ChainContext

    ctx = ChainContext(sso_anvil.url, None, None)
    try:
        account = "0x" + "ee" * 20
        sso_anvil.set_balance(account, 5)

        class Tx:
            gas_limit = 200_000
            max_fee_per_gas = 10**9

        refused = TransactionRejected(-32000, "insufficient funds for gas * price + value", method="x")
        error = era_funds_error(ctx.client, account, Tx(), 7, False, refused)
        assert isinstance(error, InsufficientBalance)
        assert (error.available, error.required) == (5, 200_000 * 10**9 + 7)
        assert "fund it with at least" in str(error)
        other = TransactionRejected(-32000, "nonce too low", method="x")
        assert era_funds_error(ctx.client, account, Tx(), 7, False, other) is other
    finally:
        ctx.close()


# --- fuzz ---------------------------------------------------------------------------------------------------

_WORDS = st.sampled_from(
    [
        "",
        "-",
        "--",
        "0",
        "-1",
        "1e999",
        "nan",
        "0x",
        "0xzz",
        BEEF,
        BEEF.lower(),
        "1ether",
        "0.5 gwei",
        "http://127.0.0.1:9",
        "notaurl",
        "era-sepolia",
        "\x00",
        "é",
        "9" * 400,
        "--json",
    ]
)
_TEXT = st.text(max_size=30)
_COMMANDS = [
    ["passkey", "create", "--out"],
    ["passkey", "register", "--store"],
    ["account", "show"],
    ["account", "create", "--counterfactual"],
    ["account", "add-passkey", "--new-key"],
    ["account", "remove-passkey", "--credential-id"],
    ["send", "--to"],
    ["sign-message", "--message"],
    ["verify-message", "--account"],
    ["deploy", "--stack"],
]
_OPTIONS = [
    "--key",
    "--deployment",
    "--rpc",
    "--address",
    "--kind",
    "--value",
    "--data",
    "--timeout",
    "--origin",
    "--message-hex",
    "--signature",
    "--validator",
    "--factory",
    "--network",
    "--passphrase-env",
    "--bundler",
    "--force",
    "--out",
]
_FILE_CONTENTS = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"{}",
            b"[]",
            b'{"chain_id": 1e999}',
            b'{"chain_id": 31337, "rpc_url": "http://127.0.0.1:9", "era": {"passkey_validator": "0x12"}}',
            b'{"chain_id": 31337, "erc4337": {"entryPoint": 5}}',
            json.dumps(
                {
                    "chain_id": 31337,
                    "rpc_url": "http://127.0.0.1:9",
                    "era": {"name": "local", "passkey_validator": BEEF},
                    "erc4337": {
                        "chainId": 31337,
                        "entryPoint": BEEF,
                        "factory": BEEF,
                        "beacon": BEEF,
                        "accountImplementation": BEEF,
                        "webauthnValidator": BEEF,
                    },
                    "bundler_url": "http://127.0.0.1:9",
                }
            ).encode(),
            b"sso-signer-passkey: {}\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            b'sso-signer-passkey: {"counter": 1e999}\n-----BEGIN ',
        ]
    ),
)


@pytest.fixture
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage errors (2), --help / --version (0)
            code = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stdout, sys.stderr = saved
    return int(code), out.getvalue(), err.getvalue()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    command=st.sampled_from(_COMMANDS),
    first=st.one_of(_WORDS, _TEXT),
    options=st.lists(
        st.tuples(
            st.sampled_from(_OPTIONS),
            st.one_of(_WORDS, _TEXT, st.sampled_from(["@file", "@key", "@shared-key", "@dir"])),
        ),
        max_size=5,
    ),
    base=st.sampled_from(
        [
            [],
            ["--key", "@key"],
            ["--key", "@key", "--rpc", "http://127.0.0.1:9"],
            ["--key", "@key", "--deployment", "@file"],
            ["--key", "@file"],
        ]
    ),
    content=_FILE_CONTENTS,
    json_mode=st.booleans(),
)
def test_fuzz_main_never_escapes_the_error_tree(
    fuzz_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    first: str,
    options: list[tuple[str, str]],
    base: list[str],
    content: bytes,
    json_mode: bool,
) -> None:
    for name in [n for n in os.environ if n.startswith("SSO_SIGNER_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(fuzz_dir)
    data_file = fuzz_dir / "input"
    data_file.write_bytes(content)
    data_file.chmod(0o600)
    files = {"@file": str(data_file), "@dir": str(fuzz_dir)}
    for token, mode in (("@key", 0o600), ("@shared-key", 0o644)):
        path = fuzz_dir / f"{token[1:]}.pem"
        if not path.exists():
            HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173").save(path)
        path.chmod(mode)
        files[token] = str(path)
    argv = [*command, first, *(files.get(word, word) for word in base)]
    for option, value in options:
        if option == "--force":
            argv.append(option)
            continue
        argv += [option, files.get(value, value)]
    if json_mode:
        argv.append("--json")
    if "\x00" in "".join(argv):
        return  # an OS argv cannot hold NUL: not an input a user can give
    code, out, err = _run_main(argv)
    assert code in DOCUMENTED, (argv, code, out, err)
    assert "Traceback" not in err, (argv, err)
    if code in (1, 3, 4):  # failures past argparse: reported as a class of the error tree
        if "--json" in argv:
            reported = json.loads(out.strip().splitlines()[-1])["error"]["type"]
        else:
            line = [x for x in err.splitlines() if x.startswith("error: ")][-1]
            reported = line.split(":")[1].split(" (")[0].strip()
        assert reported in ERROR_NAMES, (argv, reported, out, err)


@pytest.mark.parametrize(
    "args",
    [
        ["account", "show", "--key", "/nonexistent.pem"],
        ["send", "--to", BEEF, "--rpc", "http://127.0.0.1:9", "--key", "/dev/null"],
        ["deploy", "--rpc", "http://127.0.0.1:9", "--stack", "nonsense"],
        ["verify-message", "--rpc", "notaurl", "--account", BEEF, "--message", "m", "--signature", "0x00"],
        ["account", "show", "--deployment", "/"],
    ],
)
def test_subprocess_failures_are_reports_with_documented_codes(args: list[str]) -> None:
    done = cli(*args, "--json")
    assert done.returncode in DOCUMENTED - {0}
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout)["error"]["type"] in ERROR_NAMES


def _cli_bytes(*args: bytes, env: dict[bytes, bytes] | None = None) -> subprocess.CompletedProcess[bytes]:
    # Arguments as raw bytes, as a shell passes $'\xff': not always valid UTF-8.
    environment = {k.encode(): v.encode() for k, v in _env().items()}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable.encode(), b"-m", b"sso_signer.cli", *args, b"--json"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_option_values_that_are_not_utf8_are_usage_errors(key: Path) -> None:
    for args in (
        [b"sign-message", b"--key", bytes(key), b"--message", b"\xff"],
        [b"account", b"remove-passkey", b"--key", bytes(key), b"--credential-id=AAAA", b"--origin", b"\xfe"],
        [b"passkey", b"create", b"--out", bytes(key) + b".2", b"--user-name", b"\xff"],
    ):
        done = _cli_bytes(*args)
        assert done.returncode == ExitCode.USAGE, (args, done.stdout, done.stderr)
        assert b"Traceback" not in done.stderr
        assert b"not valid UTF-8" in done.stdout


def test_a_file_name_that_is_not_utf8_is_fine(tmp_path: Path) -> None:
    done = _cli_bytes(b"passkey", b"create", b"--out", bytes(tmp_path) + b"/k\xff.pem")
    assert done.returncode == ExitCode.OK, done.stdout
    assert (Path(os.fsdecode(bytes(tmp_path) + b"/k\xff.pem"))).exists()


def test_a_passphrase_that_is_not_utf8_round_trips(tmp_path: Path) -> None:
    out = str(tmp_path / "enc.pem").encode()
    env = {b"PASS": b"\xff\xfe secret"}
    created = _cli_bytes(b"passkey", b"create", b"--out", out, b"--passphrase-env", b"PASS", env=env)
    assert created.returncode == ExitCode.OK, created.stdout
    assert json.loads(created.stdout)["encrypted"] is True
    # Loading needs the same bytes: a wrong passphrase is WrongPassphrase, the right one gets past loading.
    wrong = _cli_bytes(b"account", b"show", b"--key", out, env={b"SSO_SIGNER_PASSPHRASE": b"\xff"})
    assert json.loads(wrong.stdout)["error"]["rule"] == "wrong_passphrase"
    right = _cli_bytes(b"account", b"show", b"--key", out, env={b"SSO_SIGNER_PASSPHRASE": b"\xff\xfe secret"})
    assert json.loads(right.stdout)["error"]["rule"] == "missing_rpc_url"


@pytest.mark.parametrize(
    ("rp_id", "origin"),
    [
        ("", "http://localhost:5173"),
        ("localhost", ""),
        ("localhost", "localhost:5173"),
        ("localhost", "ftp://localhost"),
        ("example.org", "https://example.com"),
        ("example.org", "https://notexample.org"),
        ("localhost", "http://localhost:99999"),
        ("localhost", "http://localhost/path"),
        ("Example.org", "https://example.org"),
        # Not an origin as a browser serialises it (the passkey would sign this string, and the relying
        # party and the validator compare it exactly): upper case, a slash, a default port, more parts.
        ("example.org", "https://Example.org"),
        ("example.org", "HTTPS://example.org"),
        ("example.org", "https://example.org/"),
        ("example.org", "https://example.org:443"),
        ("localhost", "http://localhost:80"),
        ("example.org", "https://user@example.org"),
        ("example.org", "https://example.org#top"),
        ("example.org", "https://example.org?"),
        ("example.org", "http://example.org"),  # browsers offer passkeys over http only on localhost
    ],
)
def test_a_passkey_no_relying_party_could_accept_is_not_created(
    tmp_path: Path, rp_id: str, origin: str
) -> None:
    out = tmp_path / "k.pem"
    error = _json("passkey", "create", "--out", str(out), "--rp-id", rp_id, "--origin", origin, code=2)[
        "error"
    ]
    assert error["rule"] == "cli_usage"
    assert not out.exists()


def test_subdomain_origins_are_covered_by_their_parent_rp_id(tmp_path: Path) -> None:
    made = _json(
        "passkey", "create", "--out", str(tmp_path / "k.pem"),
        "--rp-id", "example.org", "--origin", "https://app.example.org:8443", code=0,
    )  # fmt: skip
    assert made["origin"] == "https://app.example.org:8443"
