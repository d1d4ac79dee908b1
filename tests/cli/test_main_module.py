"""``python -m sso_signer`` is the command line, exactly as ``python -m sso_signer.cli`` and the console
script: same output, same exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sso_signer.cli import ExitCode
from tests.cli.test_cli import ROOT, _env


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--version",), ExitCode.OK),
        (("--help",), ExitCode.OK),
        (("send", "--help"), ExitCode.OK),
        (("no-such-command",), ExitCode.USAGE),
    ],
)
def test_python_m_sso_signer_runs_the_cli(args: tuple[str, ...], code: int) -> None:
    package = _run("sso_signer", *args)
    cli = _run("sso_signer.cli", *args)
    assert package.returncode == code, package.stderr
    assert (package.returncode, package.stdout, package.stderr) == (cli.returncode, cli.stdout, cli.stderr)
    assert "sso-signer" in package.stdout + package.stderr


def test_python_m_sso_signer_json_output_is_the_clis() -> None:
    # A command that runs and fails without a chain (nothing listens on port 9): the JSON error object on
    # stdout, its exit code and all.
    args = ("--json", "fund", "--rpc", "http://127.0.0.1:9", "--timeout", "5", "0x" + "11" * 20)
    package, cli = _run("sso_signer", *args), _run("sso_signer.cli", *args)
    assert package.returncode == cli.returncode != ExitCode.OK
    error = json.loads(package.stdout)["error"]
    assert error == json.loads(cli.stdout)["error"]
    assert error["exit_code"] == package.returncode
