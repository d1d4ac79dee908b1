"""The validator counts only the precompile's exact "valid" answer (one word equal to 1) as success.

On ``anvil --hardfork prague`` there is no P-256 precompile: a call to 0x100 succeeds with empty return data,
which must read as "invalid" (the gap this project closes). ``anvil_setCode`` then installs tiny stand-ins at
0x100 that answer in other shapes, to show which answers the validator takes as "valid".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sso_signer.node import AnvilNode
from sso_signer.sso import FatSignature
from sso_signer.webauthn import HeadlessPasskey
from tests.contracts.era_chain import EraValidator, Rule, new_account
from tests.needs import require_artifacts, started_anvil

pytestmark = pytest.mark.chain

P256_ADDRESS = "0x0000000000000000000000000000000000000100"
# Runtime code of the stand-ins (hand-assembled EVM).
ANSWERS: dict[str, tuple[bytes, Rule]] = {
    # PUSH1 1 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN: the exact "valid" word
    "word 1": (bytes.fromhex("600160005260206000f3"), Rule.VALID),
    # no code: empty return data, what a chain without the precompile (and RIP-7212 "invalid") gives
    "empty": (b"", Rule.BAD_SIGNATURE),
    # STOP: code that returns nothing
    "stop": (bytes.fromhex("00"), Rule.BAD_SIGNATURE),
    # PUSH1 2 ... RETURN 32 bytes: a word other than 1
    "word 2": (bytes.fromhex("600260005260206000f3"), Rule.BAD_SIGNATURE),
    # PUSH1 1 PUSH1 0 MSTORE8 PUSH1 1 PUSH1 0 RETURN: one byte 0x01
    "one byte 0x01": (bytes.fromhex("600160005360016000f3"), Rule.BAD_SIGNATURE),
    # word 1 then 32 more bytes: not the precompile's shape
    "64 bytes": (bytes.fromhex("600160005260406000f3"), Rule.BAD_SIGNATURE),
    # PUSH1 1 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 REVERT: a failed call, even with "1" in its data
    "revert with word 1": (bytes.fromhex("600160005260206000fd"), Rule.BAD_SIGNATURE),
}


@pytest.fixture(scope="module")
def prague() -> Iterator[AnvilNode]:
    require_artifacts("WebAuthValidator")
    with started_anvil(hardfork="prague") as node:
        yield node


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_only_one_word_equal_to_one_is_valid(prague: AnvilNode, answer: str) -> None:
    code, expected = ANSWERS[answer]
    validator = EraValidator.deploy(prague, new_account(prague))
    account = new_account(prague)
    passkey = HeadlessPasskey.generate(rp_id="sso.example.org", origin="https://sso.example.org")
    validator.add_key(account, passkey.credential_id, passkey.public_key, passkey.origin)
    signed_hash = bytes(range(32))
    fat = FatSignature.from_assertion(passkey.sign(signed_hash)).encode()

    prague.set_code(P256_ADDRESS, code)
    assert validator.check(account.address, signed_hash, fat) is expected
    assert validator.validate_signature(account.address, signed_hash, fat) is (expected is Rule.VALID)
