"""What every passkey account does, whatever its generation (:class:`PasskeyAccount`), and shared flows.

:class:`~sso_signer.accounts.EraAccount` (native account abstraction, 0x71 transactions) and
:class:`~sso_signer.accounts.Erc4337Account` (a modular account driven by UserOperations) implement it with
the same names and meanings; their ``Async`` twins implement it with coroutines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account.messages import SignableMessage
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from sso_signer._shell import flow_method
from sso_signer.accounts._messages import MessageMethods, PasskeySignedMessage
from sso_signer.erc4337 import Call
from sso_signer.exceptions import ErrorCode, ExecutionReverted, NotFound, RemoteError
from sso_signer.rpc._eth import ETH_FLOWS, _EthMethods
from sso_signer.rpc._flow import Flow
from sso_signer.sso._owner import PasskeyInitData
from sso_signer.sso._signature import abi_call, checksum_address
from sso_signer.webauthn import P256PublicKey

if TYPE_CHECKING:
    from sso_signer.accounts._signer import PasskeySigner

__all__ = [
    "AccountMethods",
    "PasskeyAccount",
    "Receipt",
    "account_key_flow",
]

_ERC1271_MAGIC: Final = bytes.fromhex("1626ba7e")
#: ``PasskeyCreated(address indexed keyOwner, string originDomain, bytes credentialId)`` (both validators).
PASSKEY_CREATED_TOPIC: Final = bytes(keccak(text="PasskeyCreated(address,string,bytes)"))
#: ``PasskeyRemoved(address indexed keyOwner, string originDomain, bytes credentialId)`` (both validators).
PASSKEY_REMOVED_TOPIC: Final = bytes(keccak(text="PasskeyRemoved(address,string,bytes)"))


class Receipt(Protocol):
    """What both generations' receipts share (``rpc.Receipt``; ``UserOperationReceipt`` on ERC-4337)."""

    @property
    def transaction_hash(self) -> HexBytes: ...

    @property
    def success(self) -> bool: ...


@runtime_checkable
class PasskeyAccount(Protocol):
    """A smart account driven by one of its passkeys, on one chain (in the spirit of eth-account's
    ``BaseAccount``, with the chain calls added).

    Both generations sign in one step of the flow: the passkey is asked for an assertion the way the account
    class was built to ask (blocking or awaited), so the same methods exist on the ``Async`` classes as
    coroutines.
    """

    @property
    def address(self) -> str:
        """The account address (checksummed)."""
        ...

    @property
    def chain_id(self) -> int:
        """The chain the account lives on."""
        ...

    def is_deployed(self) -> bool:
        """Whether the account has code on chain."""
        ...

    def get_balance(self) -> int:
        """The account's balance in wei."""
        ...

    def get_nonce(self) -> int:
        """The account's next nonce (Era: the transaction count; ERC-4337: the EntryPoint nonce of key 0)."""
        ...

    def send(self, to: str, value: int = 0, data: bytes = b"", *, timeout: float = 60.0) -> Receipt:
        """Run one call from the account, signed by the passkey; wait for its successful receipt."""
        ...

    def send_calls(self, calls: Sequence[Call], *, timeout: float = 60.0) -> Receipt:
        """Run several calls from the account in one transaction or UserOperation."""
        ...

    def sign_message(self, signable_message: SignableMessage | bytes | str) -> PasskeySignedMessage:
        """ERC-1271 signature of an eth-account ``SignableMessage`` or an EIP-191 message (ERC-7739
        PersonalSign)."""
        ...

    def sign_typed_data(
        self,
        domain_data: Mapping[str, Any] | None = None,
        message_types: Mapping[str, Any] | None = None,
        message_data: Mapping[str, Any] | None = None,
        full_message: Mapping[str, Any] | None = None,
    ) -> PasskeySignedMessage:
        """ERC-1271 signature of EIP-712 typed data (ERC-7739 TypedDataSign), spelled as eth-account does."""
        ...

    def unsafe_sign_hash(self, message_hash: bytes) -> PasskeySignedMessage:
        """The account-level signature of a raw 32-byte hash (no ERC-7739 binding)."""
        ...

    def is_valid_signature(self, message_hash: bytes, signature: bytes) -> bool:
        """Ask the account (ERC-1271 ``isValidSignature``) whether ``signature`` fits ``message_hash``."""
        ...

    def add_passkey(
        self,
        credential_id: bytes,
        public_key: P256PublicKey | tuple[int, int],
        origin: str,
        *,
        timeout: float = 60.0,
    ) -> Receipt:
        """Register another passkey on the account."""
        ...

    def remove_passkey(
        self, credential_id: bytes, origin: str, *, force: bool = False, timeout: float = 60.0
    ) -> Receipt:
        """Remove a passkey; refused when it is the account's last way in unless ``force``."""
        ...

    def list_passkeys(self) -> list[PasskeyInitData]:
        """The passkeys registered to the account, in registration order."""
        ...


def validator_answer(types: Sequence[str], answer: bytes, what: str) -> tuple[Any, ...]:
    """A validator's ``eth_call`` answer to ``what``, ABI-decoded as ``types``.

    Raises:
        RemoteError (``UNEXPECTED_VALIDATOR_ANSWER``): If it does not decode (not the contract expected).
    """
    try:
        return tuple(abi_decode(list(types), answer))
    except (DecodingError, ValueError, OverflowError) as exc:
        raise RemoteError(
            f"{what} answered {answer.hex()!r}", rule=ErrorCode.UNEXPECTED_VALIDATOR_ANSWER
        ) from exc


