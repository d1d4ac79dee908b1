"""Guardian recovery end to end on anvil + EntryPoint v0.8 + the SSO ERC-4337 contracts + Alto.

A passkey account installs the GuardianExecutor and proposes an EOA guardian (passkey-signed UserOperations
through Alto), the guardian accepts, the passkey is lost, the guardian asks for a new passkey, the chain's
clock moves past the 24 h delay, anyone finalizes, and the new passkey drives the account (and revokes the
lost one, whose UserOperations are then refused).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sso_signer.accounts import Erc4337Account
from sso_signer.accounts._era import remove_passkey_calldata
from sso_signer.exceptions import ErrorCode, ExecutionReverted
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.rpc import Receipt
from sso_signer.sso import (
    GuardianEvent,
    GuardianExecutor,
    GuardianExecutorError,
    GuardianStatus,
    RecoveryType,
    account_salt,
)
from sso_signer.webauthn import HeadlessPasskey
from tests.errors import raises_rule
from tests.needs import started_erc4337_stack

pytestmark = [pytest.mark.bundler, pytest.mark.chain]

ORIGIN = "http://localhost:5173"
RP_ID = "localhost"
ETHER = 10**18


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalErc4337Stack]:
    with started_erc4337_stack(test_token=False) as running:
        yield running


def _events(receipt: Receipt, executor: str) -> list[GuardianEvent]:
    return [
        GuardianExecutor.decode_event(log.topics, log.data) for log in receipt.logs if log.address == executor
    ]


def _funded_account_and_guardian(
    stack: LocalErc4337Stack, passkey: HeadlessPasskey, user: str, extra_modules: list[tuple[str, bytes]]
) -> tuple[Erc4337Account, LocalAccount]:
    """A funded counterfactual passkey account (its first UserOperation creates it) and a funded guardian."""
    guardian: LocalAccount = Account.create()
    stack.eth.send_transaction(stack.funder, to=guardian.address, value=ETHER)
    owner = Erc4337Account.counterfactual(
        deployment=stack.deployment,
        eth=stack.eth,
        bundler=stack.bundler,
        credential=passkey,
        salt=account_salt(user),
        extra_modules=extra_modules,
    )
    stack.eth.send_transaction(stack.funder, to=owner.address, value=ETHER)
    return owner, guardian


def test_lost_passkey_is_recovered_by_the_guardian_after_the_delay(stack: LocalErc4337Stack) -> None:
    deployment = stack.deployment
    executor = deployment.guardian_executor
    assert executor is not None
    eth = stack.eth
    old_passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    owner, guardian = _funded_account_and_guardian(stack, old_passkey, "guardian-e2e@example.org", [])
    address = owner.address

    # The account is created by its first UserOperation, then installs the module and proposes the guardian
    # in one passkey-signed batch.
    owner.send_calls([])
    owner.send_calls(
        [
            (address, 0, GuardianExecutor.install(executor)),
            (executor, 0, GuardianExecutor.propose_guardian(guardian.address)),
        ]
    )

    def status() -> GuardianStatus:
        return GuardianExecutor.decode_guardian_status(
            eth.call(
                {"to": executor, "data": GuardianExecutor.guardian_status_for(address, guardian.address)}
            )
        )

    assert status() == GuardianStatus(is_present=True, is_active=False)
    accepted = eth.send_transaction(guardian, to=executor, data=GuardianExecutor.accept_guardian(address))
    assert _events(accepted, executor) == [GuardianEvent("GuardianAdded", address, guardian.address)]
    assert status() == GuardianStatus(is_present=True, is_active=True)
    assert GuardianExecutor.decode_guardians(
        eth.call({"to": executor, "data": GuardianExecutor.guardians_for(address)})
    ) == (guardian.address,)

    # The passkey is lost; the guardian asks for a new one.
    new_passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    data = GuardianExecutor.passkey_recovery_data(new_passkey.credential_id, new_passkey.public_key, ORIGIN)
    initiated = eth.send_transaction(
        guardian, to=executor, data=GuardianExecutor.initialize_recovery(address, RecoveryType.PASSKEY, data)
    )
    (event,) = _events(initiated, executor)
    assert event.name == "RecoveryInitiated"
    assert event.guardian == guardian.address
    assert event.recovery_data == data
    request = GuardianExecutor.decode_pending_recovery(
        eth.call({"to": executor, "data": GuardianExecutor.pending_recovery(address)})
    )
    assert request == event.request
    assert request.recovery_type is RecoveryType.PASSKEY
    assert request.matches(data)

    # Too early: the module refuses, with its own error.
    finalize = GuardianExecutor.finalize_recovery(address, data)
    with pytest.raises(ExecutionReverted) as early:
        eth.call({"to": executor, "data": finalize})
    assert early.value.revert is not None
    refused = GuardianExecutor.decode_error(early.value.revert.raw)
    assert refused is not None
    assert (refused.name, refused.args) == ("RecoveryTimestampInvalid", (request.timestamp,))

    # Past the delay (anvil time travel), anyone finalizes: here the stack's funder.
    stack.node.increase_time(GuardianExecutor.REQUEST_DELAY_SECONDS + 1)  # type: ignore[union-attr]
    finished = eth.send_transaction(stack.funder, to=executor, data=finalize)
    assert _events(finished, executor) == [GuardianEvent("RecoveryFinished", address)]
    assert not GuardianExecutor.decode_pending_recovery(
        eth.call({"to": executor, "data": GuardianExecutor.pending_recovery(address)})
    ).exists

    # The new passkey drives the account; its first operation revokes the lost passkey.
    recovered = Erc4337Account.at(
        address, deployment=deployment, eth=eth, bundler=stack.bundler, credential=new_passkey
    )
    receipt = recovered.send_calls(
        [(deployment.webauthn_validator, 0, remove_passkey_calldata(old_passkey.credential_id, ORIGIN))]
    )
    assert receipt.success

    # The lost passkey is refused by the account's validator (through Alto's simulation).
    lost = Erc4337Account.at(
        address, deployment=deployment, eth=eth, bundler=stack.bundler, credential=old_passkey
    )
    with raises_rule(ErrorCode.SIGNATURE_VALIDATION_FAILED):
        lost.send_calls([(guardian.address, 1, b"")])
    before = eth.get_balance(guardian.address)
    recovered.send_calls([(guardian.address, 1, b"")])
    assert eth.get_balance(guardian.address) == before + 1


def test_installed_at_creation_then_the_account_discards_and_removes(stack: LocalErc4337Stack) -> None:
    deployment = stack.deployment
    executor = deployment.guardian_executor
    assert executor is not None
    eth = stack.eth
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    owner, guardian = _funded_account_and_guardian(
        stack, passkey, "guardian-at-creation@example.org", [(executor, b"")]
    )
    address = owner.address
    # The first UserOperation creates the account with the module and proposes the guardian.
    owner.send_calls([(executor, 0, GuardianExecutor.propose_guardian(guardian.address))])
    eth.send_transaction(guardian, to=executor, data=GuardianExecutor.accept_guardian(address))

    def pending() -> bool:
        return GuardianExecutor.decode_pending_recovery(
            eth.call({"to": executor, "data": GuardianExecutor.pending_recovery(address)})
        ).exists

    other = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    data = GuardianExecutor.passkey_recovery_data(other.credential_id, other.public_key, ORIGIN)
    initialize = GuardianExecutor.initialize_recovery(address, RecoveryType.PASSKEY, data)
    eth.send_transaction(guardian, to=executor, data=initialize)
    assert pending()

    # A second request while one is live is refused with the module's error.
    with pytest.raises(ExecutionReverted) as live:
        eth.call({"from": guardian.address, "to": executor, "data": initialize})
    assert live.value.revert is not None
    refused = GuardianExecutor.decode_error(live.value.revert.raw)
    assert refused is not None
    assert (refused.name, refused.args) == ("RecoveryInProgress", (address,))

    # The passkey was not lost after all: the account discards the request (a passkey-signed UserOperation).
    receipt = owner.send_calls([(executor, 0, GuardianExecutor.discard_recovery())])
    assert receipt.success
    assert not pending()

    # A new request, then the account removes the guardian, which discards it too.
    eth.send_transaction(guardian, to=executor, data=initialize)
    assert pending()
    owner.send_calls([(executor, 0, GuardianExecutor.remove_guardian(guardian.address))])
    assert not pending()
    assert (
        GuardianExecutor.decode_guardians(
            eth.call({"to": executor, "data": GuardianExecutor.guardians_for(address)})
        )
        == ()
    )
    with pytest.raises(ExecutionReverted) as gone:
        eth.call({"from": guardian.address, "to": executor, "data": initialize})
    assert gone.value.revert is not None
    assert GuardianExecutor.decode_error(gone.value.revert.raw) == GuardianExecutorError(
        "GuardianNotFound", (address, guardian.address)
    )
