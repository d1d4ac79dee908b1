"""The forge suite (contracts/test: unit tests of both validator generations, the differential fuzz test of
the clientDataJSON reader against solady's JSON parser), run by pytest so that scripts/test.sh runs it."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FORGE = ROOT / "node_modules/@foundry-rs/forge-linux-amd64/bin/forge"


def test_forge_suite_passes() -> None:
    if not FORGE.is_file():
        pytest.skip(f"forge not installed at {FORGE} (run scripts/bootstrap.sh node)")
    # foundry.toml's solc wrapper and --offline keep it local; fuzz runs are set per test (inline config).
    done = subprocess.run(
        [str(FORGE), "test", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"forge test failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    # The differential fuzz test must have run, not been filtered out.
    assert "ClientDataJSONDiffTest" in done.stdout, done.stdout[-2000:]
