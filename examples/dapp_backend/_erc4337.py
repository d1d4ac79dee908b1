"""The ERC-4337 side of the example: a ``ModularSmartAccount`` per user with the passkey in the
``WebAuthnValidator``, and UserOperations that really execute on anvil.

With a bundler (``BundlerClient``, e.g. the Alto of :class:`sso_signer.local_erc4337.LocalErc4337Stack`),
the gateway does what a production backend does: the bundler prices and estimates the UserOperation (with a
well-formed stub signature), and the approved operation is sent with ``eth_sendUserOperation``. Without one,
it uses fixed gas limits and hands the operation to ``EntryPoint.handleOps`` itself from its funded address
(what a bundler does after simulating it). Either way the UserOperation, its hash as the WebAuthn challenge
and the ``validator ‖ fat`` signature are the same bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from examples.dapp_backend._backend import Flow, PreparedCall, Step
from examples.dapp_backend._errors import SessionsUnavailable, UserOperationFailed
from sso_signer import hex_encode
from sso_signer.accounts import AsyncErc4337Account, Erc4337Account, MsaDeployment, deploy_msa_contracts
from sso_signer.erc4337 import (
    AsyncBundlerClient,
    AsyncEntryPoint,
    BundlerClient,
    EntryPoint,
    UserOperation,
    UserOperationReceipt,
    encode_execute,
    user_operation_hash,
)
from sso_signer.exceptions import AfterSendError, UserOperationReverted
from sso_signer.rpc import AsyncEthClient, EthClient
from sso_signer.sso import (
    FatSignature,
    deploy_account_calldata,
    erc4337_passkey_signature,
    passkey_account_init_data,
    preflight,
)
from sso_signer.webauthn import Assertion, PasskeyCredential

__all__ = ["Erc4337AnvilGateway", "Erc4337Clients"]

_ADD_KEY = function_signature_to_4byte_selector("addValidationKey(bytes,bytes32[2],string)")
_HANDLE_OPS = function_signature_to_4byte_selector(
    "handleOps((address,uint256,bytes,bytes,bytes32,uint256,bytes32,bytes,bytes)[],address)"
)
_PACKED_OP = "(address,uint256,bytes,bytes,bytes32,uint256,bytes32,bytes,bytes)"
# ERC-7579: a validator is module type 1; the account installs the session validator without data.
_VALIDATOR_MODULE = 1
_MODULE_ARGS = ["uint256", "address", "bytes"]
_IS_INSTALLED = function_signature_to_4byte_selector("isModuleInstalled(uint256,address,bytes)")
_INSTALL_MODULE = function_signature_to_4byte_selector("installModule(uint256,address,bytes)")
_ACCOUNT_CREATED = keccak(text="AccountCreated(address,address)")
_USER_OPERATION_EVENT = keccak(
    text="UserOperationEvent(bytes32,address,address,uint256,bool,uint256,uint256)"
)

# Explicit limits: a passkey validation (JSON parsing, base64, P-256) needs a few hundred thousand gas, and
# estimating needs a well-formed stub signature; fixed generous limits keep the example short. Unused gas
# is not charged beyond the limits' prefund, which the account's deposit covers.
_CALL_GAS = 300_000
_VERIFICATION_GAS = 1_000_000
_PRE_VERIFICATION_GAS = 100_000
_ACCOUNT_FUNDING = 10**18


@dataclass(frozen=True, slots=True)
class Erc4337Clients:
    """The clients one driver of the gateway's flows runs them on: all sync (:class:`DappBackend`, each step
    a blocking call) or all async (:class:`AsyncDappBackend`, each step awaited).

    Attributes:
        eth: The chain's client.
        bundler: The bundler's client, or None (the gateway calls ``handleOps`` itself).
        entry_point: The EntryPoint on ``eth``.
        account: The SDK account class on these clients.
        funder_lock: Serialises the funder's transactions (they must not race for its nonce): a
            ``threading.Lock`` for request threads, an ``asyncio.Lock`` for the coroutines of one event loop.
    """

    eth: EthClient | AsyncEthClient
    bundler: BundlerClient | AsyncBundlerClient | None
    entry_point: EntryPoint | AsyncEntryPoint
    account: type[Erc4337Account] | type[AsyncErc4337Account]
    funder_lock: threading.Lock | asyncio.Lock


class Erc4337AnvilGateway:
    """Passkey accounts on the ERC-4337 SSO contracts, deployed on the given chain.

    Args:
        eth: A client of the chain.
        funder: A funded account: deploys the accounts, funds them, and submits UserOperations (without a
            bundler).
        deployment: The contracts (see :meth:`deploy`).
        bundler: A bundler for the deployment's EntryPoint; ``None`` to call ``handleOps`` directly.
        nonce_key: The EntryPoint nonce key of the operations this gateway prepares. Each worker process
            uses its own (``_workers.process_nonce_key``): two workers preparing operations for one account
            at once then never hand out the same nonce.
    """

    def __init__(
        self,
        eth: EthClient,
        funder: LocalAccount,
        deployment: MsaDeployment,
        *,
        bundler: BundlerClient | None = None,
        nonce_key: int = 0,
    ) -> None:
        self.eth = eth
        self.nonce_key = nonce_key
        self.bundler = bundler
        self.funder = funder
        self.deployment = deployment
        self.entry_point = EntryPoint(eth, deployment.entry_point)
        self.validator = deployment.webauthn_validator
        # One sender for several request threads: transactions from it must not race for a nonce.
        self._funder_lock = threading.Lock()

    @classmethod
    def deploy(cls, eth: EthClient, funder: LocalAccount) -> Erc4337AnvilGateway:
        """Deploy EntryPoint v0.8 (if absent), the validator, the account beacon and the factory."""
        return cls(eth, funder, deploy_msa_contracts(eth, funder))

    def clients(self) -> Erc4337Clients:
        """The sync clients the gateway was built with (its flows' steps are then blocking calls)."""
        return Erc4337Clients(self.eth, self.bundler, self.entry_point, Erc4337Account, self._funder_lock)

    @contextlib.asynccontextmanager
    async def async_clients(self) -> AsyncIterator[Erc4337Clients]:
        """Async clients of the same node and bundler, opened in (and closed with) the running event loop.

        Yields:
            The clients an :class:`~examples.dapp_backend.AsyncDappBackend` awaits the gateway's steps on.
        """
        eth = AsyncEthClient(self.eth.rpc.url)
        bundler = None
        try:
            if self.bundler is not None:
                bundler = AsyncBundlerClient(self.bundler.rpc.url, entry_point=self.deployment.entry_point)
            entry_point = AsyncEntryPoint(eth, self.deployment.entry_point)
            yield Erc4337Clients(eth, bundler, entry_point, AsyncErc4337Account, asyncio.Lock())
        finally:
            if bundler is not None:
                await bundler.aclose()
            await eth.aclose()

    # The chain operations are flows of Steps (see ``_backend.Step``), written once: each step calls a
    # method of ``clients``, so the sync backend blocks on it and the async one awaits it.

    def create_account(self, clients: Erc4337Clients, credential: PasskeyCredential) -> Flow[tuple[str, str]]:
        """Deploy a ``ModularSmartAccount`` with ``credential`` in the validator, and fund it.

        Returns:
            The account address (from the factory's ``AccountCreated`` event) and the deploying
            transaction's hash.

        Raises:
            UserOperationFailed: If the factory emitted no ``AccountCreated`` event.
            TransactionReverted: If the factory reverts (the validator refuses the key, naming the rule).
        """
        init_data = passkey_account_init_data(credential, webauthn_validator=self.validator)
        call = deploy_account_calldata(secrets.token_bytes(32), init_data)
        yield Step(clients.funder_lock.acquire)
        try:
            receipt = yield Step(
                clients.eth.send_transaction, (self.funder,), {"to": self.deployment.factory, "data": call}
            )
            created = [
                log for log in receipt.logs if log.topics[:1] == (_ACCOUNT_CREATED,) and len(log.topics) > 1
            ]
            if not created:
                raise UserOperationFailed("the factory emitted no AccountCreated event")
            account = to_checksum_address(created[0].topics[1][-20:])
            # The account pays for its own UserOperations (EntryPoint prefund) from its balance.
            yield Step(
                clients.eth.send_transaction, (self.funder,), {"to": account, "value": _ACCOUNT_FUNDING}
            )
        finally:
            clients.funder_lock.release()
        return str(account), hex_encode(receipt.transaction_hash)

    def balance(self, account: str) -> int:
        """The account's balance in wei."""
        return self.eth.get_balance(account)

    def link_key_call(self, account: str, credential: PasskeyCredential) -> tuple[str, bytes]:
        """The call adding ``credential`` to the validator: ``addValidationKey(id, [x, y], origin)``."""
        key = [credential.public_key.x_bytes, credential.public_key.y_bytes]
        data = _ADD_KEY + abi_encode(
            ["bytes", "bytes32[2]", "string"], [credential.credential_id, key, credential.origin]
        )
        return self.validator, data

    def prepare_call(
        self,
        clients: Erc4337Clients,
        account: str,
        *,
        to: str,
        value: int,
        data: bytes,
        passkey: PasskeyCredential,
    ) -> Flow[PreparedCall]:
        """Build the UserOperation ``execute(single call)``; its userOpHash is the challenge.

        ``passkey`` (one of the account's) shapes the stub signature the bundler estimates gas with.

        Raises:
            UserOperationRejected: If the bundler's simulation fails (typed by AA code).
        """
        return (yield from self.prepare_calls(clients, account, [(to, value, data)], passkey=passkey))

    def prepare_calls(
        self,
        clients: Erc4337Clients,
        account: str,
        calls: list[tuple[str, int, bytes]],
        *,
        passkey: PasskeyCredential,
    ) -> Flow[PreparedCall]:
        """Like :meth:`prepare_call` for one or more calls (several: one ``execute`` batch); the page is
        shown the last call (e.g. ``createSession`` after the ``installModule`` it needs)."""
        to, value, data = calls[-1]
        target = to_checksum_address(to)
        op: UserOperation
        if self.bundler is not None:
            msa = self.account(account, passkey, clients=clients)
            op = yield Step(
                msa.build_user_operation, ([(to_checksum_address(t), v, d) for t, v, d in calls],)
            )
        elif len(calls) > 1:
            raise UserOperationFailed("batched calls need the bundler (--bundler)")
        else:
            gas_price: int = yield Step(clients.eth.gas_price)
            nonce: int = yield Step(clients.entry_point.get_nonce, (account, self.nonce_key))
            priority: int = yield Step(clients.eth.max_priority_fee_per_gas)
            op = UserOperation(
                sender=account,
                nonce=nonce,
                call_data=encode_execute([(target, value, data)]),
                call_gas_limit=_CALL_GAS,
                verification_gas_limit=_VERIFICATION_GAS,
                pre_verification_gas=_PRE_VERIFICATION_GAS,
                max_fee_per_gas=2 * gas_price,
                max_priority_fee_per_gas=min(priority, gas_price),
            )
        challenge = user_operation_hash(
            op, entry_point=self.deployment.entry_point, chain_id=self.deployment.chain_id
        )
        summary = {
            "type": "ERC-4337 UserOperation",
            "chainId": self.deployment.chain_id,
            "sender": account,
            "to": to_checksum_address(to),
            "value": str(value),
            "data": hex_encode(data),
            "nonce": op.nonce,
            "userOpHash": hex_encode(challenge),
        }
        # Stored between the two requests as JSON: the operation in the bundler's RPC form.
        return PreparedCall(account, to, value, data, challenge, summary, {"operation": op.to_rpc()})

    def account(
        self,
        account: str,
        passkey: PasskeyCredential,
        *,
        nonce_key: int | None = None,
        clients: Erc4337Clients | None = None,
    ) -> Any:
        """The SDK account at ``account``, through the bundler (``passkey`` shapes gas-estimation stubs):
        an :class:`~sso_signer.accounts.Erc4337Account` on the gateway's own clients, or the account class of
        ``clients`` on them (:class:`~sso_signer.accounts.AsyncErc4337Account` on async ones).

        Raises:
            SessionsUnavailable: Without a bundler.
        """
        clients = clients or self.clients()
        if clients.bundler is None:
            raise SessionsUnavailable("session keys need the ERC-4337 flow with a bundler (--bundler)")
        # The clients and the account class are a matched pair (all sync or all async).
        at: Any = clients.account.at
        return at(
            account,
            deployment=self.deployment,
            eth=clients.eth,
            bundler=clients.bundler,
            credential=passkey,
            nonce_key=self.nonce_key if nonce_key is None else nonce_key,
        )

    def session_validator_calls(
        self, clients: Erc4337Clients, account: str
    ) -> Flow[list[tuple[str, int, bytes]]]:
        """``[installModule(1, sessionValidator, "")]`` if the account lacks the session validator, else
        ``[]``.

        Raises:
            SessionsUnavailable: If the deployment has no session validator.
        """
        validator = self.deployment.session_validator
        if validator is None:
            raise SessionsUnavailable("this deployment has no SessionKeyValidator")
        module = [_VALIDATOR_MODULE, validator, b""]
        asked: bytes = yield Step(
            clients.eth.call, ({"to": account, "data": _IS_INSTALLED + abi_encode(_MODULE_ARGS, module)},)
        )
        if asked[-1:] == b"\x01":
            return []
        return [(account, 0, _INSTALL_MODULE + abi_encode(_MODULE_ARGS, module))]

    def submit(
        self,
        clients: Erc4337Clients,
        prepared: PreparedCall,
        assertion: Assertion,
        credential: PasskeyCredential,
    ) -> Flow[dict[str, Any]]:
        """Sign the UserOperation with the assertion, preflight it, and have the EntryPoint run it.

        Returns:
            The userOpHash, the transaction hash and the operation's gas cost.

        Raises:
            UserOperationFailed: The stored operation does not hash to the approved challenge (nothing is
                sent).
            AssertionRejected: The validator rule the signature breaks (nothing is sent).
            UserOperationReverted: If the EntryPoint ran the operation but its call reverted.
            AfterSendError: Any failure after the operation left (``TransactionReverted`` if ``handleOps``
                reverted, e.g. ``AA24 signature error``), with its hashes.
        """
        unsigned = UserOperation.from_rpc(prepared.payload["operation"])
        chain_id = self.deployment.chain_id
        if user_operation_hash(unsigned, entry_point=self.deployment.entry_point, chain_id=chain_id) != (
            prepared.challenge
        ):
            raise UserOperationFailed("the stored operation does not hash to the approved challenge")
        fat = FatSignature.from_assertion(assertion)  # normalises a high-s signature to low-s
        preflight("erc4337", prepared.challenge, fat, credential)
        op = unsigned.replace(signature=erc4337_passkey_signature(self.validator, fat))
        if clients.bundler is not None:
            included = yield Step(clients.bundler.send_and_wait, (op,), {"check": False})
            return _via_bundler(included, assertion, op)
        call = _HANDLE_OPS + abi_encode([f"{_PACKED_OP}[]", "address"], [[op.packed()], self.funder.address])
        yield Step(clients.funder_lock.acquire)
        try:
            receipt = yield Step(
                clients.eth.send_transaction,
                (self.funder,),
                {"to": self.deployment.entry_point, "data": call},
            )
        finally:
            clients.funder_lock.release()
        events = [
            log for log in receipt.logs if log.topics[:2] == (_USER_OPERATION_EVENT, prepared.challenge)
        ]
        if len(events) != 1:
            raise AfterSendError(
                "the EntryPoint reported no UserOperationEvent for this operation",
                tx_hash=receipt.transaction_hash,
                user_op_hash=prepared.challenge,
                user_operation=op,
            )
        _, success, gas_cost, gas_used = abi_decode(["uint256", "bool", "uint256", "uint256"], events[0].data)
        if not success:
            reverted = UserOperationReverted(
                "the account's call reverted (the signature was accepted)",
                user_op_hash=prepared.challenge,
                user_operation=op,
            )
            reverted.tx_hash = receipt.transaction_hash  # the handleOps transaction that included it
            raise reverted
        return _approved(
            "Approved: the EntryPoint validated the passkey signature and the call ran.",
            "EntryPoint v0.8 handleOps",
            prepared.challenge,
            assertion,
            receipt.transaction_hash,
            gas_used,
            gas_cost,
        )

    def outcome(
        self, clients: Erc4337Clients, prepared: PreparedCall, tx_hash: str | None
    ) -> Flow[tuple[str, str | None, str | None] | None]:
        """What became of a signed operation whose outcome was not recorded, read from the chain.

        Its userOpHash is its challenge, known whether or not it was sent. The nonce is read before the
        receipt: an operation included between the two reads is then found, never taken for a lost one.

        Returns:
            ``("included" | "failed", transaction hash, reason)``, or ``None`` while undecided (no receipt
            and its nonce still unused: it may yet be included).
        """
        op = UserOperation.from_rpc(prepared.payload["operation"])
        key, sequence = divmod(op.nonce, 1 << 64)
        next_nonce: int = yield Step(clients.entry_point.get_nonce, (op.sender, key))
        if clients.bundler is not None:
            receipt = yield Step(clients.bundler.get_user_operation_receipt, (prepared.challenge,))
            if receipt is not None:
                found = hex_encode(receipt.receipt.transaction_hash)
                if receipt.success:
                    return "included", found, None
                return "failed", found, "UserOperationReverted: the account's call reverted"
        else:
            logs = yield Step(
                clients.eth.get_logs,
                (self.deployment.entry_point, (_USER_OPERATION_EVENT, prepared.challenge)),
            )
            if logs:
                (_, success, _, _) = abi_decode(["uint256", "bool", "uint256", "uint256"], logs[0].data)
                found = hex_encode(logs[0].transaction_hash)
                if success:
                    return "included", found, None
                return "failed", found, "UserOperationReverted: the account's call reverted"
        if next_nonce % (1 << 64) > sequence:
            return (
                "failed",
                tx_hash,
                (f"never included: its nonce (key {key}, {sequence}) was used by another operation"),
            )
        return None


def _via_bundler(receipt: UserOperationReceipt, assertion: Assertion, op: UserOperation) -> dict[str, Any]:
    if not receipt.success:
        raise UserOperationReverted(
            "the account's call reverted (the signature was accepted)",
            receipt=receipt,
            user_op_hash=receipt.user_op_hash,
            user_operation=op,
        )
    return _approved(
        "Approved: the bundler got the passkey-signed operation included and the call ran.",
        "bundler (eth_sendUserOperation)",
        receipt.user_op_hash,
        assertion,
        receipt.receipt.transaction_hash,
        receipt.actual_gas_used,
        receipt.actual_gas_cost,
    )


def _approved(
    message: str,
    executed_by: str,
    user_op_hash: bytes,
    assertion: Assertion,
    transaction_hash: bytes,
    gas_used: int,
    gas_cost: int,
) -> dict[str, Any]:
    # The answer of an included operation, whichever way it was sent.
    return {
        "message": message,
        "userOpHash": hex_encode(user_op_hash),
        "lowS": assertion.ecdsa_signature.is_low_s,
        "validatorAccepted": True,
        "executedBy": executed_by,
        "transactionHash": hex_encode(transaction_hash),
        "gasUsed": gas_used,
        "gasCost": str(gas_cost),
    }
