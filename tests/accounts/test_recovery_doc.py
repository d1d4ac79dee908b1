"""docs/recovery.md runs as written: its ``python`` blocks in order in one namespace (they start and stop a
local stack), its ``bash`` blocks through the ``sso-signer`` console script on a local stack with the clock
moved between them, and its pytest example as a test file of a fresh pytest."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from eth_account import Account

from sso_signer.exceptions import ToolNotFound
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.sso import GuardianExecutor
from tests.cli.test_cli import _env, cli
from tests.needs import ERC4337_CONTRACTS, require_artifacts, started_erc4337_stack

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.chain, pytest.mark.bundler]

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "recovery.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


def test_recovery_doc_python_blocks_run() -> None:
    blocks = _blocks("python")
    assert len(blocks) >= 5, "docs/recovery.md lost its examples"
    require_artifacts(*ERC4337_CONTRACTS)
    namespace: dict[str, object] = {"__name__": "recovery_doc"}
    try:
        for number, block in enumerate(blocks, 1):
            try:
                exec(compile(block, f"docs/recovery.md python block {number}", "exec"), namespace)  # noqa: S102
            except ToolNotFound as exc:
                pytest.skip(f"anvil, node or npm @pimlico/alto missing: {exc}")
    finally:
        stack = namespace.get("stack")
        if isinstance(stack, LocalErc4337Stack):
            stack.stop()  # when a block failed before the doc's own stop (stopping twice is harmless)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalErc4337Stack]:
    with started_erc4337_stack(test_token=False) as running:
        yield running


def test_recovery_doc_shell_blocks_run(stack: LocalErc4337Stack, tmp_path: pathlib.Path) -> None:
    blocks = _blocks("bash")
    assert len(blocks) == 2, "docs/recovery.md: the command-line story is two blocks around the delay"
    script = shutil.which("sso-signer", path=str(pathlib.Path(sys.executable).parent))
    if script is None:
        pytest.skip("the sso-signer console script is not installed in this venv (pip install -e .)")
    assert stack.node is not None
    deployment = tmp_path / "deployment.json"
    assert (
        cli("deploy", "--rpc", stack.node.url, "--stack", "erc4337", "--out", str(deployment)).returncode == 0
    )
    for name in ("lost.pem", "new.pem"):
        assert cli("passkey", "create", "--out", str(tmp_path / name)).returncode == 0
    env = _env(
        SSO_SIGNER_DEPLOYMENT=str(deployment),
        SSO_SIGNER_BUNDLER=stack.bundler_url,
        SSO_SIGNER_KEY=str(tmp_path / "lost.pem"),
    )
    created = subprocess.run(
        [script, "account", "create", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    account = re.search(r'"address": "(0x[0-9a-fA-F]{40})"', created.stdout)
    assert account is not None, created.stdout
    backend = Account.create()
    for address in (account.group(1), backend.address):
        stack.eth.send_transaction(stack.funder, to=address, value=10**17)
    env |= {
        "SSO_SIGNER_GUARDIAN_KEY": backend.key.hex(),
        "ACCOUNT": account.group(1),
        "GUARDIAN": backend.address,
        "PATH": f"{pathlib.Path(script).parent}{os.pathsep}{env.get('PATH', '')}",
    }

    def run(block: str) -> str:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert done.returncode == 0, (block, done.stdout, done.stderr)
        return done.stdout

    before = run(blocks[0])
    assert '"active": true' in before
    # The page's own clock block (a `sh` block: the setup one before it starts a stack of its own).
    clock = [block for block in _blocks("sh") if "evm_increaseTime" in block]
    assert len(clock) == 1
    assert str(GuardianExecutor.REQUEST_DELAY_SECONDS + 1) in clock[0]
    run(clock[0])
    after = run(blocks[1])
    assert '"pending": false' in after
    assert env["ACCOUNT"] in after  # the new key file finds the recovered account


def test_recovery_doc_pytest_example_passes(pytester: pytest.Pytester) -> None:
    (example,) = [block for block in _blocks("python") if "def test_" in block]
    pytester.makepyfile(test_doc_example=example)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1)
