"""Fuzzing of the bindings' decoders that tests/sso does not fuzz yet: fat signatures, Era custom signatures
and ERC-4337 passkey signatures from arbitrary and mutated bytes, validator init data, the clientDataJSON
and challenge helpers of the preflight."""

from __future__ import annotations

import pytest

from tests.conformance.fuzzing import run_target

TARGETS = [
    "sso.parse_client_data_json",
    "sso.decode_challenge",
    "fat_signature.arbitrary_bytes",
    "fat_signature.mutated",
    "fat_signature.mutated_lenient",
    "era_custom_signature.arbitrary_bytes",
    "era_custom_signature.mutated",
    "erc4337_signature.arbitrary_bytes",
    "validator_init_data.arbitrary_bytes",
    "validator_init_data.round_trip",
]


@pytest.mark.parametrize("name", TARGETS)
def test_only_typed_errors_and_round_trips(name: str) -> None:
    assert run_target(name) > 0
