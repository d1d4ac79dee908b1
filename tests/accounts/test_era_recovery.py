"""Guardian recovery of Era accounts (accounts/_era_recovery.py, _era_guardian.py) on anvil as chain 260.

The project's Era GuardianRecoveryValidator and WebAuthValidator run behind the EraTestAccount stand-in
(module validators, call forwarding, ``validateTransaction`` as the SsoAccount runs it). Plain anvil cannot
run 0x71 transactions, so the account's passkey-signed transactions are built and signed by the account's own
flow, then caught before they would be sent: the stand-in validates each (the WebAuthValidator checks the
passkey signature) and executes its call, as the bootloader would. The guardian's transactions are real ones.
The finishing transaction is validated by the module through the account and its call adds the new passkey.
Running the 0x71 transactions themselves needs anvil-zksync and EraVM builds (the test at the end).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from sso_signer._artifacts import Artifact
from sso_signer.accounts import AsyncGuardian, EraAccount, EraNetwork, Guardian
from sso_signer.accounts._era import era_transaction_struct
from sso_signer.exceptions import ErrorCode, TransactionReverted
from sso_signer.node import AnvilNode
from sso_signer.rpc import AsyncEthClient
from sso_signer.rpc._core import RpcCall
from sso_signer.rpc._flow import Batch
from sso_signer.sso import GuardianRecoveryValidator, validator_init_data
from sso_signer.webauthn import HeadlessPasskey
from sso_signer.zksync import Eip712Transaction
from tests.errors import raises_rule
from tests.needs import artifact, live_era_network, started_anvil

ORIGIN = "http://localhost:5173"
DAY = 24 * 3600
GAS = GuardianRecoveryValidator.FINISH_MIN_GAS_LIMIT  # the module refuses a finish with less
RETRY = GuardianRecoveryValidator.FINISH_RETRY_DELAY_SECONDS


def _passkey() -> HeadlessPasskey:
    return HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN)


class Caught(Exception):
    """The signed 0x71 the account was about to send."""

    def __init__(self, raw: bytes) -> None:
        super().__init__("caught")
        self.transaction = Eip712Transaction.parse(raw)


class CatchingEraAccount(EraAccount):
    """The Era account, whose send step is caught (plain anvil cannot take 0x71 transactions)."""

    def answer(self, step: Any) -> Any:
        if isinstance(step, RpcCall) and step.method == "eth_sendRawTransaction":
            raise Caught(bytes.fromhex(str(step.params[0]).removeprefix("0x")))
        return super().answer(step)


@dataclass(frozen=True)
class EraRecoveryChain:
    node: AnvilNode
    test_account: Artifact
    account: str
    webauthn: str
    module: str
    sender: LocalAccount
    passkey: HeadlessPasskey

    @classmethod
    def deploy(cls, node: AnvilNode) -> EraRecoveryChain:
        """WebAuthValidator and GuardianRecoveryValidator (its code at a fresh address, initialized there
        as through a proxy: the implementation refuses initialization), installed on an account with a
        passkey."""
        test_account = artifact("EraTestAccount")
        webauthn_artifact, recovery = artifact("WebAuthValidator"), artifact("GuardianRecoveryValidator")
        sender: LocalAccount = Account.create()
        node.set_balance(sender.address, 10**20)
        webauthn, _ = node.eth.deploy_contract(sender, webauthn_artifact.deploy_data())
        module = "0x" + "6a" * 20
        node.set_code(module, recovery.deployed_bytecode)
        node.eth.send_transaction(sender, module, recovery.encode_call("initialize", webauthn))
        account, _ = node.eth.deploy_contract(sender, test_account.deploy_data())
        node.set_balance(account, 10**20)
        passkey = _passkey()
        init = validator_init_data(passkey.credential_id, passkey.public_key, ORIGIN)
        node.eth.send_transaction(
            sender, account, test_account.encode_call("addModuleValidator", webauthn, init)
        )
        node.eth.send_transaction(
            sender, account, test_account.encode_call("addModuleValidator", module, b"")
        )
        return cls(node, test_account, account, webauthn, module, sender, passkey)

    @property
    def network(self) -> EraNetwork:
        return EraNetwork(
            name="anvil-260",
            chain_id=260,
            passkey_validator=self.webauthn,
            recovery_validator=self.module,
        )

    def account_object(
        self, passkey: HeadlessPasskey | None = None, address: str | None = None
    ) -> CatchingEraAccount:
        return CatchingEraAccount(
            self.node.eth, self.network, address or self.account, passkey or self.passkey
        )

    def fresh_account(
        self, passkey: HeadlessPasskey | None = None, *, with_webauthn: bool = True
    ) -> tuple[str, HeadlessPasskey]:
        """Another stand-in account, funded, with its own passkey (registered when ``with_webauthn``) and
        without the recovery module."""
        account, _ = self.node.eth.deploy_contract(self.sender, self.test_account.deploy_data())
        self.node.set_balance(account, 10**20)
        passkey = passkey or _passkey()
        if with_webauthn:
            init = validator_init_data(passkey.credential_id, passkey.public_key, ORIGIN)
            call = self.test_account.encode_call("addModuleValidator", self.webauthn, init)
            assert self.node.eth.send_transaction(self.sender, account, call).success
        return account, passkey

    def validates(self, transaction: Eip712Transaction) -> bool:
        """The account's validation of a signed 0x71 (``eth_call``)."""
        data = self.test_account.encode_call(
            "validateTransaction", transaction.signed_hash(), era_transaction_struct(transaction)
        )
        answer = self.node.eth.call(
            {"from": self.sender.address, "to": transaction.from_address, "data": data}
        )
        (accepted,) = self.test_account.decode_output("validateTransaction", answer)
        return bool(accepted)

    def run(self, transaction: Eip712Transaction) -> None:
        """What the bootloader does with an accepted 0x71: validation (a real transaction, so that its
        writes happen), then the call, from the account."""
        assert self.validates(transaction)
        validate = self.test_account.encode_call(
            "validateTransaction", transaction.signed_hash(), era_transaction_struct(transaction)
        )
        account = transaction.from_address
        assert self.node.eth.send_transaction(self.sender, account, validate, gas=3_000_000).success
        assert transaction.to is not None
        execute = self.test_account.encode_call(
            "execute", transaction.to, transaction.value, transaction.data
        )
        assert self.node.eth.send_transaction(self.sender, account, execute, gas=3_000_000).success

    def send_as_account(self, call: Any, account: str | None = None) -> None:
        """Run an account flow that ends in a passkey-signed 0x71 from ``account`` (default the chain's):
        catch it, validate and execute it."""
        with pytest.raises(Caught) as caught:
            call()
        transaction = caught.value.transaction
        assert transaction.from_address == (account or self.account)
        self.run(transaction)

    def registered(self, credential_id: bytes) -> str:
        data = artifact("WebAuthValidator").encode_call("registeredAddress", ORIGIN, credential_id)
        (owner,) = artifact("WebAuthValidator").decode_output(
            "registeredAddress", self.node.eth.call({"to": self.webauthn, "data": data})
        )
        return str(owner).lower()


