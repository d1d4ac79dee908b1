"""The product, not the checkout: a wheel built from a clean clone works from an empty directory.

The test clones the repository at HEAD (so it tests what is committed: uncommitted changes in the working tree
are not part of the clone, as in CI, which runs in a fresh clone), builds a wheel with ``python -m build``,
deletes the clone, installs the wheel into a fresh virtualenv outside the checkout, points ``HOME`` at an
empty directory and drops the checkout from ``PATH``. Then, from an empty directory:

1. a local-stack command without the tools fails with exit 3 naming ``sso-signer setup``;
2. ``sso-signer setup`` installs the tools; a second run installs nothing and says so (both print their time);
3. nothing the installed package resolves (its files, artifacts, tools) lies in the checkout;
4. every ``python`` block of the README runs;
5. the README's command-line sequence runs (start, wait, passkey, account, fund, send, sign-message), then
   docs/cli.md's session-key sequence (``session create``, ``send --session-key``, a refused send,
   ``session show``, ``session revoke``, a send refused after it, ``session list``), docs/recovery.md's
   command-line story (``guardian add|accept|list|remove``, ``recover start|status|finish|cancel``,
   tests/shell_story.py), the sponsored stack (``node start --with-sponsor``: refused without the
   ``sponsor`` extra, then with it a zero-balance account's operation paid by its paymaster), and
   ``sso-signer demo``;
6. a small user project whose tests use the pytest fixtures passes.

Every command runs in a process group of its own, ended when it returns: the test fails if something it
started (a background node, the demo's or the fixtures' anvil and Alto) outlived it, and ends it.
npm and pip keep using the machine's own download caches (they are caches, not the checkout).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from sso_signer.sso import GuardianExecutor
from tests.shell_story import check_recovery_story, recovery_story, run_shell_story, run_story

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CLI_DOC = ROOT / "docs" / "cli.md"
_SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")

pytestmark = [pytest.mark.wheel, pytest.mark.slow, pytest.mark.chain, pytest.mark.bundler]


def _run(argv: list[str], *, cwd: pathlib.Path, env: dict[str, str], timeout: float) -> str:
    done = run_story(argv, cwd=cwd, env=env, timeout=timeout)
    assert done.returncode == 0, f"{argv} exited {done.returncode}\n{done.out}\n{done.err}"
    # The demo's and the fixtures' anvil and Alto stop with them.
    assert not done.left_running, f"{argv} left a process of its group running"
    return done.out


def _readme_blocks(language: str, page: pathlib.Path = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", page.read_text(), re.S)


def _timed(what: str, story: str, cwd: pathlib.Path, env: dict[str, str]) -> str:
    """Run a shell story (tests/shell_story.py: it must succeed and leave nothing running), print its time."""
    started = time.monotonic()
    out = run_shell_story(story, cwd=cwd, env=env, timeout=600).out
    print(f"{what}: {time.monotonic() - started:.1f} s")
    return out


def _objects(out: str) -> list[dict[str, Any]]:
    """The JSON objects a story printed, one a line (a background node prints text lines in between)."""
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and line.endswith("}")]


def _npm_cache() -> str:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: `sso-signer setup` needs it (install Node.js)")
    return subprocess.run(
        [npm, "config", "get", "cache"], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A wheel built with ``python -m build`` from a clean clone of HEAD (the clone is then deleted)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the wheel is built from a clone of HEAD")
    work = tmp_path_factory.mktemp("build")
    clone = work / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=120
    )
    dist = work / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", str(dist), str(clone)],
         cwd=work, env=dict(os.environ), timeout=600)  # fmt: skip
    shutil.rmtree(clone)
    (wheel_file,) = dist.glob("sso_signer-*.whl")
    (sdist,) = dist.glob("sso_signer-*.tar.gz")
    listing = subprocess.run(["tar", "tzf", str(sdist)], capture_output=True, text=True, check=True).stdout
    for needed in (
        "sso_signer/artifacts/MSAFactory.json",
        "sso_signer/py.typed",
        "toolchain/package-lock.json",
    ):
        assert needed in listing, f"the sdist lacks {needed}"
    return wheel_file


@pytest.fixture(scope="module")
def user(wheel: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fresh virtualenv with the wheel, an empty HOME, a PATH without the checkout, an empty work dir."""
    base = tmp_path_factory.mktemp("user")
    assert ROOT not in base.parents
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    shutil.copyfile(ROOT / "constraints.txt", base / "constraints.txt")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-c", str(base / "constraints.txt"), str(wheel), "pytest"], cwd=base, env=dict(os.environ),
         timeout=900)  # fmt: skip
    home = base / "home"
    home.mkdir()
    work = base / "work"
    work.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SSO_SIGNER_", "PYTHON", "VIRTUAL_ENV", "PYTEST", "npm_", "NPM_", "XDG_"))
    }
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join([str(venv / "bin"), *_SYSTEM_PATH]),
        # npm's download cache: without it every CI run would fetch everything again.
        npm_config_cache=_npm_cache(),
    )
    return {"venv": venv, "home": home, "work": work, "env": env, "bin": venv / "bin", "pip": pip}


