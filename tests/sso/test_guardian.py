"""GuardianExecutor encoding (I/O-free) against the official module's run vectors and the built ABI."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from sso_signer._artifacts import abi_type
from sso_signer.accounts import MsaDeployment
from sso_signer.exceptions import ErrorCode, InvalidEncoding, SsoEncodingError, SsoSignerError
from sso_signer.sso import (
    GuardianEvent,
    GuardianExecutor,
    GuardianExecutorError,
    GuardianStatus,
    RecoveryRequest,
    RecoveryType,
    validator_init_data,
)
from tests.errors import raises_rule
from tests.needs import artifact

VECTORS: dict[str, Any] = json.loads(
    (pathlib.Path(__file__).parent / "vectors" / "erc4337-guardian.json").read_text()
)
RUN: dict[str, Any] = VECTORS["run"]
ACCOUNT = RUN["account"]
GUARDIAN = RUN["guardian"]
NEW_OWNER = RUN["newOwner"]
T0 = 1_750_000_000


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def _topic(address: str) -> bytes:
    return bytes(12) + _hex(address)


# --- calldata against the official run -------------------------------------------------------------------


def test_calldata_equals_the_official_run() -> None:
    data = GuardianExecutor.eoa_recovery_data(NEW_OWNER)
    assert data == _hex(RUN["recovery_data"])
    assert GuardianExecutor.install(RUN["executor"]) == _hex(RUN["installModule_calldata"])
    assert GuardianExecutor.propose_guardian(GUARDIAN) == _hex(RUN["proposeGuardian_calldata"])
    assert GuardianExecutor.accept_guardian(ACCOUNT) == _hex(RUN["acceptGuardian_calldata"])
    assert GuardianExecutor.initialize_recovery(ACCOUNT, RecoveryType.EOA, data) == _hex(
        RUN["initializeRecovery_calldata"]
    )
    assert GuardianExecutor.finalize_recovery(ACCOUNT, data) == _hex(RUN["finalizeRecovery_calldata"])


def test_selectors_equal_the_spec_table() -> None:
    by_signature = {name: "0x" + sel.hex() for name, sel in GuardianExecutor.SELECTORS.items()}
    for signature, expected in VECTORS["selectors"].items():
        name = signature.split("(")[0]
        if name in by_signature:
            assert by_signature[name] == expected, signature
    assert GuardianExecutor.remove_guardian(GUARDIAN)[:4].hex() == "71404156"
    assert GuardianExecutor.discard_recovery().hex() == "3d186f86"
    assert GuardianExecutor.guardians_for(ACCOUNT).hex() == "29806a1c" + "00" * 12 + ACCOUNT[2:].lower()
    assert GuardianExecutor.guardian_status_for(ACCOUNT, GUARDIAN)[:4].hex() == "921d2edd"
    assert GuardianExecutor.pending_recovery(ACCOUNT)[:4].hex() == "ea969265"
    errors = {name: "0x" + sel.hex() for name, sel in GuardianExecutor.ERROR_SELECTORS.items()}
    for signature, expected in VECTORS["errors"].items():
        assert errors[signature.split("(")[0]] == expected, signature
    topics = {name: "0x" + t.hex() for name, t in GuardianExecutor.EVENT_TOPICS.items()}
    for signature, expected in VECTORS["events"].items():
        assert topics[signature.split("(")[0]] == expected, signature


def test_passkey_recovery_data_is_the_add_validation_key_arguments() -> None:
    cred = bytes(range(20))
    data = GuardianExecutor.passkey_recovery_data(cred, (1, 2), "https://sso.example.org")
    assert data == bytes(
        abi_encode(
            ["bytes", "bytes32[2]", "string"],
            [cred, [b"\0" * 31 + b"\1", b"\0" * 31 + b"\2"], "https://sso.example.org"],
        )
    )
    assert data == validator_init_data(cred, (1, 2), "https://sso.example.org", max_origin_length=255)
    with raises_rule(ErrorCode.BAD_CREDENTIAL_ID_LENGTH):
        GuardianExecutor.passkey_recovery_data(b"short", (1, 2), "https://sso.example.org")


# --- refusals before anything is sent --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: GuardianExecutor.propose_guardian("0x" + "00" * 20), SsoEncodingError),
        (lambda: GuardianExecutor.propose_guardian("0x1234"), InvalidEncoding),
        (lambda: GuardianExecutor.accept_guardian("nope"), InvalidEncoding),
        (lambda: GuardianExecutor.initialize_recovery(ACCOUNT, RecoveryType.NONE, b"\1"), SsoEncodingError),
        (lambda: GuardianExecutor.initialize_recovery(ACCOUNT, 3, b"\1"), SsoEncodingError),  # type: ignore[arg-type]
        (lambda: GuardianExecutor.initialize_recovery(ACCOUNT, RecoveryType.EOA, b""), SsoEncodingError),
        (lambda: GuardianExecutor.finalize_recovery(ACCOUNT, "0x01"), SsoEncodingError),  # type: ignore[arg-type]
        (lambda: GuardianExecutor.eoa_recovery_data("0x" + "7" * 39), InvalidEncoding),
    ],
)
def test_builders_refuse_what_the_module_would_revert_on(call: Any, error: type[SsoSignerError]) -> None:
    with pytest.raises(error):
        call()


# --- state reads -----------------------------------------------------------------------------------------


def test_pending_recovery_decodes_the_official_run() -> None:
    request = GuardianExecutor.decode_pending_recovery(_hex(RUN["pendingRecovery_abi"]))
    assert request == RecoveryRequest(RecoveryType.EOA, bytes(keccak(_hex(RUN["recovery_data"]))), T0)
    assert request.exists
    assert request.matches(_hex(RUN["recovery_data"]))
    assert not request.matches(b"\1")
    # The strict window the official module enforces: exactly +24 h is refused, +24 h + 1 s accepted.
    assert not request.finalizable_at(T0 + GuardianExecutor.REQUEST_DELAY_SECONDS)
    assert request.finalizable_at(T0 + GuardianExecutor.REQUEST_DELAY_SECONDS + 1)
    assert request.earliest_finalize == T0 + GuardianExecutor.REQUEST_DELAY_SECONDS + 1
    assert request.finalizable_at(T0 + GuardianExecutor.REQUEST_VALIDITY_SECONDS - 1)
    assert not request.finalizable_at(T0 + GuardianExecutor.REQUEST_VALIDITY_SECONDS)
    assert request.expires_at == T0 + GuardianExecutor.REQUEST_VALIDITY_SECONDS


def test_no_pending_recovery_decodes_as_none() -> None:
    request = GuardianExecutor.decode_pending_recovery(bytes(96))
    assert request.recovery_type is RecoveryType.NONE
    assert not request.exists
    assert not request.finalizable_at(T0)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        bytes(64),
        (3).to_bytes(32, "big") + bytes(64),  # no such recovery type
        bytes(64) + (1 << 48).to_bytes(32, "big"),  # timestamp beyond uint48
        bytes(97),
    ],
)
def test_pending_recovery_rejects_malformed_results(blob: bytes) -> None:
    with pytest.raises(SsoEncodingError):
        GuardianExecutor.decode_pending_recovery(blob)


def test_guardian_status_and_list() -> None:
    assert GuardianExecutor.decode_guardian_status(
        bytes(abi_encode(["bool", "bool"], [True, True]))
    ) == GuardianStatus(True, True)
    assert GuardianExecutor.decode_guardian_status(bytes(64)) == GuardianStatus(False, False)
    with pytest.raises(SsoEncodingError):
        GuardianExecutor.decode_guardian_status((2).to_bytes(32, "big") + bytes(32))
    listed = GuardianExecutor.decode_guardians(bytes(abi_encode(["address[]"], [[GUARDIAN, NEW_OWNER]])))
    assert listed == (GUARDIAN, NEW_OWNER)
    with pytest.raises(SsoEncodingError):
        GuardianExecutor.decode_guardians(b"\1")


# --- events ----------------------------------------------------------------------------------------------


def test_events_of_the_official_run_decode() -> None:
    logs = RUN["event_logs"]
    proposed = GuardianExecutor.decode_event(
        [_hex(logs["log2.topic0"]), _topic(ACCOUNT), _topic(GUARDIAN)], b""
    )
    assert proposed == GuardianEvent("GuardianProposed", ACCOUNT, GUARDIAN)
    added = GuardianExecutor.decode_event([_hex(logs["log4.topic0"]), _topic(ACCOUNT), _topic(GUARDIAN)], b"")
    assert added.name == "GuardianAdded"
    initiated = GuardianExecutor.decode_event(
        [_hex(logs["log5.topic0"]), _topic(ACCOUNT), _topic(GUARDIAN)], _hex(logs["log5.data"])
    )
    assert initiated.name == "RecoveryInitiated"
    assert initiated.guardian == GUARDIAN
    assert initiated.request == GuardianExecutor.decode_pending_recovery(_hex(RUN["pendingRecovery_abi"]))
    assert initiated.recovery_data == _hex(RUN["recovery_data"])
    finished = GuardianExecutor.decode_event([_hex(logs["log7.topic0"]), _topic(ACCOUNT)], b"")
    assert finished == GuardianEvent("RecoveryFinished", ACCOUNT)


@pytest.mark.parametrize(
    ("topics", "data"),
    [
        ([], b""),
        ([bytes(32), _topic(ACCOUNT)], b""),  # not a GuardianExecutor event
        ([GuardianExecutor.EVENT_TOPICS["RecoveryFinished"]], b""),  # account topic missing
        ([GuardianExecutor.EVENT_TOPICS["RecoveryFinished"], b"\1" * 32], b""),  # not an address
        ([GuardianExecutor.EVENT_TOPICS["GuardianAdded"], _topic(ACCOUNT), _topic(GUARDIAN)], b"\0"),
        ([GuardianExecutor.EVENT_TOPICS["RecoveryInitiated"], _topic(ACCOUNT), _topic(GUARDIAN)], bytes(64)),
    ],
)
def test_malformed_logs_are_refused(topics: list[bytes], data: bytes) -> None:
    with pytest.raises(SsoEncodingError):
        GuardianExecutor.decode_event(topics, data)


# --- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "finalize_without_request",
        "initialize_passkey_without_webauthn_installed",
        "finalize_at_exactly_24h",
        "finalize_with_other_data",
    ],
)
def test_revert_data_of_the_official_run_decodes(key: str) -> None:
    vector = RUN[key]
    decoded = GuardianExecutor.decode_error(_hex(vector["data"]))
    assert decoded is not None
    assert decoded.name == vector["error"].split("(")[0]
    expected = tuple(int(a) if a.isdigit() else (_hex(a) if len(a) == 66 else a) for a in vector["args"])
    assert decoded == GuardianExecutorError(decoded.name, expected)


def test_foreign_revert_data_is_not_claimed() -> None:
    assert GuardianExecutor.decode_error(bytes.fromhex("08c379a0") + bytes(64)) is None
    with pytest.raises(SsoEncodingError):
        GuardianExecutor.decode_error(GuardianExecutor.ERROR_SELECTORS["RecoveryInProgress"] + b"\1")


# --- the built contract ----------------------------------------------------------------------------------


def _signatures(abi: Any, kind: str) -> dict[str, str]:
    return {
        e["name"]: f"{e['name']}({','.join(abi_type(p) for p in e.get('inputs', []))})"
        for e in abi
        if e.get("type") == kind
    }


def test_built_contract_has_the_same_selectors_events_and_errors() -> None:
    abi = artifact("GuardianExecutor").abi
    functions = _signatures(abi, "function")
    for name, selector in GuardianExecutor.SELECTORS.items():
        assert bytes(keccak(text=functions[name])[:4]) == selector, name
    for signature, expected in VECTORS["selectors"].items():
        assert signature in functions.values(), signature
        assert "0x" + keccak(text=signature)[:4].hex() == expected
    events = _signatures(abi, "event")
    assert {name: bytes(keccak(text=sig)) for name, sig in events.items()} == GuardianExecutor.EVENT_TOPICS
    errors = _signatures(abi, "error")
    assert {
        name: bytes(keccak(text=sig)[:4]) for name, sig in errors.items()
    } == GuardianExecutor.ERROR_SELECTORS
    indexed = {e["name"]: [i["indexed"] for i in e["inputs"]] for e in abi if e.get("type") == "event"}
    assert indexed["RecoveryInitiated"] == [True, True, False, False]
    assert indexed["GuardianAdded"] == [True, True]


def test_deployment_json_keeps_the_guardian_executor() -> None:
    deployment = MsaDeployment(
        chain_id=31337,
        entry_point="0x4337084d9e255ff0702461cf8895ce9e3b5ff108",
        factory="0x" + "aa" * 20,
        beacon="0x" + "bb" * 20,
        account_implementation="0x" + "cc" * 20,
        webauthn_validator="0x" + "dd" * 20,
        guardian_executor=RUN["executor"].lower(),
    )
    assert deployment.guardian_executor == RUN["executor"]
    assert deployment.to_json()["guardianExecutor"] == RUN["executor"]
    assert MsaDeployment.from_json(deployment.to_json()) == deployment
