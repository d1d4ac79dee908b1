"""The contract artifacts shipped in the package (committed under sso_signer/artifacts/) are exactly what a
fresh build of contracts/src produces.

They are committed, not built during ``pip install``, because a user's install from the sdist has no forge and
no solc. If this test fails, contracts/src changed without the artifacts: regenerate them with
``bash scripts/build-contracts.sh`` and commit sso_signer/artifacts/.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FORGE = ROOT / "node_modules" / "@foundry-rs" / "forge-linux-amd64" / "bin" / "forge"
COMMITTED = ROOT / "sso_signer" / "artifacts"
REGENERATE = "bash scripts/build-contracts.sh, then commit sso_signer/artifacts/"


def _fresh_build(tmp: pathlib.Path) -> pathlib.Path:
    # Own out/ and cache/ directories: the test neither reads nor disturbs the checkout's build.
    subprocess.run(
        [str(FORGE), "build", "--quiet", "--out", str(tmp / "out"), "--cache-path", str(tmp / "cache")],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    dest = tmp / "artifacts"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "export_artifacts.py"), "--out", str(tmp / "out"),
         "--dest", str(dest)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return dest


@pytest.mark.slow
def test_committed_artifacts_match_a_fresh_build(tmp_path: pathlib.Path) -> None:
    if not FORGE.is_file():
        pytest.skip(f"forge not installed at {FORGE} (run scripts/bootstrap.sh node)")
    fresh = _fresh_build(tmp_path)
    built = {p.name: p.read_bytes() for p in fresh.glob("*.json")}
    committed = {p.name: p.read_bytes() for p in COMMITTED.glob("*.json")}
    assert sorted(committed) == sorted(built), f"artifact set differs from contracts/src; run {REGENERATE}"
    stale = sorted(name for name in built if built[name] != committed[name])
    assert stale == [], f"{stale} differ from a fresh build of contracts/src; run {REGENERATE}"


def test_committed_artifacts_are_tracked_by_git() -> None:
    # A wheel built from a clean clone contains only what git tracks.
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        ["git", "ls-files", "sso_signer/artifacts"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    on_disk = sorted(f"sso_signer/artifacts/{p.name}" for p in COMMITTED.glob("*.json"))
    assert on_disk, "no artifacts in sso_signer/artifacts/"
    assert sorted(tracked) == on_disk
