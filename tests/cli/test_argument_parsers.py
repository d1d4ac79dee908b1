"""The CLI's amount parser is exact and bounded (issue #14, defect 8: errors escape the typed tree).

It used to go through ``Decimal`` with its default 28-digit precision: an amount of more significant digits
was silently rounded (the wrong value sent), and a 5000-digit amount became a 16,000-bit integer.
"""

from __future__ import annotations

import pytest

from sso_signer.cli._context import parse_wei
from sso_signer.exceptions import CliUsageError

MAX_WEI = 2**256 - 1


@pytest.mark.parametrize(
    ("text", "wei"),
    [
        ("1234567890123456789012345678901", 1234567890123456789012345678901),
        ("1234567890123.456789012345678901ether", 1234567890123456789012345678901),
        ("1.500000000000000000000000ether", 15 * 10**17),
        ("0.000000001ether", 10**9),
        (str(MAX_WEI), MAX_WEI),
        ("  42 gwei ", 42 * 10**9),
    ],
)
def test_amounts_are_exact(text: str, wei: int) -> None:
    assert parse_wei(text) == wei


@pytest.mark.parametrize(
    "text",
    [
        str(MAX_WEI + 1),
        "1" * 5000,
        "1" * 100 + "ether",
        "0.0000000000000000001ether",
        "1." + "0" * 5000 + "1ether",
        "١٢٣",  # digits of another script are not an amount
    ],
)
def test_out_of_range_amounts_are_usage_errors(text: str) -> None:
    with pytest.raises(CliUsageError):
        parse_wei(text)
