"""The Era validator's ABI against the one the published official SDK (npm zksync-sso) ships: every function
and event the SDK knows is there with the same types, outputs and mutability."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

import pytest

from sso_signer._artifacts import abi_type
from tests.needs import artifact

pytestmark = pytest.mark.node_peer

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Extra entries this validator adds on purpose (contracts/README.md, "Differences").
OWN_ADDITIONS = {
    "function checkSignature(bytes32,bytes,address)",
    "function checkSignatureOrRevert(bytes32,bytes,address)",
    "error WEBAUTHN_KEY_NOT_ON_CURVE()",
    "error WEBAUTHN_UNDECODABLE(uint8)",
}


def _signature(entry: Mapping[str, Any]) -> str:
    inputs = ",".join(abi_type(p) for p in entry.get("inputs", []))
    return f"{entry['type']} {entry['name']}({inputs})"


def _shape(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    outputs = tuple(abi_type(p) for p in entry.get("outputs", []))
    indexed = tuple(bool(p.get("indexed")) for p in entry.get("inputs", []))
    return outputs, entry.get("stateMutability"), indexed


@pytest.fixture(scope="module")
def sdk_abi() -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not on PATH: the published SDK's ABI cannot be read")
    if not (ROOT / "node_modules" / "zksync-sso" / "package.json").exists():
        pytest.skip("npm package zksync-sso not in node_modules: run the project set-up script")
    script = pathlib.Path(__file__).with_name("sdk_webauth_abi.mjs")
    proc = subprocess.run(
        [node, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    abi: list[dict[str, Any]] = json.loads(proc.stdout)
    return abi


def test_sdk_functions_and_events_are_identical(sdk_abi: list[dict[str, Any]]) -> None:
    abi = artifact("WebAuthValidator").abi
    ours = {_signature(e): e for e in abi if e.get("type") != "constructor"}
    official = {_signature(e): e for e in sdk_abi if e["type"] in ("function", "event")}
    assert len(official) == 11, "the SDK's WebAuthValidator ABI changed shape"
    for name, entry in official.items():
        assert name in ours, f"missing {name}"
        assert _shape(ours[name]) == _shape(entry), name

    # The SDK names the registration errors without the WEBAUTHN_ prefix that the contracts' HEAD (and
    # sso-era.md §1.2) uses; the conditions are the same, the selectors follow HEAD.
    sdk_errors = {_signature(e) for e in sdk_abi if e["type"] == "error"}
    renamed = {name.replace("error ", "error WEBAUTHN_", 1) for name in sdk_errors}
    assert renamed <= set(ours)
    assert set(ours) - set(official) - renamed == OWN_ADDITIONS
