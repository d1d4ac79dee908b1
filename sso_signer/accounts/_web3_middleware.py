"""A web3.py middleware that sends ``w3.eth.send_transaction`` from passkey accounts.

eth-account's ``SignAndSendRawMiddlewareBuilder`` turns ``eth_sendTransaction`` from a local key into
``eth_sendRawTransaction``; :class:`PasskeyMiddlewareBuilder` does the same for passkey accounts:

* **Era** (``EraAccount`` / ``AsyncEraAccount``): the dict is filled as the account's ``sign_transaction``
  fills it (nonce, fees, gas covering WebAuthn validation, ``gasPerPubdata``, the builder's paymaster when
  the dict names none), signed with the passkey, and sent as the raw 0x71 bytes through the same ``w3``; the
  answer is the node's transaction hash. A node's refusal comes back as web3.py raises it for any account
  (``Web3RPCError``); a transport failure after the bytes left raises ``SendOutcomeUnknown`` carrying them.
* **ERC-4337** (``Erc4337Account`` / ``AsyncErc4337Account``): there is no transaction to send. The dict's
  call runs as a UserOperation through the account's bundler, and the answer, once the op is included, is
  the hash of the bundle transaction that carried it (so ``w3.eth.wait_for_transaction_receipt`` works; that
  receipt's ``from`` is the bundler). ``send_transaction`` therefore returns only after inclusion.

Requests from any other address, and every other method, pass through untouched.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from web3.middleware.base import Web3MiddlewareBuilder
from web3.types import RPCEndpoint

from sso_signer._shell import AsyncShell, drive, drive_async
from sso_signer.accounts._era import AsyncEraAccount, EraAccount, _EraMethods, prepare_era_transaction_flow
from sso_signer.accounts._erc4337 import AsyncErc4337Account, Erc4337Account, _Erc4337Methods
from sso_signer.accounts._web3_tx import Erc4337Request, era_transaction_flow, read_erc4337_transaction
from sso_signer.exceptions import (
    ConfigurationError,
    ErrorCode,
    InvalidTransaction,
    SendOutcomeUnknown,
    SsoSignerError,
)
from sso_signer.sso._signature import checksum_address
from sso_signer.zksync import PaymasterParams

if TYPE_CHECKING:
    from web3 import AsyncWeb3, Web3
    from web3.middleware.base import Middleware
    from web3.types import (
        AsyncMakeRequestFn,
        MakeRequestFn,
        RPCResponse,
    )

__all__ = ["PasskeyMiddlewareBuilder"]

_SEND: Final = "eth_sendTransaction"
_RAW: Final = "eth_sendRawTransaction"
_ESTIMATE: Final = "eth_estimateGas"
_ACCOUNT_TYPES: Final = (EraAccount, AsyncEraAccount, Erc4337Account, AsyncErc4337Account)
_PAYMASTER_KEYS: Final = ("paymaster", "paymasterInput", "paymasterParams")

Account = EraAccount | AsyncEraAccount | Erc4337Account | AsyncErc4337Account


def _accounts(value: Account | Iterable[Account]) -> dict[str, Account]:
    given = (
        [value] if isinstance(value, _ACCOUNT_TYPES) else list(value) if isinstance(value, Iterable) else []
    )
    if not given or not all(isinstance(account, _ACCOUNT_TYPES) for account in given):
        raise ConfigurationError(
            "PasskeyMiddlewareBuilder.build: expected an Era or ERC-4337 passkey account (or several)",
            rule=ErrorCode.SIGNER_CONFIGURATION,
        )
    return {account.address: account for account in given}


def _names_paymaster(tx: Mapping[str, Any]) -> bool:
    """Whether the dict says who pays, at the top level or where ZKsync libraries nest it."""
    nests = [tx] + [tx[key] for key in ("customData", "eip712Meta") if isinstance(tx.get(key), Mapping)]
    return any(nest.get(key) is not None for nest in nests for key in _PAYMASTER_KEYS)


#: Ids of the answers the middleware gives itself (web3.py checks that an answer has one).
_ANSWER_IDS: Final = itertools.count(1)


def _answer(result: str) -> RPCResponse:
    return {"jsonrpc": "2.0", "id": next(_ANSWER_IDS), "result": result}


class PasskeyMiddlewareBuilder(Web3MiddlewareBuilder):
    """web3.py middleware: ``w3.eth.send_transaction`` from a passkey account signs with the passkey.

    ::

        w3.middleware_onion.inject(PasskeyMiddlewareBuilder.build(account), layer=0)
        tx_hash = w3.eth.send_transaction({"from": account.address, "to": to, "value": 10**15})

    Works on ``Web3`` (with a sync account) and on ``AsyncWeb3`` (with an async account, or a sync one run
    in a worker thread). See the module docstring for what each account kind does; ``docs/web3.md``.
    """

    accounts: dict[str, Account]
    paymaster: PaymasterParams | None

    @staticmethod
    def build(  # type: ignore[override]  # web3's builders curry the Web3 in; this one returns the factory
        accounts: Account | Iterable[Account], *, paymaster: PaymasterParams | None = None
    ) -> Middleware:
        """The middleware for ``w3.middleware_onion.inject(..., layer=0)``.

        Args:
            accounts: The passkey account(s) whose ``from`` address the middleware signs for.
            paymaster: Paymaster parameters for Era transactions whose dict names no paymaster.

        Raises:
            ConfigurationError (``SIGNER_CONFIGURATION``): If ``accounts`` holds no passkey account.
        """
        known = _accounts(accounts)
        if paymaster is not None and not isinstance(paymaster, PaymasterParams):
            raise ConfigurationError(
                "paymaster: expected PaymasterParams", rule=ErrorCode.SIGNER_CONFIGURATION
            )

        def middleware(w3: Web3 | AsyncWeb3[Any]) -> PasskeyMiddlewareBuilder:
            built = PasskeyMiddlewareBuilder(w3)
            built.accounts = known
            built.paymaster = paymaster
            return built

        # web3.py types the onion's entries as middleware classes; it only ever calls them with the Web3.
        return cast("Middleware", middleware)

    def _account(self, method: str, params: Any) -> tuple[Account, dict[str, Any]] | None:
        if method not in (_SEND, _ESTIMATE) or not isinstance(params, list | tuple) or not params:
            return None
        tx = params[0]
        if not isinstance(tx, Mapping) or not isinstance(tx.get("from"), str):
            return None
        try:
            sender = checksum_address(tx["from"], field="from")
        except SsoSignerError:
            return None  # not an address this middleware knows: the node answers it
        account = self.accounts.get(sender)
        if account is None or (method == _ESTIMATE and not isinstance(account, EraAccount | AsyncEraAccount)):
            return None
        fields = dict(tx)
        if (
            self.paymaster is not None
            and isinstance(account, EraAccount | AsyncEraAccount)
            and not _names_paymaster(fields)
        ):
            fields["paymasterParams"] = {
                "paymaster": self.paymaster.paymaster,
                "paymasterInput": self.paymaster.paymaster_input,
            }
        return account, fields

    def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
        def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
            found = self._account(method, params)
            if found is None:
                return make_request(method, params)
            account, tx = found
            if isinstance(account, AsyncShell):
                raise ConfigurationError(
                    f"{type(account).__name__} is async: use it with AsyncWeb3 (or a sync account with Web3)",
                    rule=ErrorCode.SIGNER_CONFIGURATION,
                )

            def handle(step: Any) -> Any:
                if isinstance(step, _RawSend):
                    return make_request(RPCEndpoint(_RAW), [step.raw])
                return account.answer(step)

            answer: RPCResponse = drive(_send_flow(account, method, tx), handle)
            return answer

        return middleware

    async def async_wrap_make_request(self, make_request: AsyncMakeRequestFn) -> AsyncMakeRequestFn:
        async def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
            found = self._account(method, params)
            if found is None:
                return await make_request(method, params)
            account, tx = found

            async def handle(step: Any) -> Any:
                if isinstance(step, _RawSend):
                    return await make_request(RPCEndpoint(_RAW), [step.raw])
                if isinstance(account, AsyncShell):
                    return await account.answer(step)
                # A sync account's blocking passkey prompt must not stall the event loop.
                return await asyncio.to_thread(account.answer, step)

            answer: RPCResponse = await drive_async(_send_flow(account, method, tx), handle)
            return answer

        return middleware


@dataclass(frozen=True, slots=True)
class _RawSend:
    """The flow's one step outside the account: ``eth_sendRawTransaction`` through the middleware's ``w3``."""

    raw: str


def _send_flow(account: Any, method: str, tx: Mapping[str, Any]) -> Generator[Any, Any, RPCResponse]:
    """The middleware's answer to ``eth_estimateGas`` / ``eth_sendTransaction`` from ``account``, as a flow
    of the account's steps and one :class:`_RawSend`."""
    if method == _ESTIMATE:
        # The node's estimate of the 0x71 form plus WebAuthn validation (what sign_transaction fills), so
        # web3.py's gas-estimate middleware gets it right.
        fields = {key: value for key, value in tx.items() if key not in ("gas", "nonce")}
        transaction = yield from era_transaction_flow(account.signer, fields, prepare_era_transaction_flow)
        return _answer(hex(transaction.gas_limit))
    era = isinstance(account, EraAccount | AsyncEraAccount)  # a flag: `account` stays Any for the flows
    if era:
        signed = yield from _EraMethods.sign_transaction.flow(account, tx)
        raw = bytes(signed.raw_transaction)
        try:
            result: RPCResponse = yield _RawSend("0x" + raw.hex())
        except Exception as exc:
            raise _lost(signed.hash, raw, exc) from exc
        return result
    request = _user_operation(tx, account)
    receipt = yield from _Erc4337Methods.send_calls.flow(account, [request.call], **request.build)
    return _answer("0x" + bytes(receipt.receipt.transaction_hash).hex())


def _user_operation(tx: Mapping[str, Any], account: Erc4337Account | AsyncErc4337Account) -> Erc4337Request:
    # web3.py's gas-estimate middleware puts a `gas` in every send; a UserOperation's limits come from the
    # bundler's estimate instead.
    tx = {key: value for key, value in tx.items() if key != "gas"}
    request = read_erc4337_transaction(tx, account.signer)
    if request.nonce is not None:
        raise InvalidTransaction(
            "nonce: send_transaction from an ERC-4337 account uses the account's next EntryPoint nonce; to "
            "choose one, sign with account.sign_transaction and send it with send_user_operation",
            rule=ErrorCode.UNSUPPORTED_TRANSACTION_FIELD,
        )
    return request


def _lost(tx_hash: bytes, raw: bytes, exc: Exception) -> SendOutcomeUnknown:
    return SendOutcomeUnknown(
        f"eth_sendRawTransaction of 0x{bytes(tx_hash).hex()} failed after the bytes left: "
        f"{type(exc).__name__}: {exc}; poll the hash or re-send raw_transaction, never sign again",
        tx_hash=bytes(tx_hash),
        raw_transaction=raw,
    )
