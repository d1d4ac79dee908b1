"""The Era GuardianRecoveryValidator encoding (I/O-free) against the official Era SDK's recovery vectors, the
spec's selectors and the project's built module ABI."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from sso_signer._artifacts import abi_type
from sso_signer.exceptions import ErrorCode, InvalidEncoding
from sso_signer.sso import GuardianRecoveryValidator as G
from tests.errors import raises_rule
from tests.needs import SHARED_VECTORS, artifact

ACCOUNT = "0xe31efe3b1b8724f776C1468c06e5ffC11F37c646"
CREDENTIAL = bytes(range(20))
# sso-sessions.md §6.2, as written in the spec (not computed here).
SPEC_SELECTORS = {
    "proposeGuardian": "9f5d29c9",
    "addGuardian": "85431596",
    "removeGuardian": "3cab947d",
    "initRecovery": "236ad679",
    "discardRecovery": "51bd1f69",
    "guardiansFor": "511f723d",
    "guardianOf": "cb339850",
    "getPendingRecoveryData": "ab9d5fff",
    "accountGuardianData": "9b99752a",
}
SPEC_ERRORS = {
    "GUARDIAN_INVALID_WEBAUTH_VALIDATOR": "fe3b2a93",
    "WEBAUTH_VALIDATOR_NOT_INSTALLED": "08a00225",
    "GUARDIAN_CANNOT_BE_SELF": "8b1208ee",
    "GUARDIAN_INVALID_ADDRESS": "878980d1",
    "GUARDIAN_INVALID_ACCOUNT": "bc58cf81",
    "GUARDIAN_NOT_PROPOSED": "d1a6009a",
    "GUARDIAN_NOT_FOUND": "f3e26e73",
    "GUARDIAN_RECOVERY_IN_PROGRESS": "60433b3e",
    "GUARDIAN_INVALID_RECOVERY_CALL": "b7e2a153",
}


@pytest.fixture(scope="module")
def vector() -> dict[str, Any]:
    path = SHARED_VECTORS / "sso-sessions.json"
    if not path.exists():
        pytest.skip(f"shared vector file {path} not present on this machine")
    recovery: dict[str, Any] = json.loads(path.read_text())["era_sdk"]["recovery"]
    return recovery


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def test_selectors_and_errors_are_the_specs_and_the_built_modules() -> None:
    assert {k: v.hex() for k, v in G.SELECTORS.items()} == SPEC_SELECTORS
    assert {k: v.hex() for k, v in G.ERROR_SELECTORS.items()} == SPEC_ERRORS
    abi = artifact("GuardianRecoveryValidator").abi
    built = {
        e["name"]: keccak(text=f"{e['name']}({','.join(abi_type(p) for p in e['inputs'])})")[:4].hex()
        for e in abi
        if e["type"] in ("function", "error") and e["name"] in SPEC_SELECTORS | SPEC_ERRORS
    }
    assert built == SPEC_SELECTORS | SPEC_ERRORS


def test_the_era_sdk_recovery_vectors_byte_for_byte(vector: dict[str, Any]) -> None:
    origin = vector["origin"]
    assert G.hashed_origin(origin) == _hex(vector["hashed_origin_domain"])
    assert G.propose_guardian(origin, "0x" + "11" * 20) == _hex(vector["propose_guardian_calldata"])
    assert G.add_guardian(origin, ACCOUNT) == _hex(vector["add_guardian_calldata"])
    module = "0x6AA83E35439D71F28273Df396BC7768dbaA9849D"  # the Era Sepolia module (sso-era.md)
    assert G.finish_custom_signature(module) == _hex(vector["recovery_tx_custom_signature"])


def test_init_recovery_has_the_vectors_layout(vector: dict[str, Any]) -> None:
    # The vector's credential id is not published, only its hash (bytes 36..68): every other byte is equal
    # and that word is keccak256 of the credential given.
    expected = _hex(vector["init_recovery_calldata"])
    ours = G.init_recovery(ACCOUNT, CREDENTIAL, (1, 2), vector["origin"])
    assert len(ours) == len(expected) == 4 + 5 * 32
    assert ours[:36] + ours[68:] == expected[:36] + expected[68:]
    assert ours[36:68] == keccak(CREDENTIAL)


def test_finish_calldata_is_add_validation_key_and_views_decode() -> None:
    origin = "https://app.example"
    data = G.finish_calldata(CREDENTIAL, (3, 4), origin)
    assert data[:4] == bytes.fromhex("8f5bc2af")  # addValidationKey(bytes,bytes32[2],string)
    assert data[4:] == abi_encode(
        ["bytes", "bytes32[2]", "string"],
        [CREDENTIAL, [(3).to_bytes(32, "big"), (4).to_bytes(32, "big")], origin],
    )
    request = G.decode_pending_recovery(
        abi_encode(
            ["(bytes32,bytes32[2],uint256)"],
            [(keccak(CREDENTIAL), [(3).to_bytes(32, "big"), (4).to_bytes(32, "big")], 1000)],
        )
    )
    assert (request.exists, request.public_key, request.earliest_finish, request.expires_at) == (
        True,
        (3, 4),
        1000 + 86_400,
        1000 + 3 * 86_400,
    )
    assert request.matches(CREDENTIAL, (3, 4))
    assert not request.matches(CREDENTIAL, (3, 5))
    assert request.finishable_at(1000 + 86_400)
    assert request.finishable_at(1000 + 3 * 86_400)
    assert not request.finishable_at(1000 + 86_399)
    assert not request.finishable_at(1000 + 3 * 86_400 + 1)
    guardians = G.decode_guardians(abi_encode(["(address,bool,uint64)[]"], [[(ACCOUNT, True, 7)]]))
    assert [(g.address, g.is_ready, g.added_at, g.exists) for g in guardians] == [(ACCOUNT, True, 7, True)]
    assert not G.decode_guardian(
        abi_encode(["address", "bool", "uint64"], ["0x" + "00" * 20, False, 0])
    ).exists
    assert G.decode_accounts(abi_encode(["address[]"], [[ACCOUNT.lower()]])) == (ACCOUNT,)
    assert G.decode_error(bytes.fromhex("f3e26e73") + abi_encode(["address"], [ACCOUNT])) == (
        "GUARDIAN_NOT_FOUND",
        (ACCOUNT,),
    )
    assert G.decode_error(b"\x01\x02\x03\x04") is None


def test_inputs_the_module_would_refuse_are_typed_errors() -> None:
    with raises_rule(ErrorCode.INVALID_GUARDIAN):
        G.propose_guardian("https://app.example", "0x" + "00" * 20)
    with pytest.raises(InvalidEncoding):
        G.add_guardian("https://app.example", "0x1234")
    with raises_rule(ErrorCode.BAD_DOMAIN_LENGTH):
        G.discard_recovery("")
    with raises_rule(ErrorCode.BAD_CREDENTIAL_ID_LENGTH):
        G.init_recovery(ACCOUNT, b"short", (1, 2), "https://app.example")
    with raises_rule(ErrorCode.EMPTY_PUBLIC_KEY):
        G.finish_calldata(CREDENTIAL, (0, 0), "https://app.example")
    with raises_rule(ErrorCode.SSO_ENCODING):
        G.decode_pending_recovery(b"\x00" * 31)


def test_the_finish_bounds_match_the_built_module() -> None:
    # The stand-in's own view and constants (not the official module's): the SDK reads the last attempt with
    # the built ABI's selector and builds finishes at the built floor.
    module, origin = artifact("GuardianRecoveryValidator"), "https://auth-test.zksync.dev"
    call = G.last_finish_attempt(origin, ACCOUNT)
    assert call == module.encode_call("lastFinishAttempt", G.hashed_origin(origin), ACCOUNT)
    assert G.decode_last_finish_attempt((1_750_000_000).to_bytes(32, "big")) == 1_750_000_000
    assert G.FINISH_MIN_GAS_LIMIT >= 2_000_000
    assert G.FINISH_RETRY_DELAY_SECONDS == 3600
    assert "lastFinishAttempt" not in G.SELECTORS  # the official module's table is unchanged
    with raises_rule(ErrorCode.INVALID_ADDRESS):
        G.last_finish_attempt(origin, "0x1234")
