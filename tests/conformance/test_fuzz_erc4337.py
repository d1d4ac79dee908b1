"""Fuzzing of the UserOperation room's decoders that tests/erc4337 does not fuzz yet: UserOperation JSON with
arbitrary member values, bundler receipts, execute calldata from arbitrary bytes."""

from __future__ import annotations

import pytest

from conformance.fuzz_targets import TARGETS as ALL
from tests.conformance.fuzzing import run_target

TARGETS = [
    "user_operation.arbitrary_json",
    "user_operation_receipt.arbitrary_json",
    "execute.arbitrary_bytes",
]


@pytest.mark.parametrize("name", TARGETS)
def test_only_typed_errors(name: str) -> None:
    assert run_target(name) > 0


def test_every_format_of_the_issue_has_targets() -> None:
    formats = {t.name.split(".")[0] for t in ALL}
    assert {
        "base64url",
        "cbor",
        "cose",
        "der",
        "authenticator_data",
        "client_data",
        "eip712_tx",
        "fat_signature",
        "era_custom_signature",
        "erc4337_signature",
        "user_operation",
    } <= formats
    # Every format has both an arbitrary-input target and, where an encoder exists, a round trip.
    assert {t.name for t in ALL if t.roundtrip} >= {
        "base64url.round_trip",
        "der.round_trip",
        "cose.round_trip",
        "authenticator_data.round_trip",
        "client_data.round_trip",
        "fat_signature.round_trip",
        "user_operation.round_trip",
    }