# The ready line of `node start --json`, written to a file in the background, names the sponsor service.
SPONSORED_STORY = """\
sso-signer node start --with-bundler --with-sponsor --json --out deployment.json > ready.json &
sso-signer node wait --deployment deployment.json > /dev/null
until [ -s ready.json ]; do sleep 0.2; done
cat ready.json
python3 sponsored_send.py
kill %1 && wait
"""

# What docs/sponsorship.md says of the CLI stack: a sponsored operation is sent from Python with
# PaymasterClient(sponsor_url, paymasters=paymaster).
SPONSORED_SEND = """\
import json

from sso_signer import load_artifact
from sso_signer.accounts import Erc4337Account, MsaDeployment
from sso_signer.erc4337 import BundlerClient, EntryPoint, PaymasterClient
from sso_signer.rpc import EthClient
from sso_signer.sso import account_salt
from sso_signer.webauthn import HeadlessPasskey

ready = json.load(open("ready.json"))
written = json.load(open("deployment.json"))
deployment = MsaDeployment.from_json(written["erc4337"])
eth = EthClient(written["rpc_url"])
bundler = BundlerClient(written["bundler_url"], entry_point=deployment.entry_point)
account = Erc4337Account.counterfactual(
    deployment=deployment, eth=eth, bundler=bundler,
    credential=HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173"),
    salt=account_salt("sponsored@example.org"),
)
account.paymaster = PaymasterClient(ready["sponsor_url"], paymasters=ready["paymaster"])
token, erc20 = deployment.test_token, load_artifact("Erc4337TestToken")
friend = "0x00000000000000000000000000000000000f71e2"
deposit = EntryPoint(eth).balance_of(ready["paymaster"])
receipt = account.send_calls([
    (token, 0, erc20.encode_call("mint", account.address, 100)),
    (token, 0, erc20.encode_call("transfer", friend, 50)),
])
assert receipt.success
print(json.dumps({
    "paymaster": receipt.paymaster,
    "balance": eth.get_balance(account.address),
    "deposit_spent": deposit - EntryPoint(eth).balance_of(ready["paymaster"]),
    "actual_gas_cost": receipt.actual_gas_cost,
    "minted_to_friend": erc20.decode_output(
        "balanceOf", eth.call({"to": token, "data": erc20.encode_call("balanceOf", friend)})
    )[0],
}))
account.paymaster.close()
"""


