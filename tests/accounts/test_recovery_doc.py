"""docs/recovery.md runs as written: its ``python`` blocks in order in one namespace (they start and stop a
local stack), its command-line story (the ``sh`` setup block that starts a node, then the ``bash`` blocks
with the ``sh`` clock block between them) in one shell through the ``sso-signer`` console script, and its
pytest example as a test file of a fresh pytest.

The Era section's ``bash`` blocks run on anvil-zksync as written; on anvil as chain 260 behind the stand-in
Era account (tests/accounts/test_era_recovery.py), the guardian's block runs as written, and each block that
starts with a 0x71 send must stop there before signing (plain anvil cannot take one), its effect then made by
the SDK's same transaction run through the stand-in."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
from typing import Any

import pytest
from eth_account import Account

from sso_signer.accounts import Guardian
from sso_signer.exceptions import ToolNotFound
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.node._process import find_executable
from sso_signer.sso import GuardianExecutor, GuardianRecoveryValidator
from sso_signer.webauthn import HeadlessPasskey
from tests.accounts.test_era_recovery import GAS, ORIGIN, EraRecoveryChain
from tests.cli.test_cli import _env, cli
from tests.needs import ERC4337_CONTRACTS, artifact, live_era_network, require_artifacts, started_anvil
from tests.shell_story import RECOVERY_DOC, check_recovery_story, doc_blocks, recovery_story, run_shell_story

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.chain, pytest.mark.bundler]


def test_recovery_doc_python_blocks_run() -> None:
    blocks = doc_blocks("python") + doc_blocks("python", era=True)
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


def test_recovery_doc_shell_blocks_run(tmp_path: pathlib.Path) -> None:
    """The command-line story as a reader types it into one terminal, in an empty directory outside the
    checkout: the setup block (its own node with Alto, passkeys, account, funds, guardian key), the account's
    and the guardian's commands, the clock, the finish, and the commands the page's prose promises
    (tests/shell_story.py). Its node is stopped at the end, failed or not. tests/test_wheel.py runs the same
    story with the installed wheel."""
    story = recovery_story(GuardianExecutor.REQUEST_DELAY_SECONDS)
    script = _console_script()
    require_artifacts(*ERC4337_CONTRACTS)
    try:
        find_executable(None, "anvil"), find_executable(None, "alto")
    except ToolNotFound as exc:
        pytest.skip(f"anvil or npm @pimlico/alto missing: {exc}")
    assert RECOVERY_DOC.parents[1] not in tmp_path.parents
    env = _env(PATH=f"{pathlib.Path(script).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    check_recovery_story(run_shell_story(story, cwd=tmp_path, env=env).out, tmp_path)


def test_recovery_doc_pytest_example_passes(pytester: pytest.Pytester) -> None:
    (example,) = [block for block in doc_blocks("python") if "def test_" in block]
    pytester.makepyfile(test_doc_example=example)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1)


# --- the Era section's command line ------------------------------------------------------------------------


def _console_script() -> str:
    script = shutil.which("sso-signer", path=str(pathlib.Path(sys.executable).parent))
    if script is None:
        pytest.skip("the sso-signer console script is not installed in this venv (pip install -e .)")
    return script


def _era_env(script: str, deployment: pathlib.Path, key: pathlib.Path, account: str) -> dict[str, str]:
    backend = Account.create()
    return _env(
        SSO_SIGNER_DEPLOYMENT=str(deployment),
        SSO_SIGNER_KEY=str(key),
        SSO_SIGNER_GUARDIAN_KEY=backend.key.hex(),
        ACCOUNT=account,
        GUARDIAN=backend.address,
        ORIGIN=ORIGIN,
        PATH=f"{pathlib.Path(script).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )


def _bash(block: str, cwd: pathlib.Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_recovery_doc_era_shell_blocks_run_on_anvil_as_chain_260(tmp_path: pathlib.Path) -> None:
    propose, guardian_side, finish = doc_blocks("bash", era=True)
    assert propose.strip().startswith("sso-signer guardian add")
    assert finish.strip().startswith("sso-signer recover finish")
    script = _console_script()
    artifact("GuardianRecoveryValidator")
    with started_anvil(chain_id=260, hardfork="osaka") as node:
        chain = EraRecoveryChain.deploy(node)
        alice = HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN)
        alice.save(tmp_path / "alice.pem")
        new = HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN)
        new.save(tmp_path / "new.pem")
        account, _ = chain.fresh_account(alice)
        deployment = tmp_path / "deployment.json"
        deployment.write_text(
            json.dumps({"chain_id": 260, "rpc_url": node.url, "era": chain.network.to_json()})
        )
        env = _era_env(script, deployment, tmp_path / "alice.pem", account)
        node.set_balance(env["GUARDIAN"], 10**19)

        # The account's proposal is a 0x71: stopped before the passkey signs; the stand-in runs the SDK's.
        stopped = _bash(propose, tmp_path, env)
        assert stopped.returncode == 3, (stopped.stdout, stopped.stderr)
        assert "(era_needs_zksync_node)" in stopped.stderr
        chain.send_as_account(
            lambda: chain.account_object(alice, account).propose_guardian(env["GUARDIAN"]), account
        )
        # The guardian's block runs as written.
        done = _bash(guardian_side, tmp_path, env)
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert '"active": true' in done.stdout
        assert '"pending": true' in done.stdout
        # After the delay: the finishing 0x71 is built and checked, then stopped at the send.
        node.increase_time(GuardianRecoveryValidator.REQUEST_DELAY_SECONDS + 1)
        node.mine()
        stopped = _bash(finish, tmp_path, env)
        assert stopped.returncode == 3, (stopped.stdout, stopped.stderr)
        assert "(era_needs_zksync_node)" in stopped.stderr
        guardian = Guardian(node.eth, Account.from_key(env["SSO_SIGNER_GUARDIAN_KEY"]))
        chain.run(
            guardian.era_recovery_transaction(
                chain.network, account, new.credential_id, new.public_key, ORIGIN, gas_limit=GAS
            )
        )
        status = _bash(
            'sso-signer recover status --account "$ACCOUNT" --origin "$ORIGIN" --json', tmp_path, env
        )
        assert '"pending": false' in status.stdout, (status.stdout, status.stderr)


@pytest.mark.anvil_zksync
def test_recovery_doc_era_shell_blocks_run_on_anvil_zksync(
    anvil_zksync_node: Any, tmp_path: pathlib.Path
) -> None:
    blocks = doc_blocks("bash", era=True)
    eth, network = live_era_network(anvil_zksync_node, recovery_validator="SSO_SIGNER_ERA_RECOVERY_VALIDATOR")
    script = _console_script()
    deployment = tmp_path / "deployment.json"
    deployment.write_text(
        json.dumps({"chain_id": network.chain_id, "rpc_url": anvil_zksync_node.url, "era": network.to_json()})
    )
    for name in ("alice.pem", "new.pem"):
        HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN).save(tmp_path / name)
    alice = ["--deployment", str(deployment), "--key", str(tmp_path / "alice.pem")]
    created = cli("account", "create", "--kind", "era", *alice, "--json")
    assert created.returncode == 0, created.stderr
    account = json.loads(created.stdout)["address"]
    env = _era_env(script, deployment, tmp_path / "alice.pem", account)
    deployer = anvil_zksync_node.accounts[0]
    for funded in (account, env["GUARDIAN"]):
        eth.send_transaction(deployer, to=funded, value=10**18)
    outputs = []
    for number, block in enumerate(blocks):
        if number == len(blocks) - 1:
            eth.rpc.request("evm_increaseTime", [hex(GuardianRecoveryValidator.REQUEST_DELAY_SECONDS + 1)])
        done = _bash(block, tmp_path, env)
        assert done.returncode == 0, (block, done.stdout, done.stderr)
        outputs.append(done.stdout)
    assert '"active": true' in outputs[1]
