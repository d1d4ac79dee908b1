"""docs/recovery.md runs as written: its ``python`` blocks in order in one namespace (they start and stop a
local stack), its command-line story (the ``sh`` setup block that starts a node, then the ``bash`` blocks
with the ``sh`` clock block between them) in one shell through the ``sso-signer`` console script, and its
pytest example as a test file of a fresh pytest."""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from sso_signer.exceptions import ToolNotFound
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.node._alto import _find_alto
from sso_signer.node._process import find_executable
from sso_signer.sso import GuardianExecutor
from tests.cli.test_cli import _env
from tests.needs import ERC4337_CONTRACTS, require_artifacts

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


def _group_alive(group: int, grace: float = 10.0) -> bool:
    """Whether a process of ``group`` still runs ``grace`` seconds after its leader ended."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.2)
    return True


def test_recovery_doc_shell_blocks_run(tmp_path: pathlib.Path) -> None:
    """The command-line story as a reader types it into one terminal, in an empty directory outside the
    checkout: the setup block (its own node with Alto, passkeys, account, funds, guardian key), the account's
    and the guardian's commands, the clock, the finish. Its node is stopped at the end, failed or not."""
    bash, sh = _blocks("bash"), _blocks("sh")
    assert len(bash) == 2, "docs/recovery.md: the command-line story is two blocks around the delay"
    (setup,) = [block for block in sh if "node start" in block]
    (clock,) = [block for block in sh if "evm_increaseTime" in block]
    (stop,) = [block for block in sh if "kill %1" in block]
    assert str(GuardianExecutor.REQUEST_DELAY_SECONDS + 1) in clock
    script = shutil.which("sso-signer", path=str(pathlib.Path(sys.executable).parent))
    if script is None:
        pytest.skip("the sso-signer console script is not installed in this venv (pip install -e .)")
    require_artifacts(*ERC4337_CONTRACTS)
    try:
        find_executable(None, "anvil", None), _find_alto(None)
    except ToolNotFound as exc:
        pytest.skip(f"anvil or npm @pimlico/alto missing: {exc}")
    checkout = DOC.parents[1]
    assert checkout not in tmp_path.parents
    story = "\n".join(
        [
            # The doc's last block stops the node the setup started in the background; should the story
            # fail before it, the node stops with the shell all the same (SIGTERM: a clean stop).
            "trap 'for job in $(jobs -p); do kill -TERM \"$job\"; done; wait' EXIT",
            setup,
            'echo "@@ account $ACCOUNT"',
            "echo @@ before",
            bash[0],
            "echo @@ clock",
            clock,
            "echo @@ after",
            bash[1],
            stop,
        ]
    )
    env = _env(PATH=f"{pathlib.Path(script).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    shell = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", story],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: whatever it leaves behind is ended below
    )
    left_running = True
    try:
        out, err = shell.communicate(timeout=900)
        left_running = _group_alive(shell.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGTERM)
        if shell.returncode is None:
            shell.communicate(timeout=60)
    assert shell.returncode == 0, (out[-4000:], err[-4000:])
    assert not left_running, "the story's node (or its anvil / Alto) outlived the shell"
    account = re.search(r"^@@ account (0x[0-9a-fA-F]{40})$", out, re.M)
    assert account is not None, out
    before, rest = out.split("@@ before\n")[1].split("@@ clock\n")
    after = rest.split("@@ after\n")[1]
    assert '"active": true' in before
    assert '"pending": false' in after
    assert account.group(1) in after  # the new key file finds the recovered account
    # The key files were written where the reader stood; the node, stopped, removed its deployment file.
    assert (tmp_path / "alice.pem").is_file()
    assert (tmp_path / "new.pem").is_file()
    assert not (tmp_path / "deployment.json").exists()


def test_recovery_doc_pytest_example_passes(pytester: pytest.Pytester) -> None:
    (example,) = [block for block in _blocks("python") if "def test_" in block]
    pytester.makepyfile(test_doc_example=example)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1)
