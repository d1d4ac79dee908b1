"""Guardian recovery end to end through the account API and the Guardian class, on anvil + EntryPoint v0.8 +
the SSO ERC-4337 contracts + Alto.

A passkey account proposes an EOA guardian (the module is installed in the same passkey-signed
UserOperation), the guardian accepts, the passkey is lost, the guardian asks for a new passkey, a finalize
before the delay is refused, the chain's clock moves past the 24 h delay, the guardian finalizes, and the
new passkey drives the account while the lost one is refused. Every refusal is a typed error with its rule,
raised before anything is signed or sent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account

from sso_signer.accounts import AsyncErc4337Account, AsyncGuardian, Erc4337Account, Guardian
from sso_signer.erc4337 import AsyncBundlerClient
from sso_signer.exceptions import ErrorCode
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.rpc import AsyncEthClient
from sso_signer.sso import GuardianExecutor, GuardianStatus, RecoveryType, account_salt
from sso_signer.webauthn import HeadlessPasskey
from tests.errors import raises_rule
from tests.needs import started_erc4337_stack

pytestmark = [pytest.mark.bundler, pytest.mark.chain]

ORIGIN = "http://localhost:5173"
RP_ID = "localhost"
ETHER = 10**18
DELAY = GuardianExecutor.REQUEST_DELAY_SECONDS
VALIDITY = GuardianExecutor.REQUEST_VALIDITY_SECONDS


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalErc4337Stack]:
    with started_erc4337_stack(test_token=False) as running:
        yield running


def _guardian(stack: LocalErc4337Stack) -> Guardian:
    """A funded guardian EOA."""
    guardian = Guardian(stack.eth, Account.create(), deployment=stack.deployment)
    stack.eth.send_transaction(stack.funder, to=guardian.address, value=ETHER)
    return guardian


def _account(
    stack: LocalErc4337Stack,
    passkey: HeadlessPasskey,
    user: str,
    extra_modules: tuple[tuple[str, bytes], ...] = (),
) -> Erc4337Account:
    """A funded counterfactual passkey account (its first UserOperation creates it)."""
    account = Erc4337Account.counterfactual(
        deployment=stack.deployment,
        eth=stack.eth,
        bundler=stack.bundler,
        credential=passkey,
        salt=account_salt(user),
        extra_modules=extra_modules,
    )
    stack.eth.send_transaction(stack.funder, to=account.address, value=ETHER)
    return account


def _passkey() -> HeadlessPasskey:
    return HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)


def test_lost_passkey_is_recovered_by_the_guardian_after_the_delay(stack: LocalErc4337Stack) -> None:
    node = stack.node
    assert node is not None
    eth = stack.eth
    old_passkey = _passkey()
    account = _account(stack, old_passkey, "guardian-e2e@example.org")
    address = account.address
    guardian = _guardian(stack)

    # One passkey-signed UserOperation creates the account, installs the module and proposes the guardian.
    assert not account.guardian_module_installed()
    assert account.propose_guardian(guardian.address).success
    assert account.guardian_module_installed()
    assert account.list_guardians() == {guardian.address: GuardianStatus(is_present=True, is_active=False)}
    with raises_rule(ErrorCode.GUARDIAN_ALREADY_PRESENT):
        account.propose_guardian(guardian.address)

    new_passkey = _passkey()
    recovery = (address, new_passkey.credential_id, new_passkey.public_key, ORIGIN)
    # Not accepted yet: it may not recover.
    with raises_rule(ErrorCode.GUARDIAN_NOT_ACTIVE):
        guardian.initiate_recovery(*recovery)
    accepted = guardian.accept(address)
    assert accepted is not None
    assert accepted.success
    assert guardian.accept(address) is None  # already active: nothing sent
    assert account.list_guardians() == {guardian.address: GuardianStatus(is_present=True, is_active=True)}
    assert guardian.status(address) == GuardianStatus(is_present=True, is_active=True)

    # A stranger is neither a guardian nor may become one by accepting.
    stranger = _guardian(stack)
    with raises_rule(ErrorCode.NOT_A_GUARDIAN):
        stranger.initiate_recovery(*recovery)
    with raises_rule(ErrorCode.NOT_A_GUARDIAN):
        stranger.accept(address)
    assert eth.get_transaction_count(stranger.address) == 0  # refused before anything was sent

    # The passkey is lost; the guardian asks for the new one.
    assert not account.pending_recovery().exists
    with raises_rule(ErrorCode.NO_PENDING_RECOVERY):
        guardian.finalize_recovery(address)
    assert guardian.initiate_recovery(*recovery).success
    request = account.pending_recovery()
    assert request == guardian.pending_recovery(address)
    assert request.recovery_type is RecoveryType.PASSKEY
    data = GuardianExecutor.passkey_recovery_data(new_passkey.credential_id, new_passkey.public_key, ORIGIN)
    assert request.matches(data)
    with raises_rule(ErrorCode.RECOVERY_IN_PROGRESS):
        guardian.initiate_recovery(*recovery)

    # Too early: refused from the gas estimate, nothing is sent.
    sent_before = eth.get_transaction_count(guardian.address)
    with raises_rule(ErrorCode.RECOVERY_TOO_EARLY) as early:
        guardian.finalize_recovery(address)
    assert "24 h" in str(early.value)
    wrong = GuardianExecutor.passkey_recovery_data(_passkey().credential_id, new_passkey.public_key, ORIGIN)
    with raises_rule(ErrorCode.RECOVERY_DATA_MISMATCH):
        guardian.finalize_recovery(address, wrong)
    assert eth.get_transaction_count(guardian.address) == sent_before

    # Past the delay (anvil time travel) the guardian finalizes; the data comes from the module's log.
    node.increase_time(DELAY + 1)
    finished = guardian.finalize_recovery(address)
    assert finished.success
    assert not account.pending_recovery().exists
    with raises_rule(ErrorCode.NO_PENDING_RECOVERY):
        guardian.finalize_recovery(address)

    # The new passkey drives the account and revokes the lost one ...
    recovered = Erc4337Account.at(
        address, deployment=stack.deployment, eth=eth, bundler=stack.bundler, credential=new_passkey
    )
    assert [key.credential_id for key in recovered.list_passkeys()] == [
        old_passkey.credential_id,
        new_passkey.credential_id,
    ]
    assert recovered.remove_passkey(old_passkey.credential_id, ORIGIN).success
    # ... which the account's validator then refuses (through Alto's simulation).
    with raises_rule(ErrorCode.SIGNATURE_VALIDATION_FAILED):
        account.send(stranger.address, 1)
    before = eth.get_balance(stranger.address)
    assert recovered.send(stranger.address, 1).success
    assert eth.get_balance(stranger.address) == before + 1


def test_installed_at_creation_discard_remove_and_expiry(stack: LocalErc4337Stack) -> None:
    node = stack.node
    assert node is not None
    executor = stack.deployment.guardian_executor
    assert executor is not None
    account = _account(stack, _passkey(), "guardian-at-creation@example.org", ((executor, b""),))
    address = account.address
    guardian = _guardian(stack)

    # The account's own address and zero are refused before signing.
    with raises_rule(ErrorCode.INVALID_GUARDIAN):
        account.propose_guardian(address)
    with raises_rule(ErrorCode.INVALID_GUARDIAN):
        account.propose_guardian("0x" + "00" * 20)

    # Installed by the creating UserOperation already: proposing does not install it twice.
    assert account.propose_guardian(guardian.address).success
    assert account.get_nonce() == 1
    guardian.accept(address)
    other = _passkey()
    recovery = (address, other.credential_id, other.public_key, ORIGIN)

    # The passkey was not lost after all: the account discards the request.
    with raises_rule(ErrorCode.NO_PENDING_RECOVERY):
        account.discard_recovery()
    guardian.initiate_recovery(*recovery)
    assert account.discard_recovery().success
    assert not account.pending_recovery().exists

    # Removing an active guardian discards a pending request too; the removed guardian is refused.
    guardian.initiate_recovery(*recovery)
    assert account.remove_guardian(guardian.address).success
    assert not account.pending_recovery().exists
    assert account.list_guardians() == {}
    with raises_rule(ErrorCode.NOT_A_GUARDIAN):
        account.remove_guardian(guardian.address)
    with raises_rule(ErrorCode.NOT_A_GUARDIAN):
        guardian.initiate_recovery(*recovery)

    # A request left past 72 h can no longer be finalized.
    account.propose_guardian(guardian.address)
    guardian.accept(address)
    guardian.initiate_recovery(*recovery)
    node.increase_time(VALIDITY + 1)
    with raises_rule(ErrorCode.RECOVERY_EXPIRED) as expired:
        guardian.finalize_recovery(address)
    assert "new one" in str(expired.value)
    assert guardian.initiate_recovery(*recovery).success  # an expired request may be replaced


def test_a_module_not_installed_is_named(stack: LocalErc4337Stack) -> None:
    account = _account(stack, _passkey(), "no-guardian-module@example.org")
    account.send_calls([])  # created, without the module
    guardian = _guardian(stack)
    with raises_rule(ErrorCode.GUARDIAN_MODULE_NOT_INSTALLED):
        guardian.accept(account.address)
    assert account.list_guardians() == {}
    assert not account.pending_recovery().exists


async def test_async_account_and_guardian(stack: LocalErc4337Stack) -> None:
    funded = Account.create()
    stack.eth.send_transaction(stack.funder, to=funded.address, value=ETHER)
    async with AsyncEthClient(stack.eth.rpc.url) as eth, AsyncBundlerClient(stack.bundler_url) as bundler:
        account = await AsyncErc4337Account.counterfactual(
            deployment=stack.deployment,
            eth=eth,
            bundler=bundler,
            credential=_passkey(),
            salt=account_salt("async-guardian@example.org"),
        )
        stack.eth.send_transaction(stack.funder, to=account.address, value=ETHER)
        guardian = AsyncGuardian(eth, funded, deployment=stack.deployment)
        assert (await account.propose_guardian(guardian.address)).success
        assert await guardian.accept(account.address) is not None
        assert await account.list_guardians() == {guardian.address: GuardianStatus(True, True)}
        new = _passkey()
        await guardian.initiate_recovery(account.address, new.credential_id, new.public_key, ORIGIN)
        with raises_rule(ErrorCode.RECOVERY_TOO_EARLY):
            await guardian.finalize_recovery(account.address)
        assert (await account.pending_recovery()).exists
        assert (await account.discard_recovery()).success
