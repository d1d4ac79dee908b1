"""Bundler error mapping and fault handling of the bundler client.

The AA-code mapping is checked on error objects shaped like Alto's; transport-level faults (an op that never
lands, malformed answers) are injected with ``httpx.MockTransport``. Real rejections by a running Alto are
covered end to end in ``test_bundler_e2e.py``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hexbytes import HexBytes

from sso_signer.erc4337 import AsyncBundlerClient, BundlerClient, GasEstimate, UserOperation
from sso_signer.erc4337._bundler import UserOperationReceipt, bundler_error_from
from sso_signer.exceptions import (
    AccountValidationReverted,
    AfterSendError,
    BundlerError,
    ErrorCode,
    MalformedRpcResponse,
    RpcError,
    RpcTransportError,
    UserOperationOutcomeUnknown,
    UserOperationRejected,
    UserOperationReverted,
    UserOperationTimeout,
)
from sso_signer.rpc import RetryPolicy
from tests.errors import raises_rule

OP = UserOperation(sender="0x" + "ab" * 20, nonce=0, max_fee_per_gas=2, max_priority_fee_per_gas=1)


def _error(message: str, code: int = -32500, method: str = "eth_sendUserOperation") -> RpcError:
    return RpcError(code, message, None, method=method)


@pytest.mark.parametrize(
    ("message", "cls", "aa_code"),
    [
        (
            "UserOperation reverted during simulation with reason: AA21 didn't pay prefund",
            UserOperationRejected,
            "AA21",
        ),
        ("AA24 signature error", UserOperationRejected, "AA24"),
        ("AA25 invalid account nonce", UserOperationRejected, "AA25"),
        ("AA13 initCode failed or OOG", UserOperationRejected, "AA13"),
        ("AA10 sender already constructed", UserOperationRejected, "AA10"),
        ("AA26 over verificationGasLimit", UserOperationRejected, "AA26"),
        ("AA33 reverted 0x", UserOperationRejected, "AA33"),
        ("AA95 out of gas", UserOperationRejected, "AA95"),
    ],
)
def test_aa_codes_pick_the_class(message: str, cls: type[BundlerError], aa_code: str) -> None:
    error = bundler_error_from(_error(message))
    assert type(error) is cls
    assert error.aa_code == aa_code
    assert error.code == -32500
    assert message in str(error)


def test_aa23_keeps_the_revert_bytes() -> None:
    error = bundler_error_from(
        _error("UserOperation reverted during simulation with reason: AA23 reverted 0xa64c5eff01")
    )
    assert isinstance(error, AccountValidationReverted)
    assert error.revert_data == bytes.fromhex("a64c5eff01")
    assert isinstance(error, UserOperationRejected)


def test_signature_failure_is_a_rejection_with_its_rule() -> None:
    # AA24 is a bundler rejection like the other AA codes (exit code 1); the rule names the signature check.
    error = bundler_error_from(_error("AA24 signature error"))
    assert type(error) is UserOperationRejected
    assert error.rule is ErrorCode.SIGNATURE_VALIDATION_FAILED


def test_a_missing_prefund_says_how_to_pay() -> None:
    # Alto's bare "AA21 didn't pay prefund" reached a Python caller as it was (only the CLI explained it).
    error = bundler_error_from(
        _error("UserOperation reverted during simulation with reason: AA21 didn't pay prefund")
    )
    assert error.rule is ErrorCode.INSUFFICIENT_PREFUND
    assert "fund it" in str(error)
    assert "paymaster" in str(error)
    assert error.reason == "UserOperation reverted during simulation with reason: AA21 didn't pay prefund"


def test_codes_without_aa() -> None:
    reverted = bundler_error_from(_error("execution reverted: ERC20InsufficientBalance", code=-32521))
    assert isinstance(reverted, UserOperationRejected)
    unsupported = bundler_error_from(
        _error("EntryPoint 0x0000000000000000000000000000000000000001 not supported", code=-32602)
    )
    assert isinstance(unsupported, BundlerError)
    other = bundler_error_from(_error("method not found", code=-32601, method="eth_getUserOperationReceipt"))
    assert type(other) is BundlerError
    assert other.aa_code is None
    plain_reject = bundler_error_from(_error("maxFeePerGas must be at least 100", code=-32602))
    assert type(plain_reject) is UserOperationRejected


def _client(answer: Any, calls: list[dict[str, Any]] | None = None) -> BundlerClient:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if calls is not None:
            calls.append(body)
        payload = answer(body) if callable(answer) else answer
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], **payload})

    return BundlerClient(transport=httpx.MockTransport(handler), retry=RetryPolicy(attempts=1))


def test_rejection_through_the_client_is_typed() -> None:
    client = _client({"error": {"code": -32500, "message": "AA24 signature error"}})
    with raises_rule(ErrorCode.SIGNATURE_VALIDATION_FAILED) as caught:
        client.send_user_operation(OP)
    assert isinstance(caught.value.__cause__, RpcError)


def test_request_carries_the_unpacked_op_and_the_entry_point() -> None:
    calls: list[dict[str, Any]] = []
    client = _client({"result": "0x" + "11" * 32}, calls)
    assert client.send_user_operation(OP) == b"\x11" * 32
    assert calls[0]["method"] == "eth_sendUserOperation"
    assert calls[0]["params"] == [OP.to_rpc(), client.entry_point]


def test_receipt_never_arrives_times_out() -> None:
    client = _client({"result": None})
    with pytest.raises(UserOperationTimeout):
        client.wait_for_user_operation_receipt(b"\x22" * 32, timeout=0.05, poll_interval=0.01)


@pytest.mark.parametrize(
    ("method", "result"),
    [
        ("estimate_user_operation_gas", ["not", "an", "object"]),
        ("estimate_user_operation_gas", {"preVerificationGas": "0x1", "verificationGasLimit": "0x2"}),
        ("supported_entry_points", "0x4337"),
        ("get_user_operation_gas_price", {"slow": {}, "standard": {}, "fast": {}}),
    ],
)
def test_malformed_answers_are_typed(method: str, result: object) -> None:
    client = _client({"result": result})
    call = getattr(client, method)
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
        call(OP) if method == "estimate_user_operation_gas" else call()


def test_malformed_send_answer_is_an_unknown_outcome_with_the_op() -> None:
    from sso_signer.erc4337 import user_operation_hash

    # The bundler answered, just not with a hash: it may hold the op, so this is no plain malformed answer.
    client = _client({"result": "0x1234"})
    with raises_rule(ErrorCode.USER_OPERATION_OUTCOME_UNKNOWN) as caught:
        client.send_user_operation(OP, chain_id=31337)
    assert caught.value.sent
    assert caught.value.user_operation == OP
    assert caught.value.user_op_hash == user_operation_hash(OP, chain_id=31337)
    assert isinstance(caught.value.__cause__, MalformedRpcResponse)


def test_malformed_receipt_is_typed() -> None:
    client = _client({"result": {"userOpHash": "0x" + "33" * 32, "success": "yes"}})
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
        client.get_user_operation_receipt(b"\x33" * 32)


def test_gas_estimate_apply_adds_margin_and_paymaster_limits() -> None:
    estimate = GasEstimate(
        pre_verification_gas=50_000,
        verification_gas_limit=100_000,
        call_gas_limit=30_000,
        paymaster_verification_gas_limit=40_000,
        paymaster_post_op_gas_limit=5_000,
    )
    plain = estimate.apply(OP)
    assert (plain.verification_gas_limit, plain.call_gas_limit, plain.pre_verification_gas) == (
        120_000,
        30_000,
        50_000,
    )
    assert plain.paymaster_verification_gas_limit == 0
    sponsored = estimate.apply(OP.replace(paymaster="0x" + "cd" * 20), verification_margin=1.0)
    assert sponsored.verification_gas_limit == 100_000
    assert sponsored.paymaster_verification_gas_limit == 40_000
    assert sponsored.paymaster_post_op_gas_limit == 5_000


async def test_async_client_maps_errors_the_same_way() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        error = {"code": -32500, "message": "AA25 invalid account nonce"}
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "error": error})

    async with AsyncBundlerClient(
        transport=httpx.MockTransport(handler), retry=RetryPolicy(attempts=1)
    ) as client:
        with raises_rule(ErrorCode.INVALID_ACCOUNT_NONCE):
            await client.send_user_operation(OP)


def test_resent_op_already_known_answers_with_its_hash() -> None:
    # Alto 0.0.20 answers a second eth_sendUserOperation of a pooled op with -32602 "Already known".
    from sso_signer.erc4337 import user_operation_hash

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        if body["method"] == "eth_chainId":
            return {"result": "0x7a69"}
        return {"error": {"code": -32602, "message": "Already known"}}

    client = _client(answer)
    assert client.send_user_operation(OP) == user_operation_hash(OP, chain_id=31337)
    other = _client({"error": {"code": -32602, "message": "replacement underpriced"}})
    with raises_rule(ErrorCode.USER_OPERATION_REJECTED):
        other.send_user_operation(OP)


def test_known_validator_reverts_are_named() -> None:
    from eth_abi.abi import encode as abi_encode
    from eth_utils.crypto import keccak

    from sso_signer.erc4337._bundler import describe_revert

    flags = keccak(b"InvalidAuthDataFlags(bytes1)")[:4] + abi_encode(["bytes1"], [b"\x01"])
    assert describe_revert(flags) == "InvalidAuthDataFlags(0x01)"
    assert describe_revert(flags[:5]) == "InvalidAuthDataFlags(0x01)"  # a cut message still names it
    client = keccak(b"InvalidClientData(string)")[:4] + abi_encode(["string"], ["crossOrigin"])
    assert describe_revert(client) == 'InvalidClientData("crossOrigin")'
    assert describe_revert(client[:10]) == "InvalidClientData"
    assert describe_revert(b"\xde\xad\xbe\xef") is None
    assert describe_revert(b"") is None
    error = bundler_error_from(_error(f"AA23 reverted 0x{client.hex()}"))
    assert isinstance(error, AccountValidationReverted)
    assert error.revert_error == 'InvalidClientData("crossOrigin")'
    assert 'InvalidClientData("crossOrigin")' in str(error)


def _lost_send_client(sent: list[str], *, already_known_after: int) -> BundlerClient:
    # The fault: the first eth_sendUserOperation reaches the "bundler" but its answer is lost (read error).
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body["method"])
        if (
            body["method"] == "eth_sendUserOperation"
            and sent.count("eth_sendUserOperation") <= already_known_after
        ):
            raise httpx.ReadError("connection reset by peer", request=request)
        if body["method"] == "eth_sendUserOperation":
            error = {"code": -32602, "message": "Already known"}
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "error": error})
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": "0x7a69"})

    return BundlerClient(transport=httpx.MockTransport(handler), retry=RetryPolicy(attempts=1))


def test_lost_send_answer_names_the_hash_and_keeps_the_signed_op() -> None:
    from sso_signer.erc4337 import user_operation_hash

    signed = OP.replace(signature=b"\x01" * 65)
    sent: list[str] = []
    client = _lost_send_client(sent, already_known_after=1)
    with raises_rule(ErrorCode.USER_OPERATION_OUTCOME_UNKNOWN) as caught:
        client.send_user_operation(signed, chain_id=31337)
    error = caught.value
    assert isinstance(error, AfterSendError)
    assert isinstance(error, RpcTransportError)
    assert error.sent
    assert error.maybe_delivered
    assert error.user_op_hash == user_operation_hash(signed, chain_id=31337)
    assert error.user_operation == signed
    assert isinstance(error.__cause__, RpcTransportError)
    assert sent == ["eth_sendUserOperation"]  # the chain id was given: no question to a dead bundler
    # The re-send of the same signed op finds it pooled: same hash, no new signature.
    assert client.send_user_operation(error.user_operation, chain_id=31337) == error.user_op_hash
    assert sent == ["eth_sendUserOperation", "eth_sendUserOperation"]


def test_lost_send_answer_without_chain_id_asks_the_bundler() -> None:
    from sso_signer.erc4337 import user_operation_hash

    sent: list[str] = []
    with raises_rule(ErrorCode.USER_OPERATION_OUTCOME_UNKNOWN) as caught:
        _lost_send_client(sent, already_known_after=1).send_user_operation(OP)
    assert caught.value.user_op_hash == user_operation_hash(OP, chain_id=31337)
    assert sent == ["eth_sendUserOperation", "eth_chainId"]


def test_send_that_never_left_stays_a_plain_transport_error() -> None:

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = BundlerClient(transport=httpx.MockTransport(handler), retry=RetryPolicy(attempts=1))
    with raises_rule(ErrorCode.RPC_CONNECTION) as caught:
        client.send_user_operation(OP, chain_id=31337)
    assert not isinstance(caught.value, UserOperationOutcomeUnknown)
    assert not caught.value.maybe_delivered


# -- after the send: the hash and the signed op are never lost ----------------------------------------------

BUNDLE_TX = b"\x44" * 32


def _reverted_receipt(user_op_hash: str) -> dict[str, Any]:
    return {
        "userOpHash": user_op_hash,
        "entryPoint": "0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108",
        "sender": OP.sender,
        "nonce": "0x0",
        "actualGasCost": "0x1",
        "actualGasUsed": "0x1",
        "success": False,
        "reason": "0x08c379a0",
        "logs": [],
        "receipt": {
            "transactionHash": "0x" + BUNDLE_TX.hex(),
            "blockNumber": "0x5",
            "blockHash": "0x" + "55" * 32,
            "transactionIndex": "0x0",
            "from": "0x" + "66" * 20,
            "to": "0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108",
            "status": "0x1",
            "gasUsed": "0x1",
            "cumulativeGasUsed": "0x1",
            "logs": [],
        },
    }


def test_receipt_and_sent_hashes_are_hexbytes_as_in_web3() -> None:
    receipt = UserOperationReceipt.from_rpc(_reverted_receipt("0x" + "77" * 32))
    for value in (receipt.user_op_hash, receipt.transaction_hash, receipt.receipt.block_hash, receipt.reason):
        assert type(value) is HexBytes
    assert receipt.transaction_hash == BUNDLE_TX
    assert f"user_op_hash=HexBytes('0x{'77' * 32}')" in repr(receipt)
    sent = _client({"result": "0x" + "11" * 32}).send_user_operation(OP, chain_id=31337)
    assert type(sent) is HexBytes
    assert sent == b"\x11" * 32


def test_reverted_operation_carries_its_hash_the_op_and_the_bundle_transaction() -> None:

    signed = OP.replace(signature=b"\x01" * 65)
    op_hash = "0x" + "77" * 32

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        if body["method"] == "eth_sendUserOperation":
            return {"result": op_hash}
        return {"result": _reverted_receipt(op_hash)}

    with pytest.raises(UserOperationReverted) as caught:
        _client(answer).send_and_wait(signed, timeout=5)
    error = caught.value
    assert isinstance(error, AfterSendError)
    assert error.sent
    assert error.user_op_hash == bytes.fromhex(op_hash[2:])
    assert error.user_operation == signed
    assert error.tx_hash == BUNDLE_TX


def test_lost_send_and_no_chain_id_still_keeps_the_signed_op() -> None:

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset by peer", request=request)  # the bundler is gone

    client = BundlerClient(transport=httpx.MockTransport(handler), retry=RetryPolicy(attempts=1))
    with raises_rule(ErrorCode.USER_OPERATION_OUTCOME_UNKNOWN) as caught:
        client.send_user_operation(OP)  # no chain_id: the hash cannot be computed
    assert caught.value.user_op_hash is None
    assert caught.value.user_operation == OP
    assert caught.value.sent


@pytest.mark.parametrize(
    "answer", [{"result": "not a receipt"}, {"error": {"code": -32603, "message": "oops"}}]
)
def test_a_spoiled_receipt_poll_names_the_operation(answer: dict[str, Any]) -> None:

    with raises_rule(ErrorCode.USER_OPERATION_OUTCOME_UNKNOWN) as caught:
        _client(answer).wait_for_user_operation_receipt(b"\x22" * 32, timeout=5)
    assert caught.value.user_op_hash == b"\x22" * 32
    assert caught.value.__cause__ is not None
