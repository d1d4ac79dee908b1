"""Send outcomes that tests/rpc did not pin down: re-sending (as SendOutcomeUnknown advises) bytes that an
earlier, lost send already got mined. The node answers "nonce too low" to the very first attempt of the new
call; the transaction is nevertheless in the node, so the only truthful status is SENT (found by its hash),
and a "nonce too low" about another transaction stays NOT_SENT. The live version, with a node SIGKILLed
mid-send, is in test_faults_node_kill.py."""

from __future__ import annotations

import httpx
from eth_utils.crypto import keccak

from sso_signer.exceptions import ErrorCode, TransactionRejected
from sso_signer.rpc import SendStatus
from tests.errors import raises_rule
from tests.rpc.test_rpc_faults import Driver, Script, _raw_eip1559, err, kind, ok

__all__ = ["kind"]  # the sync/async fixture of tests/rpc, reused


async def test_resend_of_mined_bytes_is_sent(kind: str) -> None:
    raw = _raw_eip1559()
    mined = {"hash": "0x" + keccak(raw).hex(), "nonce": "0x0", "blockNumber": "0x1"}
    script = Script(err(-32003, "nonce too low"), ok(mined))
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.SENT
    assert outcome.tx_hash == keccak(raw)
    assert [r["method"] for r in script.requests] == ["eth_sendRawTransaction", "eth_getTransactionByHash"]


async def test_nonce_used_by_another_transaction_is_not_sent(kind: str) -> None:
    raw = _raw_eip1559()
    script = Script(err(-32003, "nonce too low"), ok(None))
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.NOT_SENT
    assert isinstance(outcome.error, TransactionRejected)


async def test_nonce_used_and_look_up_lost_is_unknown(kind: str) -> None:
    raw = _raw_eip1559()
    script = Script(err(-32003, "nonce too low"), *[httpx.ReadError("reset")] * 3)
    with raises_rule(ErrorCode.SEND_OUTCOME_UNKNOWN) as info:
        await Driver(kind, script).eth_call("send_raw_transaction", raw)
    assert info.value.tx_hash == keccak(raw)
    assert info.value.raw_transaction == raw


async def test_other_rejections_are_not_looked_up(kind: str) -> None:
    raw = _raw_eip1559()
    script = Script(err(-32003, "insufficient funds for gas * price + value"))
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.NOT_SENT
    assert [r["method"] for r in script.requests] == ["eth_sendRawTransaction"]


async def test_era_resend_with_nonce_used_is_unknown(kind: str) -> None:
    # No local hash for 0x71 bytes, so no look-up: they may be the mined ones, "not sent" would be a guess.
    raw = bytes([0x71]) + b"\xc0"
    script = Script(err(-32003, "nonce too low"))
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.UNKNOWN
    assert outcome.tx_hash is None


async def test_era_other_rejection_is_not_sent(kind: str) -> None:
    raw = bytes([0x71]) + b"\xc0"
    script = Script(err(-32003, "insufficient funds for gas * price + value"))
    outcome = await Driver(kind, script).eth_call("try_send_raw_transaction", raw)
    assert outcome.status is SendStatus.NOT_SENT
