"""Revert data decoded against every ABI the package ships, the EntryPoint's errors and nested reverts.

The chain tests take their reverts from the shipped contracts running on anvil (and Alto), not from bytes
assembled by hand.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from sso_signer._artifacts import ARTIFACTS_DIR, abi_type, load_artifact
from sso_signer.exceptions import ErrorCode, ExecutionReverted
from sso_signer.rpc import RevertData
from sso_signer.rpc._revert import RevertKind, describe_revert_in_text
from tests.errors import raises_rule

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _selector(signature: str) -> bytes:
    return bytes(keccak(text=signature))[:4]


def _shipped_errors() -> list[tuple[str, str, list[str]]]:
    found = []
    for path in sorted(ARTIFACTS_DIR.glob("*.json")):
        for entry in load_artifact(path.stem).abi:
            if entry.get("type") == "error":
                types = [abi_type(p) for p in entry.get("inputs", [])]
                found.append((path.stem, f"{entry['name']}({','.join(types)})", types))
    return found


def test_the_reported_raw_reverts_are_named() -> None:
    # The two selectors the review saw printed raw.
    key_not_found = _selector("KeyNotFound(string,bytes,address)") + encode(
        ["string", "bytes", "address"], ["http://localhost:5173", b"\x01" * 32, "0x" + "81" * 20]
    )
    revert = RevertData.decode(key_not_found)
    assert revert.kind is RevertKind.CUSTOM
    assert revert.error_name == "KeyNotFound"
    assert revert.describe().startswith('KeyNotFound("http://localhost:5173", 0x0101')
    assert RevertData.decode(bytes.fromhex("d6bda275")).describe() == "FailedCall()"


def test_every_shipped_error_is_known() -> None:
    errors = _shipped_errors()
    if not errors:
        pytest.skip(f"contracts not built (no artifacts in {ARTIFACTS_DIR}): run scripts/build-contracts.sh")
    for contract, signature, types in errors:
        args = [_sample(t) for t in types]
        revert = RevertData.decode(_selector(signature) + encode(types, args))
        assert revert.signature == signature, (contract, signature)
        assert revert.error_name == signature.split("(")[0]
        assert revert.describe().startswith(revert.error_name + "(")


def _sample(abi: str) -> Any:
    if abi == "address":
        return "0x" + "22" * 20
    if abi == "string":
        return "why"
    if abi == "bytes":
        return b"\x01\x02"
    if abi.startswith("bytes"):
        return b"\x07" * int(abi[5:])
    if abi.startswith(("uint", "int")):
        return 7
    if abi == "bool":
        return True
    raise AssertionError(f"no sample for {abi}")


def test_entry_point_errors_match_the_entry_point_artifact() -> None:
    path = ROOT / "node_modules/@account-abstraction/contracts/artifacts/EntryPoint.json"
    if not path.exists():
        pytest.skip(f"{path} is absent (npm install): cannot compare with the EntryPoint's ABI")
    abi = json.loads(path.read_text())["abi"]
    for entry in abi:
        if entry["type"] != "error":
            continue
        types = [abi_type(p) for p in entry["inputs"]]
        signature = f"{entry['name']}({','.join(types)})"
        revert = RevertData.decode(_selector(signature) + encode(types, [_sample(t) for t in types]))
        assert revert.signature == signature


def test_nested_reverts_inside_entry_point_errors_are_decoded() -> None:
    inner = _selector("InvalidClientData(string)") + encode(["string"], ["crossOrigin"])
    outer = _selector("FailedOpWithRevert(uint256,string,bytes)") + encode(
        ["uint256", "string", "bytes"], [0, "AA23 reverted", inner]
    )
    text = RevertData.decode(outer).describe()
    assert text == 'FailedOpWithRevert(0, "AA23 reverted", InvalidClientData("crossOrigin"))'
    error_string = bytes.fromhex("08c379a0") + encode(["string"], ["nope"])
    post_op = _selector("PostOpReverted(bytes)") + encode(["bytes"], [error_string])
    assert RevertData.decode(post_op).describe() == "PostOpReverted(reverted: 'nope')"
    # An inner revert nobody knows stays hex.
    unknown = _selector("PostOpReverted(bytes)") + encode(["bytes"], [b"\xde\xad\xbe\xef"])
    assert RevertData.decode(unknown).describe() == "PostOpReverted(0xdeadbeef)"


def test_a_bundler_message_with_revert_hex_is_described() -> None:
    raw = _selector("FailedCall()")
    message = f"UserOperation reverted during simulation with reason: 0x{raw.hex()}"
    assert describe_revert_in_text(message) == "FailedCall()"
    assert describe_revert_in_text("AA21 didn't pay prefund") is None
    assert describe_revert_in_text("reason: 0xdeadbeef") is None  # unknown selectors are not guessed


@given(st.binary(max_size=400))
def test_decoding_arbitrary_bytes_after_a_known_selector_never_raises(tail: bytes) -> None:
    for signature in ("KeyNotFound(string,bytes,address)", "FailedOpWithRevert(uint256,string,bytes)"):
        revert = RevertData.decode(_selector(signature) + tail)
        assert revert.raw[4:] == tail
        assert isinstance(revert.describe(), str)


# --- real reverts from the shipped contracts ------------------------------------------------------------


@pytest.mark.chain
def test_a_real_custom_error_from_a_shipped_contract(sso_anvil: Any) -> None:
    from sso_signer.node._anvil import dev_accounts
    from sso_signer.rpc import EthClient

    eth = EthClient(sso_anvil.url)
    try:
        artifact = load_artifact("WebAuthnValidator")
        validator, _ = eth.deploy_contract(dev_accounts(1)[0], artifact.deploy_data())
        caller = "0x" + "ab" * 20
        data = artifact.encode_call("removeValidationKey", b"\x05" * 32, "https://example.org")
        with pytest.raises(ExecutionReverted) as caught:
            eth.call({"to": validator, "from": caller, "data": data})
    finally:
        eth.close()
    revert = caught.value.revert
    assert revert is not None
    assert revert.error_name == "KeyNotFound"
    assert '"https://example.org"' in str(caught.value)
    assert "0x" + "05" * 32 in str(caught.value)
    assert "KeyNotFound(" in str(caught.value)


@pytest.mark.chain
@pytest.mark.bundler
def test_a_real_revert_inside_a_user_operation_is_named(passkey_account: Any, sso_stack: Any) -> None:

    validator = sso_stack.deployment.webauthn_validator
    data = load_artifact("WebAuthnValidator").encode_call(
        "removeValidationKey", b"\x06" * 32, "https://example.org"
    )
    with raises_rule(ErrorCode.USER_OPERATION_EXECUTION_REVERTED) as caught:
        passkey_account.send_calls([(validator, 0, data)])
    assert "KeyNotFound(" in str(caught.value)
    assert '"https://example.org"' in str(caught.value)
