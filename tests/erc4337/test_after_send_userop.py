"""After ``eth_sendUserOperation`` left, every error says so and carries the userOpHash and the signed
UserOperation; and a bundler that drips its answers cannot hold a call past its deadline.

The UserOperations go to the real Alto of the session's stack through a real threaded HTTP server on
127.0.0.1 (``tests.rpc.fault_server``) that spoils only the answers named in each test; the hash asserted is
one the bundler knows (its receipt is read through an unspoiled client).
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from eth_utils.crypto import keccak

from sso_signer.accounts import AsyncErc4337Account, Erc4337Account
from sso_signer.erc4337 import AsyncBundlerClient, BundlerClient, UserOperation
from sso_signer.exceptions import AfterSendError, ErrorCode, UserOperationTimeout
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.rpc import AsyncEthClient, EthClient, RetryPolicy
from sso_signer.sso import account_salt
from sso_signer.webauthn import HeadlessPasskey
from tests.errors import raises_rule
from tests.rpc.fault_server import (
    DRIP,
    FORWARD_THEN_DRIP,
    FaultServer,
    Stopwatch,
    fault_server,
    garbage,
    rpc_error,
    wrong_shape,
)
from tests.rpc.test_rpc_faults import kind

__all__ = ["kind"]

pytestmark = [pytest.mark.bundler, pytest.mark.chain]

RECEIPT_FAULTS = {"garbage": garbage, "rpc-error": rpc_error, "wrong-shape": wrong_shape}
SLACK = 2.0  # a liveness bound, not a timing benchmark
ETHER = 10**18


async def _call(target: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    result = getattr(target, name)(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


def _recipient(tag: str) -> str:
    return "0x" + keccak(tag.encode())[-20:].hex()


class Setup:
    """A funded counterfactual passkey account whose bundler client goes through the fault server."""

    def __init__(self, kind: str, stack: LocalErc4337Stack, bundler_url: str, **bundler_options: Any) -> None:
        self.kind = kind
        self.stack = stack
        node_url = stack.eth.rpc.url
        entry_point = stack.deployment.entry_point
        if kind == "sync":
            self.eth: Any = EthClient(node_url)
            self.bundler: Any = BundlerClient(bundler_url, entry_point=entry_point, **bundler_options)
        else:
            self.eth = AsyncEthClient(node_url)
            self.bundler = AsyncBundlerClient(bundler_url, entry_point=entry_point, **bundler_options)
        self.passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")

    async def account(self) -> Any:
        cls = Erc4337Account if self.kind == "sync" else AsyncErc4337Account
        account = await _call(
            cls,
            "counterfactual",
            deployment=self.stack.deployment,
            eth=self.eth,
            bundler=self.bundler,
            credential=self.passkey,
            salt=account_salt(None),
        )
        self.stack.eth.send_transaction(self.stack.funder, to=account.address, value=ETHER)
        return account

    async def signed_op(self, account: Any, tag: str) -> UserOperation:
        op = await _call(account, "build_user_operation", [(_recipient(tag), 1, b"")])
        signed: UserOperation = await _call(account, "sign_user_operation", op)
        return signed

    async def close(self) -> None:
        for client in (self.eth, self.bundler):
            await _call(client, "close" if self.kind == "sync" else "aclose")


def _assert_known_to_the_bundler(
    stack: LocalErc4337Stack, server: FaultServer, error: AfterSendError
) -> None:
    assert error.sent is True
    assert isinstance(error.user_operation, UserOperation)
    assert error.user_op_hash is not None
    # The signed op is exactly what went out (once), and the bundler has it under the hash the error names.
    assert server.sent("eth_sendUserOperation") == [
        [error.user_operation.to_rpc(), stack.deployment.entry_point]
    ]
    receipt = stack.bundler.wait_for_user_operation_receipt(error.user_op_hash, timeout=30)
    assert receipt.user_op_hash == error.user_op_hash


@pytest.mark.parametrize("fault", list(RECEIPT_FAULTS))
async def test_execute_then_spoiled_receipt_names_the_sent_operation(
    sso_stack: LocalErc4337Stack, kind: str, fault: str
) -> None:
    with fault_server(
        sso_stack.bundler_url, {"eth_getUserOperationReceipt": RECEIPT_FAULTS[fault]}
    ) as server:
        setup = Setup(kind, sso_stack, server.url)
        try:
            account = await setup.account()
            with raises_rule(ErrorCode.USER_OPERATION_OUTCOME_UNKNOWN) as caught:
                await _call(account, "send_calls", [(_recipient(f"spoiled-{fault}"), 1, b"")], timeout=10)
        finally:
            await setup.close()
    _assert_known_to_the_bundler(sso_stack, server, caught.value)
    assert caught.value.__cause__ is not None


async def test_send_and_wait_then_spoiled_receipt_names_the_sent_operation(
    sso_stack: LocalErc4337Stack, kind: str
) -> None:
    with fault_server(sso_stack.bundler_url, {"eth_getUserOperationReceipt": rpc_error}) as server:
        setup = Setup(kind, sso_stack, server.url)
        try:
            signed = await setup.signed_op(await setup.account(), "send-and-wait")
            with raises_rule(ErrorCode.USER_OPERATION_OUTCOME_UNKNOWN) as caught:
                await _call(setup.bundler, "send_and_wait", signed, timeout=10)
        finally:
            await setup.close()
    assert caught.value.user_operation == signed
    _assert_known_to_the_bundler(sso_stack, server, caught.value)


async def test_a_dripped_receipt_ends_the_wait_on_time(sso_stack: LocalErc4337Stack, kind: str) -> None:
    with fault_server(sso_stack.bundler_url, {"eth_getUserOperationReceipt": DRIP}) as server:
        setup = Setup(kind, sso_stack, server.url)
        try:
            signed = await setup.signed_op(await setup.account(), "dripped-receipt")
            clock = Stopwatch()
            with pytest.raises(UserOperationTimeout) as caught:
                await _call(setup.bundler, "send_and_wait", signed, timeout=2)
        finally:
            await setup.close()
    # The wait's 2 s bound each poll too (the client's own per-read timeout is 30 s).
    assert clock.elapsed < 2.0 + 1.0 + SLACK
    assert caught.value.user_operation == signed
    _assert_known_to_the_bundler(sso_stack, server, caught.value)


async def test_a_dripped_send_answer_is_bounded_and_keeps_the_operation(
    sso_stack: LocalErc4337Stack, kind: str
) -> None:
    # The bundler gets the op; its answer then drips in a byte every half second.
    with fault_server(sso_stack.bundler_url, {"eth_sendUserOperation": FORWARD_THEN_DRIP}) as server:
        setup = Setup(kind, sso_stack, server.url, timeout=1.0, retry=RetryPolicy(attempts=1))
        try:
            signed = await setup.signed_op(await setup.account(), "dripped-send")
            clock = Stopwatch()
            with raises_rule(ErrorCode.USER_OPERATION_OUTCOME_UNKNOWN) as caught:
                await _call(
                    setup.bundler, "send_user_operation", signed, chain_id=sso_stack.deployment.chain_id
                )
        finally:
            await setup.close()
    assert clock.elapsed < 1.0 + SLACK
    assert caught.value.user_operation == signed
    _assert_known_to_the_bundler(sso_stack, server, caught.value)
