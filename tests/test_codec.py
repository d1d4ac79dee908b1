"""The bottom layer's address classifier, shared by the sso, zksync and erc4337 rooms."""

from __future__ import annotations

import pytest

from sso_signer._codec import checksum_address, classify_address_text, hex_decode
from sso_signer.erc4337 import UserOperation
from sso_signer.erc4337._paymaster import PaymasterFields
from sso_signer.exceptions import ErrorCode, InvalidEncoding, InvalidUserOperation
from tests.errors import raises_rule

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


@pytest.mark.parametrize("text", [CHECKSUMMED + "\n", "0xa\n", "0xab\n\n", "0x\n"])
def test_a_trailing_newline_is_refused_typed(text: str) -> None:
    # `$` also matches before a final newline; bytes.fromhex and eth-utils then raised a bare ValueError.
    assert classify_address_text(text) is None
    with pytest.raises(InvalidEncoding):
        checksum_address(text)
    with pytest.raises(InvalidEncoding):
        hex_decode(text)


@pytest.mark.parametrize(
    ("key", "value"), [("paymaster", "0x" + "5a" * 20 + "\n"), ("paymasterData", "0xa\n")]
)
def test_a_paymaster_answer_with_a_trailing_newline_is_malformed(key: str, value: str) -> None:
    answer = {"paymaster": "0x" + "5a" * 20, "paymasterData": "0x", key: value}
    with raises_rule(ErrorCode.MALFORMED_PAYMASTER_RESPONSE):
        PaymasterFields.from_rpc("pm_getPaymasterStubData", answer)


@pytest.mark.parametrize(("key", "value"), [("sender", CHECKSUMMED + "\n"), ("callData", "0xa\n")])
def test_a_user_operation_with_a_trailing_newline_is_refused_typed(key: str, value: str) -> None:
    raw = {"sender": CHECKSUMMED, "nonce": "0x0", "callData": "0x", key: value}
    with pytest.raises((InvalidUserOperation, InvalidEncoding)):
        UserOperation.from_rpc(raw)
