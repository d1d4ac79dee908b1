"""The chain side of the example: the Era passkey validator on a local anvil.

What runs where
    A ZKsync SSO account (``SsoAccount``) runs only on EraVM, and plain anvil is an EVM. The validator
    contract, though, is ordinary Solidity, and it is the part that decides whether a passkey signature
    authorises a call: the account asks it ``validateTransaction(signedHash, tx)`` during validation, with
    ``msg.sender`` = account.
    On anvil the example therefore gives each user a *stand-in* account: a fresh address the backend holds,
    which installs the user's passkey in the validator exactly like ``SsoAccount.initialize`` does
    (``onInstall(validator_init_data(...))``). An approved call is the full Era flow up to the wire — the
    type-0x71 transaction, its EIP-712 signed hash as the WebAuthn challenge, the SDK's fat signature and
    ``customSignature``, the preflight — and then the validator on anvil is asked ``validateTransaction``,
    from the account's address, whether it accepts the signature. Only when it does, the stand-in performs
    the call the account would have executed. Against anvil-zksync or an Era network the serialised
    transaction is what you would send with ``eth_sendRawTransaction`` instead.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from examples.dapp_backend._backend import Flow, PreparedCall, Step
from examples.dapp_backend._errors import ValidatorRejected
from sso_signer import hex_decode, hex_encode
from sso_signer.accounts import EraAccount, EraNetwork
from sso_signer.rpc import EthClient, Receipt
from sso_signer.sso import FatSignature, era_custom_signature, preflight, validator_init_data
from sso_signer.webauthn import Assertion, PasskeyCredential
from sso_signer.zksync import Eip712Transaction

__all__ = ["EraAnvilGateway"]

_ON_INSTALL = function_signature_to_4byte_selector("onInstall(bytes)")
_ADD_KEY = function_signature_to_4byte_selector("addValidationKey(bytes,bytes32[2],string)")

# The official SDK hard-codes the gas of passkey transactions because estimation cannot simulate WebAuthn
# validation (sso-era.md §3.5); the account must be able to cover gas_limit * max_fee_per_gas.
_GAS_LIMIT = 2_000_000
_MAX_FEE = 2_000_000_000
_PRIORITY_FEE = 1_000_000_000
_STAND_IN_FUNDING = 10**18
# Blocks after its preparation where an approved call without a recorded hash is looked for.
_SETTLE_BLOCKS = 64


class EraAnvilGateway:
    """Accounts whose passkeys live in the Era ``WebAuthValidator`` deployed on anvil (see the module docs).

    Args:
        eth: A client of the anvil node.
        funder: A funded dev account that pays for the stand-in accounts.
        validator: The ``WebAuthValidator`` address.
    """

    def __init__(self, eth: EthClient, funder: LocalAccount, validator: str) -> None:
        self.eth = eth
        self.funder = funder
        self.validator = to_checksum_address(validator)
        self.chain_id = eth.chain_id()
        self._stand_ins: dict[str, LocalAccount] = {}
        # One funder for several request threads: its transactions must not race for a nonce.
        self._funder_lock = threading.Lock()

    # The backend runs the gateway's operations as flows (see ``_backend.AccountGateway``). Here each is
    # one blocking step: the stand-ins' transactions are plain anvil work through the sync client, signed
    # by local keys, and the async server runs them in the thread pool (docs/example-backend.md).

    def clients(self) -> None:
        """No clients of its own to hand the flows: every step is a blocking call of this gateway."""
        return None

    @contextlib.asynccontextmanager
    async def async_clients(self) -> AsyncIterator[None]:
        """Nothing to open in the event loop (the steps stay blocking)."""
        yield None

    def create_account(self, clients: None, credential: PasskeyCredential) -> Flow[tuple[str, str]]:
        """:meth:`create_account_now` as a blocking step."""
        return (yield Step(self.create_account_now, (credential,), blocking=True))  # type: ignore[no-any-return]

    def prepare_call(
        self, clients: None, account: str, *, to: str, value: int, data: bytes, passkey: PasskeyCredential
    ) -> Flow[PreparedCall]:
        """:meth:`prepare_call_now` as a blocking step."""
        kwargs = {"to": to, "value": value, "data": data, "passkey": passkey}
        return (yield Step(self.prepare_call_now, (account,), kwargs, blocking=True))  # type: ignore[no-any-return]

    def submit(
        self, clients: None, prepared: PreparedCall, assertion: Assertion, credential: PasskeyCredential
    ) -> Flow[dict[str, Any]]:
        """:meth:`submit_now` as a blocking step."""
        return (yield Step(self.submit_now, (prepared, assertion, credential), blocking=True))  # type: ignore[no-any-return]

    def outcome(
        self, clients: None, prepared: PreparedCall, tx_hash: str | None
    ) -> Flow[tuple[str, str | None, str | None] | None]:
        """:meth:`outcome_now` as a blocking step."""
        return (yield Step(self.outcome_now, (prepared, tx_hash), blocking=True))  # type: ignore[no-any-return]

    def outcome_now(
        self, prepared: PreparedCall, tx_hash: str | None
    ) -> tuple[str, str | None, str | None] | None:
        """What became of an approved call whose outcome was not recorded, read from the chain.

        With its hash, the receipt decides. Without one (its worker stopped before recording anything), or
        with no receipt, the stand-in's transaction is looked for among the blocks after its preparation,
        once the 0x71 nonce it was signed over is used: on an Era node the hash would come from the signed
        bytes instead.

        Returns:
            ``("included" | "failed", transaction hash, reason)``, or ``None`` while undecided.
        """
        if tx_hash is not None:
            receipt = self.eth.get_transaction_receipt(hex_decode(tx_hash))
            if receipt is not None:
                return _verdict(receipt)
            # Not mined (dropped, or not yet): its nonce decides, as for one without a hash.
        tx = Eip712Transaction.parse(hex_decode(prepared.payload["transaction"]))
        if self.eth.get_transaction_count(prepared.account) <= tx.nonce:
            return None  # nothing has used its nonce: it may still run
        first = int(prepared.payload.get("block", 0))
        data = hex_encode(prepared.data)
        for number in range(first, min(self.eth.block_number(), first + _SETTLE_BLOCKS) + 1):
            block = self.eth.get_block(number, full_transactions=True) or {}
            for sent in block.get("transactions", ()):
                if (
                    str(sent.get("from", "")).lower() == prepared.account.lower()
                    and str(sent.get("to") or "").lower() == prepared.to.lower()
                    and int(str(sent.get("value", "0x0")), 16) == prepared.value
                    and sent.get("input") == data
                ):
                    receipt = self.eth.get_transaction_receipt(hex_decode(str(sent["hash"])))
                    if receipt is not None:
                        return _verdict(receipt)
        return "failed", None, f"never included: its nonce {tx.nonce} was used by another transaction"

    def create_account_now(self, credential: PasskeyCredential) -> tuple[str, str]:
        """Create a stand-in account and install ``credential`` in the validator under it.

        Returns:
            The account address and the hash of the transaction installing the passkey.

        Raises:
            TransactionReverted: If the validator refuses the key (its revert names the rule).
        """
        account: LocalAccount = Account.create()
        with self._funder_lock:
            self.eth.send_transaction(self.funder, to=account.address, value=_STAND_IN_FUNDING)
        init = validator_init_data(credential.credential_id, credential.public_key, credential.origin)
        installed = self.eth.send_transaction(
            account, to=self.validator, data=_ON_INSTALL + abi_encode(["bytes"], [init])
        )
        self._stand_ins[account.address] = account
        return str(account.address), hex_encode(installed.transaction_hash)

    def balance(self, account: str) -> int:
        """The account's balance in wei."""
        return self.eth.get_balance(account)

    def link_key_call(self, account: str, credential: PasskeyCredential) -> tuple[str, bytes]:
        """The call adding ``credential`` to the validator (``addValidationKey(id, [x, y], origin)``)."""
        key = [credential.public_key.x_bytes, credential.public_key.y_bytes]
        data = _ADD_KEY + abi_encode(
            ["bytes", "bytes32[2]", "string"], [credential.credential_id, key, credential.origin]
        )
        return self.validator, data

    def prepare_call_now(
        self, account: str, *, to: str, value: int, data: bytes, passkey: PasskeyCredential
    ) -> PreparedCall:
        """Build the Era 0x71 transaction of the call; its EIP-712 signed hash is the challenge.

        ``passkey`` is not needed here (nothing is estimated with a stub signature).
        """
        tx = Eip712Transaction(
            chain_id=self.chain_id,
            nonce=self.eth.get_transaction_count(account),
            from_address=to_checksum_address(account),
            to=to_checksum_address(to),
            value=value,
            data=data,
            gas_limit=_GAS_LIMIT,
            max_fee_per_gas=_MAX_FEE,
            max_priority_fee_per_gas=_PRIORITY_FEE,
        )
        challenge = tx.signed_hash()
        summary = {
            "type": "0x71",
            "chainId": self.chain_id,
            "from": tx.from_address,
            "to": tx.to,
            "value": str(value),
            "data": hex_encode(data),
            "nonce": tx.nonce,
            "signedHash": hex_encode(challenge),
        }
        # Stored between the two requests as JSON: the unsigned transaction's own serialisation.
        # The block it was prepared at: where a lost outcome is looked for (``outcome_now``).
        payload = {"transaction": hex_encode(tx.serialize()), "block": self.eth.block_number()}
        return PreparedCall(account, tx.to or "", value, data, challenge, summary, payload)

    def submit_now(
        self, prepared: PreparedCall, assertion: Assertion, credential: PasskeyCredential
    ) -> dict[str, Any]:
        """Encode the approval, preflight it, have the validator check it from the account, run the call.

        Args:
            prepared: The call from :meth:`prepare_call_now`.
            assertion: The verified assertion over its signed hash.
            credential: The passkey that signed (its key and origin, as the validator stores them).

        Returns:
            The signed transaction bytes and what happened on-chain.

        Raises:
            ValidatorRejected: If the validator on anvil returns false.
            AssertionRejected: The validator rule the signature breaks, found off-chain first.
        """
        tx = Eip712Transaction.parse(hex_decode(prepared.payload["transaction"]))
        if tx.signed_hash() != prepared.challenge:
            raise ValidatorRejected("the stored transaction does not hash to the approved challenge")
        fat = FatSignature.from_assertion(assertion)  # normalises a high-s signature to low-s
        # The validator's rules, off-chain and in its order: a failure names the rule before anything is sent.
        preflight("era", tx.signed_hash(), fat, credential)
        custom = era_custom_signature(fat.encode(), self.validator)
        signed = tx.replace(custom_signature=custom)
        # What the account itself asks during validation: validateTransaction(signedHash, tx), as msg.sender.
        network = EraNetwork(name="local", chain_id=tx.chain_id, passkey_validator=self.validator)
        # A read-only account (the browser signed already): it asks the validator, it does not sign.
        verdict = EraAccount(self.eth, network, prepared.account, credential).verify_onchain(signed)
        if not verdict.valid:
            raise ValidatorRejected(
                f"WebAuthValidator.validateTransaction refused the approval ({verdict.rule})"
            )
        stand_in = self._stand_ins[prepared.account]
        receipt = self.eth.send_transaction(
            stand_in, to=prepared.to, data=prepared.data, value=prepared.value
        )
        return {
            "message": "Approved: the validator accepted the passkey signature and the call ran.",
            "signedHash": hex_encode(tx.signed_hash()),
            "lowS": assertion.ecdsa_signature.is_low_s,
            "rawTransaction": hex_encode(signed.serialize()),
            "validatorAccepted": True,
            "executedBy": "stand-in account (plain anvil has no EraVM)",
            "transactionHash": hex_encode(receipt.transaction_hash),
        }


def _verdict(receipt: Receipt) -> tuple[str, str | None, str | None]:
    found = hex_encode(receipt.transaction_hash)
    if receipt.status == 1:
        return "included", found, None
    return "failed", found, "TransactionReverted: reverted on chain"