@pytest.fixture(scope="module")
def chain() -> Iterator[EraRecoveryChain]:
    artifact("GuardianRecoveryValidator")
    with started_anvil(chain_id=260, hardfork="osaka") as node:
        yield EraRecoveryChain.deploy(node)


@pytest.fixture
def snapshot(chain: EraRecoveryChain) -> Iterator[None]:
    taken = chain.node.snapshot()
    try:
        yield
    finally:
        chain.node.revert(taken)


def _forced_finish(chain: EraRecoveryChain, new: HeadlessPasskey) -> Eip712Transaction:
    """The finishing transaction built by hand, past the SDK's checks."""
    return Eip712Transaction(
        chain_id=260,
        nonce=0,
        from_address=chain.account,
        to=chain.webauthn,
        gas_limit=GAS,
        max_fee_per_gas=10**9,
        max_priority_fee_per_gas=0,
        data=GuardianRecoveryValidator.finish_calldata(new.credential_id, new.public_key, ORIGIN),
        custom_signature=GuardianRecoveryValidator.finish_custom_signature(chain.module),
    )


def _guardian(chain: EraRecoveryChain) -> Guardian:
    key: LocalAccount = Account.create()
    chain.node.set_balance(key.address, 10**19)
    return Guardian(chain.node.eth, key)


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_lost_passkey_recovered_by_the_guardian_after_the_delay(chain: EraRecoveryChain) -> None:
    account, network = chain.account_object(), chain.network
    guardian = _guardian(chain)
    assert account.recovery_module_installed()
    # The account proposes (its passkey signs the 0x71), the guardian accepts.
    chain.send_as_account(lambda: account.propose_guardian(guardian.address))
    [entry] = account.list_guardians()
    assert (entry.address, entry.is_ready) == (guardian.address, False)
    with raises_rule(ErrorCode.GUARDIAN_ALREADY_PRESENT):
        account.propose_guardian(guardian.address)
    assert guardian.era_accept(network, chain.account, ORIGIN) is not None
    assert guardian.era_accept(network, chain.account, ORIGIN) is None  # already ready: nothing sent
    assert account.list_guardians()[0].is_ready
    # The passkey is lost: the guardian asks for the user's new one.
    new = _passkey()
    assert guardian.era_initiate_recovery(
        network, chain.account, new.credential_id, new.public_key, ORIGIN
    ).success
    request = account.pending_recovery()
    assert request.matches(new.credential_id, (new.public_key.x, new.public_key.y))
    assert not request.fulfilled
    with raises_rule(ErrorCode.RECOVERY_IN_PROGRESS):
        guardian.era_initiate_recovery(network, chain.account, new.credential_id, new.public_key, ORIGIN)
    # Too early: refused before anything is built; another key than the requested one is refused too.
    with raises_rule(ErrorCode.RECOVERY_TOO_EARLY):
        guardian.era_recovery_transaction(network, chain.account, new.credential_id, new.public_key, ORIGIN)
    other = _passkey()
    with raises_rule(ErrorCode.RECOVERY_DATA_MISMATCH):
        guardian.era_recovery_transaction(
            network, chain.account, other.credential_id, other.public_key, ORIGIN, gas_limit=GAS
        )
    # Built anyway (forced past the check) it is refused by the module itself before the delay.
    early = _forced_finish(chain, new)
    assert not chain.validates(early)
    # After the delay the finishing transaction validates (no signature) and its call adds the new passkey.
    chain.node.increase_time(DAY)
    chain.node.mine()
    finish = guardian.era_recovery_transaction(
        network, chain.account, new.credential_id, new.public_key, ORIGIN, gas_limit=GAS
    )
    assert (finish.from_address, finish.to, finish.custom_signature) == (
        chain.account,
        chain.webauthn,
        GuardianRecoveryValidator.finish_custom_signature(chain.module),
    )
    assert chain.registered(new.credential_id) == "0x" + "00" * 20
    chain.run(finish)
    assert chain.registered(new.credential_id) == chain.account.lower()
    # Validation consumes nothing (a finish whose execution fails leaves it pending): the passkey now on the
    # account is what refuses a replay. The request is listed until it expires or the account discards it.
    assert not chain.validates(finish)
    finished = account.pending_recovery()
    assert finished.exists  # stored, but its passkey is on the account already
    assert finished.fulfilled
    assert not finished.finishable_at(finished.earliest_finish)
    assert guardian.era_pending_recovery(network, chain.account, ORIGIN).fulfilled
    with raises_rule(ErrorCode.PASSKEY_ALREADY_REGISTERED):  # the SDK says so before building it
        guardian.era_recovery_transaction(
            network, chain.account, new.credential_id, new.public_key, ORIGIN, gas_limit=GAS
        )
    # The new passkey now signs for the account.
    recovered = chain.account_object(new)
    chain.send_as_account(lambda: recovered.remove_guardian(guardian.address))
    assert account.list_guardians() == ()
    assert not account.pending_recovery().exists  # removing the ready guardian discarded it


