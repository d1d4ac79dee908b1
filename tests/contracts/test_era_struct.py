"""The SDK's ``Transaction`` struct (what ``EraAccount.verify_onchain`` hands the validator) against the
contract tests' own, written apart from it from zksync-contracts' ``TransactionHelper``: the chain accepts
the tests' struct (test_era_validator.py), so agreeing with it on every transaction shape ties the SDK's
struct to the chain without the tests borrowing the code they check."""

from __future__ import annotations

from hypothesis import given

from sso_signer.accounts._era import era_transaction_struct
from sso_signer.zksync import Eip712Transaction
from tests.contracts.era_chain import transaction_struct
from tests.zksync.strategies import transactions


@given(transactions())
def test_the_sdk_struct_is_the_one_the_chain_accepts(tx: Eip712Transaction) -> None:
    assert era_transaction_struct(tx) == transaction_struct(tx)
