"""Each GuardianExecutor custom error becomes its typed error and rule (no chain: the flow's one read of the
chain's clock is answered here), and a revert that is not the module's is handed back unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode

from sso_signer._shell import drive
from sso_signer.accounts._recovery import _refusal_flow
from sso_signer.exceptions import (
    AlreadyExists,
    ErrorCode,
    ExecutionReverted,
    NotFound,
    SsoEncodingError,
    SsoSignerError,
    StateError,
)
from sso_signer.rpc import RevertData
from sso_signer.rpc._core import RpcCall
from sso_signer.sso import GuardianExecutor

ACCOUNT = "0xe31efe3b1b8724f776C1468c06e5ffC11F37c646"
GUARDIAN = "0x9999999999999999999999999999999999999999"
VALIDATOR = "0x8888888888888888888888888888888888888888"
T0 = 1_750_000_000
DAY = 24 * 3600


def _reverted(name: str, types: list[str], values: list[Any]) -> ExecutionReverted:
    raw = GuardianExecutor.ERROR_SELECTORS[name] + bytes(abi_encode(types, values))
    return ExecutionReverted(3, "execution reverted", revert=RevertData.decode(raw))


def _refusal(exc: ExecutionReverted, now: int = T0) -> SsoSignerError:
    asked: list[str] = []

    def answer(step: Any) -> Any:
        assert isinstance(step, RpcCall)
        asked.append(step.method)
        return {"timestamp": hex(now)}

    return drive(_refusal_flow(exc, ACCOUNT), answer)


@pytest.mark.parametrize(
    ("name", "types", "values", "cls", "rule"),
    [
        ("NotInitialized", ["address"], [ACCOUNT], NotFound, ErrorCode.GUARDIAN_MODULE_NOT_INSTALLED),
        ("GuardianInvalidAddress", ["address"], [ACCOUNT], SsoEncodingError, ErrorCode.INVALID_GUARDIAN),
        (
            "GuardianAlreadyPresent",
            ["address", "address"],
            [ACCOUNT, GUARDIAN],
            AlreadyExists,
            ErrorCode.GUARDIAN_ALREADY_PRESENT,
        ),
        ("GuardianNotFound", ["address", "address"], [ACCOUNT, GUARDIAN], NotFound, ErrorCode.NOT_A_GUARDIAN),
        (
            "GuardianNotActive",
            ["address", "address"],
            [ACCOUNT, GUARDIAN],
            StateError,
            ErrorCode.GUARDIAN_NOT_ACTIVE,
        ),
        (
            "ValidatorNotInstalled",
            ["address", "address"],
            [ACCOUNT, VALIDATOR],
            NotFound,
            ErrorCode.RECOVERY_VALIDATOR_NOT_INSTALLED,
        ),
        ("UnsupportedRecoveryType", ["uint8"], [0], NotFound, ErrorCode.NO_PENDING_RECOVERY),
        ("NoRecoveryInProgress", ["address"], [ACCOUNT], NotFound, ErrorCode.NO_PENDING_RECOVERY),
        ("RecoveryInProgress", ["address"], [ACCOUNT], AlreadyExists, ErrorCode.RECOVERY_IN_PROGRESS),
        (
            "RecoveryDataMismatch",
            ["bytes32", "bytes32"],
            [b"\x01" * 32, b"\x02" * 32],
            StateError,
            ErrorCode.RECOVERY_DATA_MISMATCH,
        ),
        ("EmptyRecoveryData", [], [], SsoEncodingError, ErrorCode.SSO_ENCODING),
    ],
)
def test_each_module_error_has_its_rule(
    name: str, types: list[str], values: list[Any], cls: type[SsoSignerError], rule: ErrorCode
) -> None:
    refusal = _refusal(_reverted(name, types, values))
    assert type(refusal) is cls
    assert refusal.rule is rule
    assert name in str(refusal)
    assert ACCOUNT in str(refusal)


@pytest.mark.parametrize(
    ("now", "rule"),
    [
        (T0 + DAY, ErrorCode.RECOVERY_TOO_EARLY),  # the window is strict: exactly 24 h is still early
        (T0 + 3 * DAY, ErrorCode.RECOVERY_EXPIRED),
        (T0 + 10 * DAY, ErrorCode.RECOVERY_EXPIRED),
    ],
)
def test_an_invalid_timestamp_is_told_apart_by_the_chain_clock(now: int, rule: ErrorCode) -> None:
    refusal = _refusal(_reverted("RecoveryTimestampInvalid", ["uint48"], [T0]), now=now)
    assert type(refusal) is StateError
    assert refusal.rule is rule


def test_the_wait_is_in_the_message_when_too_early() -> None:
    refusal = _refusal(_reverted("RecoveryTimestampInvalid", ["uint48"], [T0]), now=T0 + 100)
    assert f"about {DAY + 1 - 100} s from now" in str(refusal)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        bytes.fromhex("08c379a0") + bytes(abi_encode(["string"], ["not the module"])),
        GuardianExecutor.ERROR_SELECTORS["UnsupportedRecoveryType"] + bytes(abi_encode(["uint8"], [3])),
        GuardianExecutor.ERROR_SELECTORS["NotInitialized"] + b"\x00" * 5,  # cut: not decodable
    ],
)
def test_a_revert_that_is_not_a_module_refusal_is_handed_back(raw: bytes) -> None:
    exc = ExecutionReverted(3, "execution reverted", revert=RevertData.decode(raw))
    assert _refusal(exc) is exc
