"""Fuzzing of the passkey room's parsers that tests/webauthn does not fuzz yet: DER mutations, P1363, raw
CBOR, clientDataJSON as arbitrary JSON, and the browser JSON of assertions and registrations (arbitrary and
shaped)."""

from __future__ import annotations

import pytest

from tests.conformance.fuzzing import run_target

TARGETS = [
    "der.mutated",
    "p1363.arbitrary_bytes",
    "cbor.arbitrary_bytes",
    "client_data.arbitrary_json",
    "assertion_json.shaped",
    "assertion_json.arbitrary",
    "assertion_json.arbitrary_text",
    "registration_json.shaped",
    "registration_json.arbitrary_text",
]


@pytest.mark.parametrize("name", TARGETS)
def test_only_typed_errors_and_round_trips(name: str) -> None:
    assert run_target(name) > 0
