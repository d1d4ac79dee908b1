"""What the Era account's flows ask of the node, read step by step (no node: the flows are I/O-free)."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from sso_signer.accounts import EraAccount, EraNetwork
from sso_signer.erc4337 import Call
from sso_signer.exceptions import ErrorCode
from sso_signer.rpc import EthClient
from sso_signer.rpc._flow import Batch
from sso_signer.webauthn import HeadlessPasskey
from tests.errors import raises_rule

ACCOUNT = "0x1111111111111111111111111111111111111111"
FIRST = "0x2222222222222222222222222222222222222222"
SECOND = "0x3333333333333333333333333333333333333333"
NETWORK = EraNetwork(
    name="test", chain_id=300, passkey_validator="0x006ecc2D79242F1986b7cb5F636d6E3f499f1026"
)


@pytest.fixture
def account() -> EraAccount:
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
    return EraAccount(EthClient("http://127.0.0.1:9"), NETWORK, ACCOUNT, passkey)


def _estimate(batch: object) -> dict[str, object]:
    assert isinstance(batch, Batch)
    assert [call.method for call in batch.calls][-1] == "eth_estimateGas"  # in the one preparation batch
    request: dict[str, object] = batch.calls[-1].params[0]
    return request


def test_the_estimate_is_the_zksync_request_without_what_the_batch_reads(account: EraAccount) -> None:
    estimate = _estimate(next(EraAccount.send.flow(account, FIRST, 5, b"\x01\x02")))
    # Eip712Transaction.to_rpc_request, minus chain id, nonce and fees (unknown until the batch answers).
    assert set(estimate) == {"type", "from", "to", "value", "data", "eip712Meta"}
    assert (estimate["type"], estimate["from"], estimate["to"]) == ("0x71", ACCOUNT, FIRST)
    assert (estimate["value"], estimate["data"]) == ("0x5", "0x0102")


def test_several_calls_go_through_the_accounts_batch_call(account: EraAccount) -> None:
    calls = [Call(FIRST, 1, b"\xaa"), Call(SECOND, 2, b"")]
    estimate = _estimate(next(EraAccount.send_calls.flow(account, calls)))
    assert estimate["to"] == ACCOUNT.lower()  # the account calls itself
    assert estimate["value"] == "0x3"  # the calls' values add up
    data = bytes.fromhex(str(estimate["data"])[2:])
    assert data[:4] == keccak(text="batchCall((address,bool,uint256,bytes)[])")[:4]
    (decoded,) = abi_decode(["(address,bool,uint256,bytes)[]"], data[4:])
    assert [(t.lower(), fail, v, d) for t, fail, v, d in decoded] == [
        (FIRST, False, 1, b"\xaa"),
        (SECOND, False, 2, b""),
    ]


def test_one_call_is_sent_as_it_is_and_none_is_refused(account: EraAccount) -> None:
    estimate = _estimate(next(EraAccount.send_calls.flow(account, [(FIRST, 7, b"\x01")])))
    assert (estimate["to"], estimate["value"], estimate["data"]) == (FIRST, "0x7", "0x01")
    with raises_rule(ErrorCode.INVALID_INPUT, match="at least one call"):
        next(EraAccount.send_calls.flow(account, []))
