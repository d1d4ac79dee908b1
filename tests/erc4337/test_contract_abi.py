"""The built contracts speak the official ABI: function and error selectors, event topics (vectors)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from eth_utils.crypto import keccak

from sso_signer._artifacts import ArtifactNotFound, abi_type, load_artifact

VECTORS = json.loads((pathlib.Path(__file__).parent / "vectors" / "sso-4337.json").read_text())["vectors"]
SELECTORS: dict[str, str] = next(v for v in VECTORS if v["id"] == "selectors")

# Which of our contracts must expose each official signature.
OWNERS = {
    "execute(bytes32,bytes)": "ModularSmartAccount",
    "initializeAccount(address[],bytes[])": "ModularSmartAccount",
    "deployAccount(bytes32,bytes)": "MSAFactory",
    "addValidationKey(bytes,bytes32[2],string)": "WebAuthnValidator",
    "getAccountList(string,bytes)": "WebAuthnValidator",
    "getAccountKey(string,bytes,address)": "WebAuthnValidator",
    "InvalidAuthDataFlags(bytes1)": "WebAuthnValidator",
    "InvalidClientData(string)": "WebAuthnValidator",
    "AccountCreated(address,address) topic0": "MSAFactory",
    "PasskeyCreated(address,string,bytes) topic0": "WebAuthnValidator",
}


def _signatures(abi: Any, kinds: tuple[str, ...]) -> set[str]:
    return {
        f"{e['name']}({','.join(abi_type(p) for p in e.get('inputs', []))})"
        for e in abi
        if e.get("type") in kinds
    }


@pytest.mark.parametrize("key", sorted(OWNERS))
def test_official_signature_present_with_same_selector(key: str) -> None:
    try:
        artifact = load_artifact(OWNERS[key])
    except ArtifactNotFound as exc:
        pytest.skip(f"contract artifacts not built: run scripts/build-contracts.sh ({exc})")
    signature = key.removesuffix(" topic0")
    digest = keccak(signature.encode())
    expected = SELECTORS[key]
    if key.endswith("topic0"):
        assert "0x" + digest.hex() == expected
        assert signature in _signatures(artifact.abi, ("event",))
    else:
        assert "0x" + digest[:4].hex() == expected
        assert signature in _signatures(artifact.abi, ("function", "error"))


def test_account_created_event_indexes_account_and_deployer() -> None:
    try:
        abi = load_artifact("MSAFactory").abi
    except ArtifactNotFound as exc:
        pytest.skip(f"contract artifacts not built: run scripts/build-contracts.sh ({exc})")
    event = next(e for e in abi if e.get("type") == "event" and e["name"] == "AccountCreated")
    assert [(i["name"], i["indexed"]) for i in event["inputs"]] == [("account", True), ("deployer", True)]