def test_the_installed_wheel_works_without_the_checkout(wheel: pathlib.Path, user: dict[str, Any]) -> None:
    env, work, home, bin_dir = user["env"], user["work"], user["home"], user["bin"]
    cli = str(bin_dir / "sso-signer")

    # 1. Before setup: a configuration error that says what to run.
    before = run_story([cli, "node", "start", "--json"], cwd=work, env=env, timeout=60)
    assert before.returncode == 3, before.out + before.err
    assert "sso-signer setup" in json.loads(before.out)["error"]["message"]
    assert not before.left_running

    # 2. setup, twice.
    first = json.loads(_run([cli, "setup", "--json"], cwd=work, env=env, timeout=900))
    second_text = _run([cli, "setup"], cwd=work, env=env, timeout=120)
    second = json.loads(_run([cli, "setup", "--json"], cwd=work, env=env, timeout=120))
    print(f"setup: first run {first['seconds']} s, second run {second['seconds']} s")
    assert first["installed"] is True
    assert second["installed"] is False
    assert "nothing to install" in second_text
    assert re.search(r"checked in [0-9.]+ s", second_text)
    assert pathlib.Path(first["home"]) == home / ".cache" / "sso-signer"

    # 3. What the installed package resolves lies outside the checkout.
    probe = textwrap.dedent(
        """
        import json, sso_signer
        from sso_signer import load_artifact
        from sso_signer._artifacts import ARTIFACTS_DIR
        from sso_signer._toolchain import locate_tool
        load_artifact("MSAFactory")
        tools = {name: locate_tool(name) for name in ("anvil", "forge", "cast", "alto", "entry-point")}
        print(json.dumps({"package": sso_signer.__file__, "artifacts": str(ARTIFACTS_DIR), **tools}))
        """
    )
    resolved = json.loads(_run([str(bin_dir / "python"), "-c", probe], cwd=work, env=env, timeout=60))
    for what, path in resolved.items():
        assert not pathlib.Path(path).resolve().is_relative_to(ROOT), (
            f"{what} resolves into the checkout: {path}"
        )
    for tool in ("anvil", "alto", "entry-point"):
        assert pathlib.Path(resolved[tool]).is_relative_to(home), f"{tool} is not the one setup installed"

    # 4. Every python block of the README, in one namespace, in order.
    (work / "readme_blocks.py").write_text("\n".join(_readme_blocks("python")))
    _run([str(bin_dir / "python"), "readme_blocks.py"], cwd=work, env=env, timeout=300)

    # 5. The README's command-line sequence, as written (plus a trap that stops the node if a step fails).
    (sequence,) = [block for block in _readme_blocks("sh") if "node wait" in block]
    out = _timed("README sequence", sequence, work, env)
    assert "ready" in out
    assert '"signature": "0x' in out
    assert not (work / "deployment.json").exists()  # removed when the stack stopped

    # 5b. A capability of this round, end to end: docs/cli.md's session-key sequence (the passkey opens a
    # session, the session key alone pays, a payment over its limit is refused by the preflight).
    sessions = work / "sessions"
    sessions.mkdir()
    (sequence,) = [block for block in _readme_blocks("sh", CLI_DOC) if "session create" in block]
    out = _timed("session-key sequence", sequence, sessions, env)
    assert "opened for 0x" in out
    # Over the per-use limit, then after the revocation: both refused by the preflight, exit 1.
    assert out.count("refused with exit 1") == 2
    assert (sessions / "session.json").stat().st_mode & 0o777 == 0o600
    (shown,), (listed,) = (o["sessions"] for o in _objects(out) if "sessions" in o)
    assert shown["active"] is True
    assert [limit["remaining"] for limit in shown["transfer_value"]] == [str(9 * 10**15)]  # 0.01 - 0.001
    assert listed["session_hash"] == shown["session_hash"]
    assert (listed["status"], listed["active"]) == ("closed", False)
    assert not (sessions / "deployment.json").exists()

    # 5c. docs/recovery.md's command-line story, checked as the doc test checks it.
    recovery = work / "recovery"
    recovery.mkdir()
    story = recovery_story(GuardianExecutor.REQUEST_DELAY_SECONDS)
    check_recovery_story(_timed("recovery story", story, recovery, env), recovery)

    # 5d. The sponsored stack: without the extra, refused before anything starts (exit 3, the pip line).
    sponsored = work / "sponsored"
    sponsored.mkdir()
    start_sponsored = [cli, "node", "start", "--with-bundler", "--with-sponsor", "--json"]
    refused = run_story(start_sponsored, cwd=sponsored, env=env, timeout=60)
    assert refused.returncode == 3, refused.out + refused.err
    assert 'pip install "sso-signer[sponsor]"' in json.loads(refused.out)["error"]["message"]
    assert not refused.left_running
    assert list(sponsored.iterdir()) == []
    # (pip with the machine's environment, as the wheel itself was installed: its download cache)
    constraints = ["-c", str(user["venv"].parent / "constraints.txt")]
    started = time.monotonic()
    _run([*user["pip"], *constraints, f"{wheel}[sponsor]"], cwd=work, env=dict(os.environ), timeout=300)
    print(f"sponsor extra installed: {time.monotonic() - started:.1f} s")
    # With it: the node's sponsor service pays for a zero-balance account's first operation.
    (sponsored / "sponsored_send.py").write_text(SPONSORED_SEND)
    out = _timed("sponsored stack", SPONSORED_STORY, sponsored, env)
    ready, paid = _objects(out)
    assert ready["paymaster"] == paid["paymaster"]
    assert paid["balance"] == 0
    assert paid["deposit_spent"] == paid["actual_gas_cost"] > 0
    assert paid["minted_to_friend"] == 50
    assert not (sponsored / "deployment.json").exists()

    demo = json.loads(_run([cli, "demo", "--json"], cwd=work, env=env, timeout=300))
    assert demo["ok"] is True

    # 6. A user's own test project on the fixtures.
    project = work / "project"
    project.mkdir()
    (project / "test_account.py").write_text(
        textwrap.dedent(
            """
            import pytest

            from sso_signer.cli import Deployment

            BURN = "0x000000000000000000000000000000000000dEaD"

            def test_transfer(passkey_account, sso_deployment):
                assert isinstance(sso_deployment, Deployment)
                receipt = passkey_account.send_calls([(BURN, 1, b"")])
                assert receipt.success

            @pytest.mark.parametrize("passkey_account", [10**16], indirect=True)
            def test_funding_parameter(passkey_account, sso_fund):
                assert passkey_account.get_balance() == 10**16
                sso_fund(passkey_account.address, 5)
                assert passkey_account.get_balance() == 10**16 + 5
            """
        )
    )
    pytest_argv = [str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    result = _run(pytest_argv, cwd=project, env=env, timeout=300)
    assert "2 passed" in result
