"""The on-chain Era validator and the Python preflight (sso_signer.sso.preflight_era) agree, case by case, on
the verdict (valid / false / revert) and on the rule that decides it."""

from __future__ import annotations

import pytest

from contracts.era_cases import Case, Keys, build_cases, build_edge_cases, register_keys
from contracts.era_chain import EraValidator, Rule
from sso_signer.node import AnvilNode
from sso_signer.sso import PreflightError, preflight_era

pytestmark = pytest.mark.chain

# The chain's rule -> the preflight's rule id (sso_signer.sso errors' `rule`); None = accepted.
PREFLIGHT_RULE: dict[Rule, str | None] = {
    Rule.VALID: None,
    Rule.SIGNATURE_OUT_OF_RANGE: "rs_range",
    Rule.HIGH_S: "low_s",
    Rule.AUTH_DATA_TOO_SHORT: "auth_data_length",
    Rule.MISSING_USER_FLAGS: "flags_up_uv",
    Rule.CLIENT_DATA_NOT_JSON: "client_data_json",
    Rule.CHALLENGE_MISSING: "challenge_present",
    Rule.CHALLENGE_LENGTH: "challenge",
    Rule.CHALLENGE_MISMATCH: "challenge",
    Rule.WRONG_TYPE: "type",
    Rule.UNKNOWN_KEY: "key_lookup",
    Rule.CROSS_ORIGIN: "cross_origin",
    Rule.BAD_SIGNATURE: "p256",
    Rule.MALFORMED: "abi_decode",
}

# Where the preflight knowingly differs from the official contract (reported to the bindings room).
KNOWN_DIFFERENCES = {
    "type is not a string": "preflight: type / return false; on-chain (and officially) decodeString reverts",
    "origin is not a string": "preflight: key_lookup / return false; on-chain decodeString reverts",
    "clientDataJSON is an array": "both revert; preflight names client_data_json, chain challenge_present",
    "fat signature with trailing bytes": "preflight refuses non-canonical ABI; on-chain abi.decode takes it",
}


def _on_chain(validator: EraValidator, case: Case) -> tuple[str | None, str]:
    rule = validator.check(case.account, case.signed_hash, case.fat)
    assert rule is case.expected, (
        f"{case.name}: the chain named {rule.name}, the case expects {case.expected.name}"
    )
    verdict = validator.verdict(case.account, case.signed_hash, case.fat)
    outcome = {True: "valid", False: "return false", None: "revert"}[verdict]
    return PREFLIGHT_RULE[rule], outcome


def _preflight(case: Case, keys: Keys) -> tuple[str | None, str]:
    try:
        preflight_era(case.signed_hash, case.fat, keys.key_table(case.account))
    except PreflightError as exc:
        return exc.rule, exc.outcome
    return None, "valid"


@pytest.fixture(scope="module")
def keys(anvil: AnvilNode, era_validator: EraValidator) -> Keys:
    return register_keys(anvil, era_validator)


def test_every_rule_same_verdict_and_rule(era_validator: EraValidator, keys: Keys) -> None:
    mismatches = []
    for case in build_cases(keys):
        chain, local = _on_chain(era_validator, case), _preflight(case, keys)
        if chain != local:
            mismatches.append(f"{case.name}: chain {chain}, preflight {local}")
    assert mismatches == []


def _edge_params() -> list[object]:
    names = [
        "duplicate challenge: the last one counts",
        "standard base64 alphabet with padding",
        "challenge not base64",
        'crossOrigin is the string "false"',
        "crossOrigin null",
        *KNOWN_DIFFERENCES,
    ]
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[name]))
        if name in KNOWN_DIFFERENCES
        else name
        for name in names
    ]


def test_edge_cases_on_chain(era_validator: EraValidator, keys: Keys) -> None:
    # The chain side of every edge case, outside any xfail: _on_chain asserts the rule each case expects.
    for case in build_edge_cases(keys):
        _on_chain(era_validator, case)


@pytest.mark.parametrize("name", _edge_params())
def test_edge_case_same_verdict_and_rule(era_validator: EraValidator, keys: Keys, name: str) -> None:
    (case,) = [case for case in build_edge_cases(keys) if case.name == name]
    assert _on_chain(era_validator, case) == _preflight(case, keys)
