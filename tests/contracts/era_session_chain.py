"""The Era SessionKeyValidator on plain anvil, as chain 260 (anvil-zksync's id) with a TimestampAsserter
stand-in at that chain's asserter address, behind the EraTestAccount stand-in (module validators, hooks, call
forwarding, and ``validateTransaction`` as the SsoAccount runs it). No ZKsync node runs here: this is how the
Era session validator's verdicts are read on a real chain."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from sso_signer._artifacts import Artifact
from sso_signer.accounts._era import era_transaction_struct
from sso_signer.exceptions import ExecutionReverted
from sso_signer.node import AnvilNode
from sso_signer.rpc import Receipt
from sso_signer.sso import SessionKeyValidator, SessionSpec
from sso_signer.zksync import Eip712Transaction
from tests.needs import artifact, started_anvil

ERA_CHAIN_ID = 260
#: Where the Era SessionKeyValidator finds the TimestampAsserter on chain 260.
ASSERTER = "0x0000000000000000000000000000000000808012"


@dataclass(frozen=True)
class EraSessionChain:
    """A deployed Era SessionKeyValidator installed on an EraTestAccount, and the calls the tests make.

    Attributes:
        node: The anvil node (chain 260).
        skv: The validator's artifact.
        validator: Its address.
        test_account: The account stand-in's artifact.
        account: The account's address (the 0x71 transactions' ``from``).
        sender: A funded EOA that drives the account stand-in.
        errors: Revert selectors the validator (and the asserter stand-in) can answer, by name.
    """

    node: AnvilNode
    skv: Artifact
    validator: str
    test_account: Artifact
    account: str
    sender: LocalAccount
    errors: dict[bytes, str]

    @classmethod
    def deploy(cls, node: AnvilNode) -> EraSessionChain:
        """Deploy the validator and an account with it installed; place the asserter stand-in."""
        asserter = artifact("EraTestTimestampAsserter")
        skv, test_account = artifact("EraSessionKeyValidator"), artifact("EraTestAccount")
        node.set_code(ASSERTER, asserter.deployed_bytecode)
        sender: LocalAccount = Account.create()
        node.set_balance(sender.address, 10**20)
        validator, _ = node.eth.deploy_contract(sender, skv.deploy_data())
        account, _ = node.eth.deploy_contract(sender, test_account.deploy_data())
        node.eth.send_transaction(
            sender, account, test_account.encode_call("addModuleValidator", validator, b"")
        )
        errors = {
            keccak(text=f"{e['name']}({','.join(i['type'] for i in e['inputs'])})")[:4]: str(e["name"])
            for source in (skv, asserter)
            for e in source.abi
            if e["type"] == "error"
        }
        errors[bytes.fromhex("4e487b71")] = "Panic"
        return cls(node, skv, validator, test_account, account, sender, errors)

    def execute(self, target: str, data: bytes, value: int = 0) -> Receipt:
        """A call made by the account (``EraTestAccount.execute``), e.g. ``createSession``."""
        self.node.eth.call(
            {"from": self.sender.address, "to": self.account, "data": self._execute(target, data, value)}
        )  # first as a call, so that a refusal shows its named error rather than a failed receipt
        return self.node.eth.send_transaction(
            self.sender, self.account, self._execute(target, data, value), gas=3_000_000
        )

    def _execute(self, target: str, data: bytes, value: int) -> bytes:
        return self.test_account.encode_call("execute", target, value, data)

    def create(self, spec: SessionSpec) -> Receipt:
        """The account opens ``spec``."""
        return self.execute(self.validator, SessionKeyValidator.era_create_session(spec))

    def revoke(self, spec: SessionSpec) -> Receipt:
        """The account revokes ``spec``."""
        return self.execute(self.validator, SessionKeyValidator.revoke_key(spec.session_hash))

    def _validate_data(self, transaction: Eip712Transaction) -> bytes:
        return self.test_account.encode_call(
            "validateTransaction", transaction.signed_hash(), era_transaction_struct(transaction)
        )

    def verdict(self, transaction: Eip712Transaction) -> str | None:
        """What the account's validation of a signed session transaction does (``eth_call``): ``None`` when
        accepted, ``"false"`` when it returns false, else the revert's error name."""
        call = {"from": self.sender.address, "to": self.account, "data": self._validate_data(transaction)}
        try:
            (accepted,) = self.test_account.decode_output("validateTransaction", self.node.eth.call(call))
        except ExecutionReverted as exc:
            raw = exc.revert.raw if exc.revert is not None else b""
            return self.errors.get(raw[:4], "0x" + raw.hex())
        return None if accepted else "false"

    def validate(self, transaction: Eip712Transaction) -> Receipt:
        """Run the account's validation of ``transaction`` in a real transaction, so that its usage is
        recorded (what the bootloader's validation step does on Era)."""
        return self.node.eth.send_transaction(
            self.sender, self.account, self._validate_data(transaction), gas=3_000_000
        )

    def validation_gas(self, transaction: Eip712Transaction) -> int:
        """``eth_estimateGas`` of the validator's ``validateTransaction`` called by the account."""
        data = self.skv.encode_call(
            "validateTransaction", transaction.signed_hash(), era_transaction_struct(transaction)
        )
        return self.node.eth.estimate_gas({"from": self.account, "to": self.validator, "data": data})


@contextmanager
def era_session_anvil() -> Iterator[AnvilNode]:
    """anvil as chain 260 (osaka), stopped afterwards; skipped when anvil or the artifacts are missing."""
    artifact("EraSessionKeyValidator")
    with started_anvil(chain_id=ERA_CHAIN_ID, hardfork="osaka") as node:
        yield node
