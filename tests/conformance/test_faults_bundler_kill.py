"""A bundler (Alto) SIGKILLed while ``eth_sendUserOperation`` is in flight, after it accepted the operation.

The passkey account must have signed once, and the failure must be a typed error that says the operation may
have been delivered. Alto keeps its mempool in memory, so the accepted operation dies with it; from the
client's side the outcome is unknown. A truthful report also names the userOpHash to look up and keeps the
signed operation for a re-send: :class:`UserOperationOutcomeUnknown`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sso_signer.accounts import Erc4337Account, HeadlessAssertionProvider
from sso_signer.erc4337 import BundlerClient
from sso_signer.exceptions import ErrorCode, RpcTransportError, UserOperationOutcomeUnknown
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.rpc import RetryPolicy
from sso_signer.sso import account_salt
from sso_signer.webauthn import Assertion, HeadlessPasskey
from tests.conformance.relay import running_relay
from tests.errors import raises_rule
from tests.needs import started_erc4337_stack

pytestmark = [pytest.mark.bundler, pytest.mark.chain]


@pytest.fixture
def stack() -> Iterator[LocalErc4337Stack]:
    # Its own stack: the test kills this Alto.
    with started_erc4337_stack(test_token=False) as running:
        yield running


class CountingProvider(HeadlessAssertionProvider):
    """The headless provider, counting the assertions (one per signature) it produces."""

    def __init__(self, passkey: HeadlessPasskey) -> None:
        super().__init__(passkey)
        self.calls = 0

    def get_assertion(self, request: Any) -> Assertion:
        self.calls += 1
        return super().get_assertion(request)


def test_bundler_killed_after_accepting_signs_once_and_says_maybe_delivered(stack: LocalErc4337Stack) -> None:
    assert stack.alto is not None
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
    provider = CountingProvider(passkey)
    with running_relay(int(stack.alto.url.rsplit(":", 1)[1]), trigger="eth_sendUserOperation") as relay:
        relay.victim_pid = stack.alto.pid
        relay.kill_mode = "after"
        bundler = BundlerClient(
            relay.url, entry_point=stack.deployment.entry_point, retry=RetryPolicy(attempts=3, backoff=0.05)
        )
        account = Erc4337Account.counterfactual(
            deployment=stack.deployment,
            eth=stack.eth,
            bundler=bundler,
            credential=passkey,
            provider=provider,
            salt=account_salt("bundler-kill"),
        )
        stack.eth.send_transaction(stack.funder, to=account.address, value=10**18)
        with raises_rule(ErrorCode.USER_OPERATION_OUTCOME_UNKNOWN) as caught:
            account.send_calls([], timeout=10)
    assert provider.calls == 1  # one intent, one passkey signature, whatever the retries did
    assert relay.node_answers, "Alto accepted the operation before it was killed"
    accepted_hash = bytes.fromhex(json.loads(relay.node_answers[0])["result"][2:])
    error = caught.value
    assert isinstance(error, RpcTransportError)
    assert error.maybe_delivered  # not "not sent": the bundler had it
    time.sleep(1.0)
    assert not account.is_deployed()  # the accepted operation died with Alto's in-memory mempool

    assert isinstance(error, UserOperationOutcomeUnknown)
    assert error.user_op_hash == accepted_hash
    assert error.user_operation is not None
    assert error.user_op_hash == account.user_operation_hash(error.user_operation)
    assert error.user_operation.signature  # the signed bytes, kept for a re-send