def _requested(chain: EraRecoveryChain) -> tuple[Guardian, HeadlessPasskey]:
    """A ready guardian's request for a new passkey, a day old (finishable)."""
    account, network = chain.account_object(), chain.network
    guardian = _guardian(chain)
    chain.send_as_account(lambda: account.propose_guardian(guardian.address))
    guardian.era_accept(network, chain.account, ORIGIN)
    new = _passkey()
    guardian.era_initiate_recovery(network, chain.account, new.credential_id, new.public_key, ORIGIN)
    chain.node.increase_time(DAY)
    chain.node.mine()
    return guardian, new


def _module_constant(chain: EraRecoveryChain, name: str) -> int:
    recovery = artifact("GuardianRecoveryValidator")
    answer = chain.node.eth.call({"to": chain.module, "data": recovery.encode_call(name)})
    (value,) = recovery.decode_output(name, answer)
    return int(value)


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_a_starved_finish_is_refused_in_validation(chain: EraRecoveryChain) -> None:
    # Anyone may send the finishing 0x71: with gas for its validation only, its call would run out of gas at
    # the account's fee. The module refuses a gas limit below its floor, which the SDK's finish carries.
    assert _module_constant(chain, "FINISH_MIN_GAS_LIMIT") == GuardianRecoveryValidator.FINISH_MIN_GAS_LIMIT
    assert _module_constant(chain, "FINISH_RETRY_DELAY") == RETRY
    guardian, new = _requested(chain)
    finish = guardian.era_recovery_transaction(
        chain.network, chain.account, new.credential_id, new.public_key, ORIGIN, gas_limit=60_000
    )
    assert finish.gas_limit == GAS  # raised to the floor
    assert not chain.validates(finish.replace(gas_limit=GAS - 1))
    assert not chain.validates(finish.replace(data=finish.data + bytes(32)))  # padded calldata
    assert chain.registered(new.credential_id) == "0x" + "00" * 20
    assert chain.account_object().pending_recovery().exists
    chain.run(finish)
    assert chain.registered(new.credential_id) == chain.account.lower()


