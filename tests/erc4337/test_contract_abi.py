"""The built contracts speak the official ABI: function and error selectors, event topics (vectors)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from eth_utils.crypto import keccak

from sso_signer._artifacts import abi_type
from tests.needs import artifact

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
    built = artifact(OWNERS[key])
    signature = key.removesuffix(" topic0")
    digest = keccak(signature.encode())
    expected = SELECTORS[key]
    if key.endswith("topic0"):
        assert "0x" + digest.hex() == expected
        assert signature in _signatures(built.abi, ("event",))
    else:
        assert "0x" + digest[:4].hex() == expected
        assert signature in _signatures(built.abi, ("function", "error"))


def test_account_created_event_indexes_account_and_deployer() -> None:
    abi = artifact("MSAFactory").abi
    event = next(e for e in abi if e.get("type") == "event" and e["name"] == "AccountCreated")
    assert [(i["name"], i["indexed"]) for i in event["inputs"]] == [("account", True), ("deployer", True)]
