"""Shared fixtures of the sso room tests: the official vectors, read from the shared JSON files."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from tests.needs import SHARED_VECTORS

VECTORS = SHARED_VECTORS


def _load(name: str) -> dict[str, Any]:
    path = VECTORS / name
    if not path.exists():
        pytest.skip(f"shared vector file {path} not present on this machine")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.fixture(scope="session")
def era_vectors() -> dict[str, Any]:
    return _load("sso-era.json")


@pytest.fixture(scope="session")
def erc4337_vectors() -> dict[str, Any]:
    return _load("sso-4337.json")


ROOT = pathlib.Path(__file__).resolve().parents[2]
PEERS = ROOT / "tests" / "peers"


def run_peer(script: str, cases: list[dict[str, Any]], *, needs: tuple[str, ...]) -> list[dict[str, Any]]:
    """Run ``tests/peers/<script>`` once with ``cases`` as JSON on stdin and return its JSON answer.

    Skips (with the reason) when node or a needed npm package is missing.
    """
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not on PATH: the TypeScript peer cross-check cannot run")
    for package in needs:
        if not (ROOT / "node_modules" / package / "package.json").exists():
            pytest.skip(f"npm package {package} not in node_modules: run the project set-up script")
    proc = subprocess.run(
        [node, str(PEERS / script)],
        input=json.dumps(cases).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{script} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    answer: list[dict[str, Any]] = json.loads(proc.stdout)
    assert len(answer) == len(cases)
    return answer


PeerRunner = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def peer() -> PeerRunner:
    """``peer(script, cases, needs=(...))``: run a node peer once with every case on stdin."""
    return run_peer