class CountingGuardian(Guardian):
    """The guardian, counting the JSON-RPC methods it asks for (alone or in a batch)."""

    def __init__(self, eth: Any, signer: LocalAccount) -> None:
        super().__init__(eth, signer)
        self.asked: list[str] = []

    def answer(self, step: Any) -> Any:
        calls = step.calls if isinstance(step, Batch) else [step] if isinstance(step, RpcCall) else []
        self.asked += [call.method for call in calls]
        return super().answer(step)


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_an_estimate_below_the_floor_is_raised_to_it_in_one_preparation(chain: EraRecoveryChain) -> None:
    # The node's estimate of the finish is far below the module's floor: the floor replaces it in the one
    # preparation (one read of the nonce, the fees and the balance), not in a second round of reads.
    guardian, new = _requested(chain)
    counting = CountingGuardian(chain.node.eth, guardian.signer)
    finish = counting.era_recovery_transaction(
        chain.network, chain.account, new.credential_id, new.public_key, ORIGIN
    )
    assert finish.gas_limit == GAS
    assert counting.asked.count("eth_estimateGas") == 1
    assert counting.asked.count("eth_getTransactionCount") == 1
    assert counting.asked.count("eth_gasPrice") == 1
    assert counting.asked.count("eth_getBalance") == 1
    chain.run(finish)
    assert chain.registered(new.credential_id) == chain.account.lower()


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_a_finish_that_fails_in_execution_blocks_another_for_the_retry_delay(chain: EraRecoveryChain) -> None:
    # A stranger registers the requested credential id to an account of their own first: every finish then
    # validates and reverts in execution. The module takes one such attempt per retry delay, no more.
    guardian, new = _requested(chain)
    squatter, _ = chain.fresh_account(new)
    assert chain.registered(new.credential_id) == squatter.lower()
    with raises_rule(ErrorCode.PASSKEY_ALREADY_REGISTERED):  # the SDK says so before building it
        guardian.era_recovery_transaction(
            chain.network, chain.account, new.credential_id, new.public_key, ORIGIN, gas_limit=GAS
        )
    finish = _forced_finish(chain, new)
    validate = chain.test_account.encode_call(
        "validateTransaction", finish.signed_hash(), era_transaction_struct(finish)
    )
    assert chain.validates(finish)
    assert chain.node.eth.send_transaction(chain.sender, chain.account, validate, gas=3_000_000).success
    assert finish.to is not None
    failing = chain.test_account.encode_call("execute", finish.to, 0, finish.data)
    with pytest.raises(TransactionReverted):  # the credential id is the squatter's
        chain.node.eth.send_transaction(chain.sender, chain.account, failing, gas=3_000_000)
    assert chain.account_object().pending_recovery().exists  # the request stays
    # Another attempt within the delay is refused by the module, and by the SDK before anything is built.
    assert not chain.validates(finish)
    with raises_rule(ErrorCode.RECOVERY_RETRY_TOO_EARLY):
        guardian.era_recovery_transaction(
            chain.network, chain.account, new.credential_id, new.public_key, ORIGIN, gas_limit=GAS
        )
    # The squatter's key goes; after the delay the finish is allowed again and adds the passkey.
    remove = artifact("WebAuthValidator").encode_call("removeValidationKey", new.credential_id, ORIGIN)
    call = chain.test_account.encode_call("execute", chain.webauthn, 0, remove)
    assert chain.node.eth.send_transaction(chain.sender, squatter, call, gas=3_000_000).success
    chain.node.increase_time(RETRY)
    chain.node.mine()
    again = guardian.era_recovery_transaction(
        chain.network, chain.account, new.credential_id, new.public_key, ORIGIN, gas_limit=GAS
    )
    chain.run(again)
    assert chain.registered(new.credential_id) == chain.account.lower()


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_the_first_proposal_installs_the_module_in_the_same_transaction(chain: EraRecoveryChain) -> None:
    address, passkey = chain.fresh_account()
    account = chain.account_object(passkey, address)
    guardian = _guardian(chain)
    assert not account.recovery_module_installed()
    with pytest.raises(Caught) as caught:
        account.propose_guardian(guardian.address)
    # One 0x71 to the account itself: batchCall(addModuleValidator(module, ""), proposeGuardian(origin, g)).
    transaction = caught.value.transaction
    assert transaction.to == address
    assert transaction.data[:4] == keccak(b"batchCall((address,bool,uint256,bytes)[])")[:4]
    (calls,) = abi_decode(["(address,bool,uint256,bytes)[]"], transaction.data[4:])
    assert [(to_checksum_address(c[0]), c[1], c[2]) for c in calls] == [
        (address, False, 0),
        (to_checksum_address(chain.module), False, 0),
    ]
    assert calls[1][3] == GuardianRecoveryValidator.propose_guardian(ORIGIN, guardian.address)
    chain.run(transaction)
    assert account.recovery_module_installed()
    [entry] = account.list_guardians()
    assert (entry.address, entry.is_ready) == (guardian.address, False)
    # Installed now: the next proposal is a plain call to the module.
    other = _guardian(chain)
    with pytest.raises(Caught) as caught:
        account.propose_guardian(other.address)
    assert caught.value.transaction.to == to_checksum_address(chain.module)
    # The recovery then runs as on an account created with the module.
    assert guardian.era_accept(chain.network, address, ORIGIN) is not None
    assert account.list_guardians()[0].is_ready


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_installing_the_module_without_the_passkey_validator_is_refused_before_signing(
    chain: EraRecoveryChain,
) -> None:
    address, passkey = chain.fresh_account(with_webauthn=False)
    account = chain.account_object(passkey, address)
    with raises_rule(ErrorCode.RECOVERY_VALIDATOR_NOT_INSTALLED):
        account.propose_guardian(_guardian(chain).address)  # the batch's gas estimate: nothing is signed
    assert not account.recovery_module_installed()


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_discard_and_expiry(chain: EraRecoveryChain) -> None:
    account, network = chain.account_object(), chain.network
    guardian = _guardian(chain)
    with raises_rule(ErrorCode.NO_PENDING_RECOVERY):
        account.discard_recovery()
    chain.send_as_account(lambda: account.propose_guardian(guardian.address))
    guardian.era_accept(network, chain.account, ORIGIN)
    new = _passkey()
    guardian.era_initiate_recovery(network, chain.account, new.credential_id, new.public_key, ORIGIN)
    # The passkey was not lost: the account discards the request; nothing is left to finish.
    chain.send_as_account(account.discard_recovery)
    assert not account.pending_recovery().exists
    chain.node.increase_time(DAY + 1)
    chain.node.mine()
    with raises_rule(ErrorCode.NO_PENDING_RECOVERY):
        guardian.era_recovery_transaction(network, chain.account, new.credential_id, new.public_key, ORIGIN)
    # A new request left beyond 72 h expires.
    guardian.era_initiate_recovery(network, chain.account, new.credential_id, new.public_key, ORIGIN)
    chain.node.increase_time(3 * DAY + 1)
    chain.node.mine()
    with raises_rule(ErrorCode.RECOVERY_EXPIRED):
        guardian.era_recovery_transaction(network, chain.account, new.credential_id, new.public_key, ORIGIN)


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
def test_refusals_are_typed_before_anything_is_signed(chain: EraRecoveryChain) -> None:
    account, network = chain.account_object(), chain.network
    stranger, proposed = _guardian(chain), _guardian(chain)
    new = _passkey()
    # A non-guardian: refused by the module's gas estimate, nothing sent.
    with raises_rule(ErrorCode.NOT_A_GUARDIAN):
        stranger.era_initiate_recovery(network, chain.account, new.credential_id, new.public_key, ORIGIN)
    with raises_rule(ErrorCode.NOT_A_GUARDIAN):
        stranger.era_accept(network, chain.account, ORIGIN)
    assert chain.node.eth.get_transaction_count(stranger.address) == 0
    # Proposed but not accepted.
    chain.send_as_account(lambda: account.propose_guardian(proposed.address))
    with raises_rule(ErrorCode.GUARDIAN_NOT_ACTIVE):
        proposed.era_initiate_recovery(network, chain.account, new.credential_id, new.public_key, ORIGIN)
    # The account's side: nothing to remove, itself as guardian, the module missing on the network.
    with raises_rule(ErrorCode.NOT_A_GUARDIAN):
        account.remove_guardian(stranger.address)
    with raises_rule(ErrorCode.INVALID_GUARDIAN):
        account.propose_guardian(chain.account)
    bare = CatchingEraAccount(
        chain.node.eth,
        EraNetwork(name="x", chain_id=260, passkey_validator=chain.webauthn),
        chain.account,
        chain.passkey,
    )
    with raises_rule(ErrorCode.MISSING_CONTRACT_ADDRESS):
        bare.list_guardians()
    # An ERC-4337 call on an Era-only guardian names what is missing.
    with raises_rule(ErrorCode.MISSING_CONTRACT_ADDRESS):
        stranger.status(chain.account)


