"""Exit-code mapping and the in-process entry point (fast checks; the subprocess tests are in test_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sso_signer.cli import ExitCode, main
from sso_signer.cli._context import format_ether, parse_data, parse_wei
from sso_signer.cli._output import exit_code_for
from sso_signer.exceptions import (
    BundlerError,
    CliUsageError,
    ConfigurationError,
    ErrorCode,
    ExecutionReverted,
    InvalidInputError,
    RemoteError,
    RpcError,
    RpcTransportError,
    StateError,
    TransactionRejected,
    VerificationError,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ExecutionReverted(3, "execution reverted"), ExitCode.FAILED),
        (TransactionRejected(-32000, "nonce too low"), ExitCode.FAILED),
        (StateError("duplicate"), ExitCode.FAILED),
        (VerificationError("bad signature"), ExitCode.FAILED),
        (InvalidInputError("bad hex"), ExitCode.USAGE),
        (CliUsageError("bad option"), ExitCode.USAGE),
        (ConfigurationError("no anvil"), ExitCode.CONFIGURATION),
        (RpcTransportError("refused", method="eth_chainId", rule=ErrorCode.RPC_CONNECTION), ExitCode.REMOTE),
        (RpcError(-32603, "internal"), ExitCode.REMOTE),
        (RemoteError("bundler down"), ExitCode.REMOTE),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED),
        (RuntimeError("a bug"), ExitCode.FAILED),
    ],
)
def test_exit_code_for(error: BaseException, code: ExitCode) -> None:
    assert exit_code_for(error) is code


def test_bundler_refusals_are_failed_operations() -> None:

    assert exit_code_for(BundlerError("AA23 reverted", code=-32500)) is ExitCode.FAILED


@pytest.mark.parametrize(
    ("text", "wei"),
    [
        ("1000", 1000),
        ("0.5ether", 5 * 10**17),
        ("2 gwei", 2 * 10**9),
        ("1eth", 10**18),
        ("0", 0),
        ("7wei", 7),
    ],
)
def test_amounts(text: str, wei: int) -> None:
    assert parse_wei(text) == wei


@pytest.mark.parametrize("text", ["", "-1", "1.5", "0.1gwei0", "1e18", "1 btc", "0.0000000001gwei"])
def test_bad_amounts(text: str) -> None:
    with pytest.raises(CliUsageError):
        parse_wei(text)


def test_data_and_ether_formatting() -> None:
    assert parse_data(None) == b""
    assert parse_data("0x") == b""
    assert parse_data("0xDEADbeef") == bytes.fromhex("deadbeef")
    with pytest.raises(CliUsageError):
        parse_data("0xabc")
    assert format_ether(10**18) == "1 ETH"
    assert format_ether(88726450486988016) == "0.088726450486988016 ETH"
    assert format_ether(0) == "0 ETH"


def test_main_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "k.pem"
    assert main(["passkey", "create", "--out", str(key), "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["key_file"] == str(key)
    assert main(["passkey", "create", "--out", str(key)]) == ExitCode.FAILED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: AlreadyExists (key_file_exists): ")
    with pytest.raises(SystemExit) as info:
        main(["send", "--json"])
    assert info.value.code == ExitCode.USAGE
    assert json.loads(capsys.readouterr().out)["error"]["rule"] == "cli_usage"


def test_a_credential_id_starting_with_a_dash_is_passed_in_the_equals_form() -> None:
    from sso_signer.cli._parser import build_parser

    args = build_parser().parse_args(
        ["account", "remove-passkey", "--key", "k.pem", "--credential-id=-Zm9vYmFy"]
    )
    assert args.credential_id == "-Zm9vYmFy"