def registered_passkeys(logs: Sequence[Any]) -> list[tuple[str, bytes]]:
    """Replay ``PasskeyCreated`` / ``PasskeyRemoved`` logs (chain order): the (origin, credential id) pairs
    still registered, in registration order."""
    keys: dict[tuple[str, bytes], None] = {}
    for log in logs:
        # A node's answer may hold other logs, even ones without topics: only the two events count.
        if log.topics[:1] not in ((PASSKEY_CREATED_TOPIC,), (PASSKEY_REMOVED_TOPIC,)):
            continue
        try:
            origin, credential = abi_decode(["string", "bytes"], log.data)
        except (DecodingError, ValueError, OverflowError, UnicodeDecodeError):
            continue
        key = (str(origin), bytes(credential))
        keys.pop(key, None)
        if log.topics[0] == PASSKEY_CREATED_TOPIC:
            keys[key] = None
    return list(keys)


def passkey_logs_flow(validator: str, account: str) -> Flow[list[Any]]:
    """The validator's ``PasskeyCreated`` / ``PasskeyRemoved`` logs for ``account``, from the earliest block.

    Raises:
        RpcError: If the node refuses the query (some cap the block range).
    """
    owner_topic = bytes(12) + bytes.fromhex(checksum_address(account, field="account")[2:])
    logs = yield from _EthMethods.get_logs.flow(
        ETH_FLOWS,
        address=checksum_address(validator, field="validator"),
        topics=[[PASSKEY_CREATED_TOPIC, PASSKEY_REMOVED_TOPIC], owner_topic],
    )
    return list(logs)


def account_key_flow(
    validator: str, origin: str, credential_id: bytes, account: str
) -> Flow[tuple[int, int] | None]:
    """``getAccountKey(origin, credentialId, account)``: the stored ``(x, y)``, ``(0, 0)`` if none is stored,
    ``None`` when the answer does not decode (not a WebAuthn validator)."""
    data = abi_call(
        "getAccountKey",
        ["string", "bytes", "address"],
        [origin, bytes(credential_id), checksum_address(account, field="account")],
    )
    answer = yield from _EthMethods.call.flow(
        ETH_FLOWS, {"to": checksum_address(validator, field="validator"), "data": data}
    )
    try:
        ((x, y),) = abi_decode(["bytes32[2]"], answer)
    except (DecodingError, ValueError, OverflowError):
        return None
    return int.from_bytes(x, "big"), int.from_bytes(y, "big")


class AccountMethods(MessageMethods):
    """The methods both generations share, written once as flows: state reads, message signing
    (:class:`MessageMethods`), ERC-1271, the passkey list."""

    signer: PasskeySigner

    @property
    def address(self) -> str:
        """The account address (checksummed)."""
        return self.signer.address

    @property
    def chain_id(self) -> int:
        """The chain the account lives on."""
        return self.signer.chain_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address}, chain {self.chain_id})"

    @flow_method
    def is_deployed(self) -> Flow[bool]:
        """Whether the account has code on chain (always asks the node)."""
        return bool((yield from _EthMethods.get_code.flow(ETH_FLOWS, self.address)))

    @flow_method
    def get_balance(self) -> Flow[int]:
        """The account's balance in wei."""
        return (yield from _EthMethods.get_balance.flow(ETH_FLOWS, self.address))

    @flow_method
    def is_valid_signature(self, message_hash: bytes, signature: bytes) -> Flow[bool]:
        """Ask the account (``isValidSignature`` by ``eth_call``) whether ``signature`` fits ``message_hash``.

        An invalid signature may make the account revert instead of returning ``0xffffffff`` (solady's
        off-chain path at gas price 0, an uninstalled validator): both count as invalid.

        Raises:
            NotFound (``ACCOUNT_NOT_DEPLOYED``): If the account has no code.
        """
        if not (yield from _EthMethods.get_code.flow(ETH_FLOWS, self.address)):
            raise NotFound(
                f"{self.address} has no code; ERC-1271 needs a deployed account",
                rule=ErrorCode.ACCOUNT_NOT_DEPLOYED,
            )
        data = abi_call("isValidSignature", ["bytes32", "bytes"], [bytes(message_hash), bytes(signature)])
        try:
            result = yield from _EthMethods.call.flow(ETH_FLOWS, {"to": self.address, "data": data})
        except ExecutionReverted:
            return False
        return result[:4] == _ERC1271_MAGIC

    @flow_method
    def list_passkeys(self) -> Flow[list[PasskeyInitData]]:
        """The passkeys registered to the account on its validator (both generations' validators emit the same
        events and answer ``getAccountKey``): replayed from the validator's events, each key read from it.

        Raises:
            RpcError: If the node refuses the log query from the earliest block.
        """
        validator, found = self.signer.validator, []
        for origin, credential_id in registered_passkeys(
            (yield from passkey_logs_flow(validator, self.address))
        ):
            key = yield from account_key_flow(validator, origin, credential_id, self.address)
            if key is not None and key != (0, 0):  # else an event the validator no longer backs
                found.append(PasskeyInitData(credential_id, key[0], key[1], origin))
        return found
