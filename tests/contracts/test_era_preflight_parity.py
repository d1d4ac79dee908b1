"""The on-chain Era validator and the Python preflight (sso_signer.sso.preflight("era", ...)) agree, case by
case, on the verdict (valid / false / revert) and on the rule that decides it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sso_signer._codec import b64url_decode
from sso_signer.exceptions import AssertionRejected
from sso_signer.node import AnvilNode
from sso_signer.sso import preflight
from sso_signer.sso._signature import decode_era_custom_signature
from sso_signer.zksync import Eip712Transaction
from tests.contracts.era_cases import Case, Keys, build_cases, build_edge_cases, register_keys
from tests.contracts.era_chain import EraValidator, Rule, transaction_struct

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
    Rule.CHALLENGE_LENGTH: "challenge_hash",
    Rule.CHALLENGE_MISMATCH: "challenge_hash",
    Rule.WRONG_TYPE: "client_data_type",
    Rule.UNKNOWN_KEY: "key_lookup",
    Rule.CROSS_ORIGIN: "cross_origin",
    Rule.BAD_SIGNATURE: "signature_invalid",
    Rule.MALFORMED: "abi_decode",
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
        preflight("era", case.signed_hash, case.fat, keys.key_table(case.account))
    except AssertionRejected as exc:
        return exc.rule, str(exc.outcome)  # a preflight rejection always names its outcome
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


def test_edge_cases_same_verdict_and_rule(era_validator: EraValidator, keys: Keys) -> None:
    # Hand-made clientDataJSON and encodings where a parser could differ from solady's and abi.decode.
    mismatches = []
    for case in build_edge_cases(keys):
        chain, local = _on_chain(era_validator, case), _preflight(case, keys)
        if chain != local:
            mismatches.append(f"{case.name}: chain {chain}, preflight {local}")
    assert mismatches == []


def test_other_official_vector_signatures(
    anvil: AnvilNode, era_validator: EraValidator, keys: Keys, era_vectors: dict[str, Any]
) -> None:
    # vector3: the Rust SDK's exact 736-byte customSignature (its key is not published and its 9-byte
    # credential id is below the registration minimum): decoded through challenge and type, then no key.
    vector3 = era_vectors["vector3_rust_sdk_full_signature"]
    blob = bytes.fromhex(vector3["expected_full_signature"][2:])
    challenge = json.loads(b64url_decode(vector3["client_data_json_b64u"]))["challenge"]
    signed_hash = b64url_decode(challenge)
    tx = Eip712Transaction(
        chain_id=1,
        nonce=0,
        from_address=keys.account,
        to=None,
        gas_limit=1,
        max_fee_per_gas=1,
        max_priority_fee_per_gas=0,
        custom_signature=blob,
    )
    assert era_validator.validate_transaction(keys.account, signed_hash, transaction_struct(tx)) is False
    fat = decode_era_custom_signature(blob).fat
    cases = [Case("vector3 (Rust SDK)", signed_hash, fat, keys.account, Rule.UNKNOWN_KEY)]
    # vector5: ethers-encoded fat signatures of hand-picked values; each stops at an early rule.
    expected = {
        "minimal_empty": Rule.SIGNATURE_OUT_OF_RANGE,
        "typical_webauthn": Rule.MISSING_USER_FLAGS,
        "long_credential_id": Rule.HIGH_S,
    }
    for item in era_vectors["vector5_ethers_fat_signature_abi"]["cases"]:
        encoded = bytes.fromhex(item["expected"][2:])
        cases.append(
            Case(f"vector5 {item['name']}", bytes(32), encoded, keys.account, expected[item["name"]])
        )
    for case in cases:
        assert _on_chain(era_validator, case) == _preflight(case, keys), case.name
