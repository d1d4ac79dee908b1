"""The bottom layer's address classifier, shared by the sso, zksync and erc4337 rooms."""

from __future__ import annotations

import pytest

from sso_signer._codec import classify_address_text

CHECKSUMMED = "0x006ecc2D79242F1986b7cb5F636d6E3f499f1026"


@pytest.mark.parametrize(
    "text",
    [CHECKSUMMED, CHECKSUMMED.lower(), "0x" + CHECKSUMMED[2:].upper(), "0X" + CHECKSUMMED[2:].lower()],
)
def test_accepted_spellings_give_the_checksummed_form(text: str) -> None:
    assert classify_address_text(text) == (CHECKSUMMED, True)


def test_mixed_case_that_is_not_the_checksum_is_flagged() -> None:
    typo = CHECKSUMMED.replace("D", "d", 1)  # still mixed case, no longer EIP-55
    assert classify_address_text(typo) == (CHECKSUMMED, False)


@pytest.mark.parametrize("text", ["", "0x", CHECKSUMMED[2:], CHECKSUMMED + "00", CHECKSUMMED[:-1] + "g"])
def test_non_addresses_are_none(text: str) -> None:
    assert classify_address_text(text) is None