@pytest.mark.chain
@pytest.mark.usefixtures("snapshot")
async def test_the_async_guardian_runs_the_same_flow(chain: EraRecoveryChain) -> None:
    account, network = chain.account_object(), chain.network
    key: LocalAccount = Account.create()
    chain.node.set_balance(key.address, 10**19)
    chain.send_as_account(lambda: account.propose_guardian(key.address))
    guardian = AsyncGuardian(AsyncEthClient(chain.node.url), key)
    assert await guardian.era_accept(network, chain.account, ORIGIN) is not None
    assert (await guardian.era_status(network, chain.account, ORIGIN)).is_ready
    new = _passkey()
    await guardian.era_initiate_recovery(network, chain.account, new.credential_id, new.public_key, ORIGIN)
    assert (await guardian.era_pending_recovery(network, chain.account, ORIGIN)).exists


# --- live Era (anvil-zksync) --------------------------------------------------------------------------------


@pytest.mark.anvil_zksync
def test_finish_recovery_on_anvil_zksync(anvil_zksync_node: Any) -> None:
    eth, network = live_era_network(anvil_zksync_node, recovery_validator="SSO_SIGNER_ERA_RECOVERY_VALIDATOR")
    deployer = anvil_zksync_node.accounts[0]
    account, _ = EraAccount.create(eth, network, deployer, _passkey())
    eth.send_transaction(deployer, to=account.address, value=10**18)
    guardian = Guardian(eth, deployer)
    assert account.propose_guardian(guardian.address).success
    guardian.era_accept(network, account.address, ORIGIN)
    new = _passkey()
    guardian.era_initiate_recovery(network, account.address, new.credential_id, new.public_key, ORIGIN)
    with raises_rule(ErrorCode.RECOVERY_TOO_EARLY):
        guardian.era_finish_recovery(network, account.address, new.credential_id, new.public_key, ORIGIN)
    eth.rpc.request("evm_increaseTime", [hex(DAY + 1)])
    assert guardian.era_finish_recovery(
        network, account.address, new.credential_id, new.public_key, ORIGIN
    ).success
    assert EraAccount(eth, network, account.address, new).send(account.address, 0).success
