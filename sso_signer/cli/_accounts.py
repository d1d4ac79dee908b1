"""The one place of the CLI that knows there are two SSO account generations (``--kind era|erc4337``).

:func:`open_account` turns the options (deployment / network, ``--kind``, ``--address``, ``--bundler``,
``--store``, ``--paymaster``) and the passkey into one object with the account interface
(:class:`PasskeyAccount`); the commands use only that interface. :func:`create_account` creates either kind.

Finding "the account of this passkey":

* ERC-4337: the ``WebAuthnValidator`` lists the accounts a passkey is registered to
  (``getAccountList(origin, credentialId)``); an account not created yet is the counterfactual one, whose
  address ``EntryPoint.getSenderAddress`` computes from the deterministic salt of the credential id.
* Era: ``WebAuthValidator.registeredAddress(origin, credentialId)``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from sso_signer._codec import b64url_encode
from sso_signer.accounts import (
    CeremonyAssertionProvider,
    EraAccount,
    EraNetwork,
    Erc4337Account,
    Guardian,
    MsaDeployment,
)
from sso_signer.accounts._base import PASSKEY_REMOVED_TOPIC
from sso_signer.accounts._era import (
    EraSendPlan,
    add_passkey_calldata,
    create_era_account,
    find_account,
    get_account_key,
    remove_passkey_calldata,
)
from sso_signer.cli._ceremony import headless_browser
from sso_signer.cli._context import ChainContext, format_ether, resolve_deployer, store_at
from sso_signer.cli._parser import ENV_BUNDLER
from sso_signer.erc4337 import BundlerClient, UserOperationReceipt
from sso_signer.exceptions import (
    CliUsageError,
    ConfigurationError,
    EntryPointError,
    ErrorCode,
    InsufficientBalance,
    NotFound,
    RpcError,
    SsoSignerError,
    StateError,
    TransactionRejected,
    UserOperationRejected,
    VerificationError,
)
from sso_signer.rpc import EthClient, Receipt
from sso_signer.sso import GuardianExecutor, RecoveryRequest, account_salt
from sso_signer.sso._era_guardian import EraRecoveryRequest
from sso_signer.sso._owner import ERC4337_MAX_ORIGIN_LENGTH
from sso_signer.sso._signature import checksum_address
from sso_signer.webauthn import HeadlessPasskey, RelyingParty
from sso_signer.zksync import Eip712Transaction, PaymasterParams

__all__ = [
    "CliAccount",
    "PendingRecovery",
    "RecoveryGuardian",
    "create_account",
    "era_funds_error",
    "open_account",
    "open_erc4337_account",
    "open_guardian",
    "open_session_account",
    "send_report",
    "sign_only",
]

_GET_ACCOUNT_LIST = bytes(keccak(text="getAccountList(string,bytes)"))[:4]


def counterfactual_salt(credential_id: bytes) -> bytes:
    """The salt ``account create`` uses: the official SDK's user-id salt of the base64url credential id.

    Deterministic, so the counterfactual address can be recomputed by any later command.
    """
    return bytes(account_salt(b64url_encode(bytes(credential_id))))


def _removed_key(passkey: Any, accounts: list[str]) -> NotFound:
    named = ", ".join(accounts)
    return NotFound(
        f"passkey {b64url_encode(passkey.credential_id)} at {passkey.origin} is not among the owners of "
        f"{named}: it was removed from {'that account' if len(accounts) == 1 else 'those accounts'}, so "
        "the key file no longer controls it. Sign with one of its remaining passkeys, or pass --address "
        "ACCOUNT for an account this passkey still controls; no new account is computed for it",
        rule=ErrorCode.ACCOUNT_NOT_FOUND,
    )


def accounts_that_removed(eth: EthClient, validator: str, origin: str, credential_id: bytes) -> list[str]:
    """The accounts that removed the passkey ``(origin, credential_id)`` and do not list it again.

    Read from the validator's ``PasskeyRemoved`` events (both SSO validators emit it) from the earliest block.
    A node that refuses so wide a log query yields ``[]``: this is a guard, not the source of truth.
    """
    try:
        logs = eth.get_logs(address=validator, topics=[PASSKEY_REMOVED_TOPIC])
    except RpcError:
        return []
    accounts: list[str] = []
    for log in logs:
        try:
            logged_origin, logged_id = abi_decode(["string", "bytes"], log.data)
        except (DecodingError, ValueError, OverflowError, UnicodeDecodeError):
            continue
        if logged_origin != origin or bytes(logged_id) != bytes(credential_id) or len(log.topics) < 2:
            continue
        account = checksum_address("0x" + log.topics[1][-20:].hex())
        if account in accounts:
            continue
        try:
            still = get_account_key(eth, validator, origin, credential_id, account)
        except SsoSignerError:
            still = None
        if still is None:
            accounts.append(account)
    return accounts


def require_zksync_node(eth: EthClient) -> None:
    """Check that the node speaks the ``zks_`` namespace before anything is signed for it.

    Raises:
        ConfigurationError (``ERA_NEEDS_ZKSYNC_NODE``): If ``zks_L1ChainId`` is unknown to the node (plain
            anvil, an L1).
    """
    try:
        eth.rpc.request("zks_L1ChainId")
    except RpcError as exc:
        raise ConfigurationError(
            "this node is not a ZKsync node (zks_L1ChainId failed): Era 0x71 transactions need anvil-zksync "
            "or ZKsync Era; on plain anvil use the ERC-4337 account (--kind erc4337)",
            rule=ErrorCode.ERA_NEEDS_ZKSYNC_NODE,
        ) from exc


@contextlib.contextmanager
def prefund_explained(
    account: EraAccount | Erc4337Account, calls: Sequence[tuple[str, int, bytes]]
) -> Iterator[None]:
    """Turn a bundler's bare ``AA21 didn't pay prefund`` into how much is there and how much is needed
    (an Era account checks its funds before signing: nothing to explain).

    Raises:
        InsufficientBalance: In place of ``UserOperationRejected`` (``ErrorCode.INSUFFICIENT_PREFUND``) raised
            inside the block.
    """
    try:
        yield
    except UserOperationRejected as exc:
        if exc.rule is not ErrorCode.INSUFFICIENT_PREFUND or not isinstance(account, Erc4337Account):
            raise
        raise insufficient_prefund(account, calls, exc) from exc


def insufficient_prefund(
    account: Erc4337Account, calls: Sequence[tuple[str, int, bytes]], cause: Exception
) -> InsufficientBalance:
    """The balance, the EntryPoint deposit and the operation's maximum cost, as an ``InsufficientBalance``.

    The maximum cost (what the EntryPoint takes as prefund) is the sum of the gas limits times
    ``maxFeePerGas``; the limits come from an estimate run as if the account were funded (a state override),
    since the real estimate is what failed.
    """
    address = account.address
    balance = account.eth.get_balance(address)
    try:
        deposit = account.entry_point.balance_of(address)
    except SsoSignerError:
        deposit = 0
    value = sum(int(call[1]) for call in calls)
    try:
        zero = {"call_gas_limit": 0, "verification_gas_limit": 0, "pre_verification_gas": 0}
        draft = account.build_user_operation(list(calls), gas=zero)
        estimate = account.bundler.estimate_user_operation_gas(
            draft.replace(signature=account.stub_signature()),
            state_override={address: {"balance": hex(10**30)}},
        )
        op = estimate.apply(draft)
    except SsoSignerError:  # the bundler cannot say either: report what is known
        return InsufficientBalance(
            f"{address} cannot pay for the UserOperation (AA21: {cause}): it holds {format_ether(balance)} "
            f"and an EntryPoint deposit of {format_ether(deposit)}; the operation needs its maximum gas cost "
            f"plus {format_ether(value)} sent. Fund it: send ETH to {address} (or depositTo it on the "
            "EntryPoint)",
            account=address,
            required=value,
            available=balance,
        )
    prefund = op.required_prefund
    gas = prefund // op.max_fee_per_gas if op.max_fee_per_gas else 0
    detail = f" ({gas} gas of limits × maxFeePerGas {op.max_fee_per_gas} wei)"
    required = max(prefund - deposit, 0) + value
    return InsufficientBalance(
        f"{address} cannot pay for the UserOperation: it holds {format_ether(balance)} (EntryPoint deposit "
        f"{format_ether(deposit)}) and the operation needs {format_ether(required)}: a prefund of up to "
        f"{format_ether(prefund)}{detail} plus {format_ether(value)} sent. Fund it with at least "
        f"{format_ether(max(required - balance, 0))}: send ETH to {address} (or depositTo it on the "
        "EntryPoint)",
        account=address,
        required=required,
        available=balance,
    )


# --- the builder ------------------------------------------------------------------------------------------

Progress = Callable[[str], None]


def _kind(args: argparse.Namespace, ctx: ChainContext) -> str:
    """``--kind``; ``auto`` is ERC-4337 when the deployment has that stack and no ``--network`` is given."""
    if args.kind != "auto":
        return str(args.kind)
    erc4337 = ctx.deployment is not None and ctx.deployment.erc4337 is not None
    return "erc4337" if erc4337 and not getattr(args, "network", None) else "era"


class CliAccount:
    """The passkey's account as the commands use it: the SDK account (a :class:`PasskeyAccount`), with the
    command line's progress lines and its explanation of a refusal for lack of funds around each send. For
    the ``guardian``/``recover`` commands it is one shape over the ERC-4337 ``GuardianExecutor``
    (UserOperations) and the Era ``GuardianRecoveryValidator`` (0x71 transactions, scoped by the passkey's
    origin).

    Args:
        account: The SDK account.
        progress: Called with a line per step of a send.
        paymaster: An Era general-flow paymaster that pays the fees (Era only).
    """

    def __init__(
        self, account: EraAccount | Erc4337Account, progress: Progress, paymaster: PaymasterParams | None
    ) -> None:
        self.account = account
        self.progress = progress
        self.paymaster = paymaster
        era = isinstance(account, EraAccount)
        #: ``"era"`` / ``"erc4337"`` (reported, never branched on by a command).
        self.kind = "era" if era else "erc4337"
        #: What each change is sent as, and the recovery module's name, for the progress lines.
        self.carrier = "0x71 transaction" if era else "UserOperation"
        self.module = "the GuardianRecoveryValidator" if era else "the GuardianExecutor module"

    @property
    def address(self) -> str:
        """The account address."""
        return self.account.address

    def is_deployed(self) -> bool:
        """Whether the account has code."""
        return self.account.is_deployed()

    def get_balance(self) -> int:
        """The balance in wei."""
        return self.account.get_balance()

    def sign_message(self, message: bytes | str) -> bytes:
        """ERC-1271 signature of an EIP-191 message."""
        return self.account.sign_message(message)

    def signed_era_transaction(
        self, to: str, value: int, data: bytes
    ) -> tuple[Eip712Transaction, EraSendPlan, Eip712Transaction]:
        """Prepare and sign (preflighted) a 0x71 transaction: ``(unsigned, plan, signed)``.

        Raises:
            CliUsageError: For an ERC-4337 account.
        """
        if not isinstance(self.account, EraAccount):
            raise CliUsageError("--sign-only: Era (0x71) accounts only")
        plan = self.account.prepare(to, value, data, paymaster=self.paymaster)
        tx = plan.transaction
        self.progress(
            f"0x71 transaction from {self.address}: nonce {tx.nonce}, gas {tx.gas_limit} "
            f"(node {plan.node_estimate} + WebAuthn {plan.validation_gas}), maxFee {tx.max_fee_per_gas}"
        )
        signed = self.account.sign_transaction(tx)
        self.progress("signed with the passkey, preflight passed")
        return tx, plan, signed

    def send(
        self, to: str, value: int = 0, data: bytes = b"", *, timeout: float = 60.0
    ) -> Receipt | UserOperationReceipt:
        """Run one call from the account and wait for its receipt (see :meth:`PasskeyAccount.send`)."""
        if isinstance(self.account, EraAccount):
            tx, _, signed = self.signed_era_transaction(to, value, data)
            try:
                return self.account.send_transaction(signed, timeout=timeout)
            except TransactionRejected as exc:
                raise era_funds_error(
                    self.account.client, self.address, tx, value, self.paymaster is not None, exc
                ) from exc
        self.progress(
            f"UserOperation from {self.address}" + ("" if self.is_deployed() else " (creates the account)")
        )
        with prefund_explained(self.account, [(to, value, data)]):
            return self.account.send(to, value, data, timeout=timeout)

    def add_passkey(
        self, credential_id: bytes, public_key: Any, origin: str, *, timeout: float = 60.0
    ) -> Receipt | UserOperationReceipt:
        """Register another passkey (see :meth:`PasskeyAccount.add_passkey`)."""
        # Only an ERC-4337 account is explained: encode the call as it sends it (its origin limit, not Era's).
        call = add_passkey_calldata(
            credential_id, public_key, origin, max_origin_length=ERC4337_MAX_ORIGIN_LENGTH
        )
        with self._explained(call):
            return self.account.add_passkey(credential_id, public_key, origin, timeout=timeout)

    def remove_passkey(
        self, credential_id: bytes, origin: str, *, force: bool = False, timeout: float = 60.0
    ) -> Receipt | UserOperationReceipt:
        """Remove a passkey (see :meth:`PasskeyAccount.remove_passkey`)."""
        with self._explained(remove_passkey_calldata(credential_id, origin)):
            return self.account.remove_passkey(credential_id, origin, force=force, timeout=timeout)

    def _explained(self, validator_call: bytes) -> contextlib.AbstractContextManager[None]:
        # An ERC-4337 bundler's bare AA21 becomes what the account holds and needs; Era checks before signing.
        if isinstance(self.account, Erc4337Account):
            return prefund_explained(
                self.account, [(self.account.deployment.webauthn_validator, 0, validator_call)]
            )
        return contextlib.nullcontext()

    def module_installed(self) -> bool:
        """Whether the account has the recovery module installed."""
        if isinstance(self.account, EraAccount):
            return self.account.recovery_module_installed()
        return self.account.guardian_module_installed()

    def guardians(self) -> list[tuple[str, bool]]:
        """``(address, accepted)`` of each guardian the account proposed (Era: for its passkey's origin)."""
        if isinstance(self.account, EraAccount):
            return [(entry.address, entry.is_ready) for entry in self.account.list_guardians()]
        return [(address, status.is_active) for address, status in self.account.list_guardians().items()]

    def pending_recovery(self) -> PendingRecovery:
        """The account's pending recovery (Era: for its passkey's origin)."""
        return _pending(self.account.pending_recovery())

    def propose_guardian(self, guardian: str, *, timeout: float) -> Receipt | UserOperationReceipt:
        """Propose ``guardian``, installing the module in the same operation when the account lacks it."""
        with prefund_explained(self.account, []):
            return self.account.propose_guardian(guardian, timeout=timeout)

    def remove_guardian(self, guardian: str, *, timeout: float) -> Receipt | UserOperationReceipt:
        """Remove ``guardian`` (an accepted one's pending recovery is discarded too)."""
        with prefund_explained(self.account, []):
            return self.account.remove_guardian(guardian, timeout=timeout)

    def discard_recovery(self, *, timeout: float) -> Receipt | UserOperationReceipt:
        """Discard the pending recovery."""
        with prefund_explained(self.account, []):
            return self.account.discard_recovery(timeout=timeout)


def open_account(
    args: argparse.Namespace,
    ctx: ChainContext,
    passkey: HeadlessPasskey,
    *,
    executes: bool,
    progress: Progress = lambda _message: None,
) -> tuple[str, CliAccount]:
    """The passkey's account (``--address``, else the one the passkey is registered to), of the ``--kind``.

    Args:
        args: The command's options (``--kind``, ``--address``, ``--bundler``, ``--store``, ``--paymaster``).
        ctx: The chain, deployment and Era network.
        passkey: The signing passkey.
        executes: The command sends something: an Era account then needs a ZKsync node, an ERC-4337 account
            a bundler (checked before any signing).
        progress: Called with a line per step of a send.

    Returns:
        ``(kind, account)``: the kind (``"era"`` / ``"erc4337"``) is reported in the output, never branched on
        by a command.

    Raises:
        CliUsageError: ``--paymaster`` or ``--sign-only`` with an ERC-4337 account.
        ConfigurationError (``ERA_NEEDS_ZKSYNC_NODE``, ``MISSING_BUNDLER_URL``, ``MISSING_CONTRACT_ADDRESS``,
            ``INVALID_DEPLOYMENT``): Missing setup.
        NotFound (``ACCOUNT_NOT_FOUND``): The passkey is registered to no account (or was removed from it).
    """
    paymaster = getattr(args, "paymaster", None)
    kind = _kind(args, ctx)
    era_only = "--paymaster" if paymaster else "--sign-only" if getattr(args, "sign_only", False) else None
    if kind != "era" and era_only:
        # Before any chain work: an ERC-4337 account would send a UserOperation regardless, and pay for it.
        raise CliUsageError(f"{era_only}: Era (0x71) accounts only; this is an ERC-4337 account (--kind)")
    if kind == "era":
        if executes:
            require_zksync_node(ctx.client)
        params = (
            PaymasterParams.general(checksum_address(paymaster, field="--paymaster")) if paymaster else None
        )
        return kind, CliAccount(_era_account(args, ctx, passkey), progress, params)
    return kind, CliAccount(_msa(args, ctx, passkey, args.address, need_bundler=executes), progress, None)


@dataclass(frozen=True, slots=True)
class PendingRecovery:
    """An account's pending guardian recovery as the commands report it, whichever the generation.

    Attributes:
        exists: A request is stored.
        kind: What it adds (``"passkey"``, ``"eoa"``).
        started_at: The block time the guardian started it.
        finalizable_from: The first block time at which it may be finished.
        expires_at: The first block time at which it may no longer be finished.
    """

    exists: bool
    kind: str = "none"
    started_at: int = 0
    finalizable_from: int = 0
    expires_at: int = 0

    def finalizable_at(self, now: int) -> bool:
        """Whether a block with timestamp ``now`` may finish it."""
        return self.exists and self.finalizable_from <= now < self.expires_at


def _pending(request: RecoveryRequest | EraRecoveryRequest) -> PendingRecovery:
    if not request.exists or (isinstance(request, EraRecoveryRequest) and request.fulfilled):
        return PendingRecovery(False)  # a fulfilled Era request stays stored but can do nothing more
    if isinstance(request, EraRecoveryRequest):
        # The Era module's window includes its last second; the report's bound is the first second after it.
        return PendingRecovery(
            True, "passkey", request.timestamp, request.earliest_finish, request.expires_at + 1
        )
    return PendingRecovery(
        True,
        request.recovery_type.name.lower(),
        request.timestamp,
        request.earliest_finalize,
        request.expires_at,
    )


class RecoveryGuardian:
    """A guardian's EOA key as the ``guardian``/``recover`` commands use it, over both generations.

    An ERC-4337 guardian talks to the deployment's ``GuardianExecutor``; an Era guardian to the network's
    ``GuardianRecoveryValidator``, scoped by an origin (``--origin``, else the new passkey's).

    Args:
        guardian: The SDK guardian.
        network: The Era network, or None for ERC-4337.
        origin: ``--origin``.
        payer: Who pays for ``finish`` (for the summary).
    """

    def __init__(
        self, guardian: Guardian, network: EraNetwork | None, origin: str | None, payer: str
    ) -> None:
        self.guardian = guardian
        self.network = network
        self.origin = origin
        self.payer = payer
        self.kind = "erc4337" if network is None else "era"

    @property
    def address(self) -> str:
        """The guardian's address."""
        return self.guardian.address

    def finisher(self, account: str) -> str:
        """Who sends the finishing transaction: the guardian key, or on Era the account itself."""
        return self.address if self.network is None else account

    def _era_origin(self, new: HeadlessPasskey | None = None) -> str:
        if new is not None:
            if self.origin is not None and self.origin != new.origin:
                raise CliUsageError(
                    f"--origin {self.origin}: the new passkey is for {new.origin} (the recovery's scope)"
                )
            return new.origin
        if self.origin is None:
            raise CliUsageError(
                "--origin ORIGIN: an Era account's guardians and recovery are scoped by the dapp's origin "
                "(the origin of the account's passkeys, e.g. https://app.example.org)"
            )
        return self.origin

    def accept(self, account: str, *, timeout: float) -> Receipt | None:
        """Accept the guardianship ``account`` proposed (None: it already was accepted; nothing sent)."""
        if self.network is None:
            return self.guardian.accept(account, timeout=timeout)
        return self.guardian.era_accept(self.network, account, self._era_origin(), timeout=timeout)

    def initiate_recovery(self, account: str, new: HeadlessPasskey, *, timeout: float) -> Receipt:
        """Ask that the passkey ``new`` be added to ``account`` after the delay."""
        if self.network is None:
            return self.guardian.initiate_recovery(
                account, new.credential_id, new.public_key, new.origin, timeout=timeout
            )
        return self.guardian.era_initiate_recovery(
            self.network, account, new.credential_id, new.public_key, self._era_origin(new), timeout=timeout
        )

    def pending_recovery(self, account: str, new: HeadlessPasskey | None = None) -> PendingRecovery:
        """``account``'s pending recovery (Era: for ``--origin``, else ``new``'s origin)."""
        if self.network is None:
            return _pending(self.guardian.pending_recovery(account))
        return _pending(self.guardian.era_pending_recovery(self.network, account, self._era_origin(new)))

    def finalize_recovery(self, account: str, new: HeadlessPasskey | None, *, timeout: float) -> Receipt:
        """Finish ``account``'s pending recovery once the delay has passed.

        ERC-4337: a transaction from the guardian key (the recovery data from ``new``, else the module's log).
        Era: the account's own unsigned 0x71, which needs ``new`` (the module keeps only hashes) and a ZKsync
        node; the module's refusals (too early, another passkey) come first.

        Raises:
            CliUsageError: Era without ``--new-key``.
            ConfigurationError (``ERA_NEEDS_ZKSYNC_NODE``): Era on a node without the ``zks_`` namespace.
        """
        if self.network is None:
            data = (
                None
                if new is None
                else GuardianExecutor.passkey_recovery_data(new.credential_id, new.public_key, new.origin)
            )
            return self.guardian.finalize_recovery(account, data, timeout=timeout)
        if new is None:
            raise CliUsageError(
                "--new-key FILE: finishing an Era recovery sends the new passkey's id and key, and the "
                "module keeps only their hash: pass the key file the recovery was started with"
            )
        origin = self._era_origin(new)
        transaction = self.guardian.era_recovery_transaction(
            self.network, account, new.credential_id, new.public_key, origin
        )
        require_zksync_node(self.guardian.eth)
        eth: EthClient = self.guardian.eth
        return eth.send_and_confirm(transaction.serialize(), timeout)


def open_guardian(
    args: argparse.Namespace, ctx: ChainContext, signer: LocalAccount | None, *, pays: bool = False
) -> RecoveryGuardian:
    """The guardian ``signer`` of the deployment's accounts (the ``guardian``/``recover`` commands).

    Era by ``--kind`` (``auto``: with ``--network``, or a deployment without an ERC-4337 stack). ``signer``
    None: the command only reads, or (``pays``) the deployer key pays an ERC-4337 ``finish``; the account
    pays an Era one.

    Raises:
        CliUsageError: ``--origin`` for an ERC-4337 account.
        ConfigurationError (``INVALID_DEPLOYMENT``, ``MISSING_CONTRACT_ADDRESS``): No deployment or network,
            or one without the recovery module.
    """
    origin = getattr(args, "origin", None)
    if _kind(args, ctx) == "era":
        network = ctx.require_era()
        if network.recovery_validator is None:
            raise ConfigurationError(
                f"the Era network {network.name!r} has no GuardianRecoveryValidator (recovery in the "
                "deployment JSON): guardian recovery needs the module",
                rule=ErrorCode.MISSING_CONTRACT_ADDRESS,
            )
        # Nothing an Era finish or a status signs: a throw-away key stands in when none is given.
        key = signer if signer is not None else Account.create()
        return RecoveryGuardian(Guardian(ctx.client, key), network, origin, "the account itself")
    if origin is not None:
        raise CliUsageError("--origin: Era accounts only (ERC-4337 guardians are not scoped by origin)")
    source = "the guardian key"
    if signer is None:
        signer, source = resolve_deployer(args, ctx.client.chain_id()) if pays else (Account.create(), "")
    return RecoveryGuardian(
        Guardian(ctx.client, signer, deployment=_require_erc4337(ctx)), None, None, source
    )


def open_erc4337_account(
    args: argparse.Namespace, ctx: ChainContext, passkey: HeadlessPasskey, *, executes: bool
) -> Erc4337Account:
    """The passkey's ERC-4337 account, for the commands only that generation has (sessions).

    Raises:
        CliUsageError: If ``--kind`` (or the deployment) makes it an Era account.
    """
    _sessions_deployment(args, ctx)
    return _msa(args, ctx, passkey, args.address, need_bundler=executes)


def _sessions_deployment(args: argparse.Namespace, ctx: ChainContext) -> MsaDeployment:
    if _kind(args, ctx) != "erc4337":
        raise CliUsageError(
            "sessions: ERC-4337 accounts only (a deployment with the ERC-4337 stack, or --kind erc4337)"
        )
    return _require_erc4337(ctx)


@dataclass(frozen=True, slots=True)
class _NoPasskey:
    """The passkey identity of an account opened without its passkey (a session send): nothing can sign
    with it, so an operation that needs the passkey is refused instead of prompting."""

    rp_id: str = ""
    credential_id: bytes = b""
    origin: str = ""


def open_session_account(args: argparse.Namespace, ctx: ChainContext, address: str) -> Erc4337Account:
    """The ERC-4337 account at ``address`` for a session send: no passkey file is read (the session key
    signs), so ``--key`` is not needed.

    Raises:
        CliUsageError: If ``--kind`` (or the deployment) makes it an Era account.
        ConfigurationError (``MISSING_BUNDLER_URL``, ``MISSING_CONTRACT_ADDRESS``): Missing setup.
    """
    deployment = _sessions_deployment(args, ctx)
    return Erc4337Account.at(
        address,
        deployment=deployment,
        eth=ctx.client,
        bundler=_bundler(args, ctx, deployment, required=True),
        credential=_NoPasskey(),
    )


def sign_only(account: CliAccount, to: str, value: int, data: bytes) -> tuple[dict[str, Any], str]:
    """``send --sign-only``: sign an Era 0x71 transaction, have the deployed validator check it, do not send.

    Any chain with the validator deployed can check the signature, ZKsync or not.

    Returns:
        ``(result fields, summary)``.

    Raises:
        CliUsageError: For an ERC-4337 account (:func:`open_account` refuses it first).
        VerificationError (``ERC1271_SIGNATURE_INVALID``): If the validator refuses the signature.
    """
    tx, plan, signed = account.signed_era_transaction(to, value, data)
    verdict = cast(EraAccount, account.account).verify_onchain(signed)
    if not verdict.valid:
        raise VerificationError(
            f"the Era validator refused the signature ({verdict.rule})",
            rule=ErrorCode.ERC1271_SIGNATURE_INVALID,
        )
    return {
        "kind": "era",
        "account": account.address,
        "signed_hash": verdict.signed_hash,
        "raw_transaction": signed.serialize(),
        "validator_verdict": verdict.rule,
        "gas_limit": tx.gas_limit,
        "validation_gas": plan.validation_gas,
    }, f"signed, not sent; the Era validator says {verdict.rule}"


def send_report(sent: Receipt | UserOperationReceipt) -> tuple[dict[str, Any], str]:
    """The fields and the summary ``send`` prints for what :meth:`CliAccount.send` returned.

    A UserOperation reports its hash, success and gas; a 0x71 transaction its block and gas.
    """
    if isinstance(sent, UserOperationReceipt):
        return {
            "user_operation": sent.user_op_hash,
            "transaction": sent.receipt.transaction_hash,
            "success": sent.success,
            "actual_gas_used": sent.actual_gas_used,
        }, f"executed in transaction 0x{sent.receipt.transaction_hash.hex()}"
    return {
        "transaction": sent.transaction_hash,
        "block": sent.block_number,
        "gas_used": sent.gas_used,
    }, f"sent in block {sent.block_number}"


def create_account(
    args: argparse.Namespace, ctx: ChainContext, passkey: HeadlessPasskey, progress: Progress
) -> tuple[dict[str, Any], str]:
    """Create the passkey's account: Era through the AAFactory; ERC-4337 through the MSAFactory, or only its
    counterfactual address (``--counterfactual``: its first UserOperation creates it).

    Returns:
        ``(result fields, summary)``.

    Raises:
        ConfigurationError (``MISSING_CONTRACT_ADDRESS``, ``ERA_NEEDS_ZKSYNC_NODE``, ``INVALID_DEPLOYMENT``,
            ``MISSING_DEPLOYER_KEY``): Missing setup.
    """
    chain_id = ctx.client.chain_id()
    if _kind(args, ctx) == "era":
        network = ctx.require_era()
        network.require_factory()
        require_zksync_node(ctx.client)
        deployer, source = resolve_deployer(args, chain_id)
        progress(f"creating an Era account through factory {network.account_factory} from {deployer.address}")
        created = create_era_account(ctx.client, network, deployer, passkey)
        return {
            "kind": "era",
            "address": created.address,
            "unique_id": created.unique_id,
            "transaction": created.receipt.transaction_hash,
        }, f"Era account {created.address} created (deployer {source})"
    deployment = _require_erc4337(ctx)
    if args.counterfactual:
        account = _msa(args, ctx, passkey, need_bundler=False)
        deployed = account.is_deployed()
        return {
            "kind": "erc4337",
            "address": account.address,
            "deployed": deployed,
            "counterfactual": True,
        }, f"ERC-4337 account {account.address} " + (
            "(already deployed)" if deployed else "(created by its first UserOperation; fund it first)"
        )
    deployer, source = resolve_deployer(args, chain_id)
    progress(f"creating an ERC-4337 account through factory {deployment.factory} from {deployer.address}")
    created_msa, receipt = Erc4337Account.deploy(
        deployment=deployment,
        eth=ctx.client,
        bundler=_bundler(args, ctx, deployment, required=False),
        credential=passkey,
        salt=counterfactual_salt(passkey.credential_id),
        deployer=deployer,
    )
    return {
        "kind": "erc4337",
        "address": created_msa.address,
        "deployed": True,
        "transaction": receipt.transaction_hash,
    }, f"ERC-4337 account {created_msa.address} created (deployer {source})"


def _provider(
    args: argparse.Namespace, passkey: HeadlessPasskey, ctx: ChainContext
) -> CeremonyAssertionProvider | None:
    """The assertion source: the relying-party ceremony when ``--store`` is given, else the passkey itself.

    Raises:
        NotFound (``CREDENTIAL_NOT_FOUND``): If the store does not hold the passkey (register it first).
    """
    if not getattr(args, "store", None):
        return None
    store = store_at(args.store)
    ctx.on_close(store.close)
    rp = RelyingParty(rp_id=passkey.rp_id, rp_name="sso-signer", origins=[passkey.origin], store=store)
    # Each signature is the stored owner's ceremony: the user the store registered this passkey for.
    owner = store.get_credential(passkey.credential_id).user_handle
    return CeremonyAssertionProvider(rp, user_handle=owner, callback=headless_browser(passkey))


def _require_erc4337(ctx: ChainContext) -> MsaDeployment:
    if ctx.deployment is None:
        raise ConfigurationError(
            "an ERC-4337 account needs the deployment JSON: pass --deployment FILE",
            rule=ErrorCode.INVALID_DEPLOYMENT,
        )
    return ctx.deployment.require_erc4337()


class _NoBundlerClient:
    """Stands in for a bundler client where none is needed (reading, or creating by a direct transaction)."""

    def __init__(self, deployment: MsaDeployment) -> None:
        self.entry_point = deployment.entry_point


def _bundler(
    args: argparse.Namespace, ctx: ChainContext, deployment: MsaDeployment, *, required: bool
) -> BundlerClient:
    """The bundler of ``--bundler`` / ``SSO_SIGNER_BUNDLER`` / the deployment; a stand-in if not ``required``.

    Raises:
        ConfigurationError (``MISSING_BUNDLER_URL``): If none is configured and one is ``required``.
    """
    url = (
        args.bundler
        or os.environ.get(ENV_BUNDLER)
        or (ctx.deployment.bundler_url if ctx.deployment else None)
    )
    if url:
        return BundlerClient(url, entry_point=deployment.entry_point)
    if required:
        raise ConfigurationError(
            "an ERC-4337 account needs a bundler: pass --bundler URL or set SSO_SIGNER_BUNDLER",
            rule=ErrorCode.MISSING_BUNDLER_URL,
        )
    return cast(BundlerClient, _NoBundlerClient(deployment))


def _msa(
    args: argparse.Namespace,
    ctx: ChainContext,
    passkey: HeadlessPasskey,
    address: str | None = None,
    *,
    need_bundler: bool,
) -> Erc4337Account:
    """The passkey's ERC-4337 account: ``address``, else the first one the ``WebAuthnValidator`` lists for the
    passkey (``getAccountList``), else the counterfactual one (created by its first UserOperation); a bundler
    only when needed.

    Raises:
        StateError: If the validator's ``getAccountList`` answer does not decode (wrong address).
        NotFound (``ACCOUNT_NOT_FOUND``): If the passkey was removed from the account it would name.
    """
    deployment = _require_erc4337(ctx)
    eth, validator = ctx.client, deployment.webauthn_validator
    bundler = _bundler(args, ctx, deployment, required=need_bundler)
    provider = _provider(args, passkey, ctx)
    if address is None:
        data = _GET_ACCOUNT_LIST + bytes(
            abi_encode(["string", "bytes"], [passkey.origin, bytes(passkey.credential_id)])
        )
        answer = eth.call({"to": validator, "data": data})
        try:
            (found,) = abi_decode(["address[]"], answer)
        except (DecodingError, ValueError, OverflowError) as exc:
            raise StateError(f"getAccountList answered {answer.hex()!r}: not a WebAuthnValidator?") from exc
        address = checksum_address(str(found[0])) if found else None
    if address is not None:
        return Erc4337Account.at(
            address, deployment=deployment, eth=eth, bundler=bundler, credential=passkey, provider=provider
        )
    # Registered nowhere. If an account dropped this passkey, its own counterfactual account is a stranger
    # (or is that account): computing and creating it would silently move the user's funds elsewhere.
    dropped = accounts_that_removed(eth, validator, passkey.origin, passkey.credential_id)
    if dropped:
        raise _removed_key(passkey, dropped)
    try:
        account = Erc4337Account.counterfactual(
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=passkey,
            salt=counterfactual_salt(passkey.credential_id),
            provider=provider,
        )
    except EntryPointError as exc:
        if exc.rule is not ErrorCode.FACTORY_CALL_FAILED:
            raise
        # Typically the account created from this passkey exists but no longer lists it (the passkey was
        # removed), so the validator cannot name it and the factory refuses to create it again.
        raise NotFound(
            f"passkey {b64url_encode(passkey.credential_id)} at {passkey.origin} is registered to no account "
            f"on this chain, and its counterfactual account cannot be created ({exc}): it most likely exists "
            "and no longer lists this passkey among its owners; pass --address ACCOUNT to use an account "
            "this passkey still controls",
            rule=ErrorCode.ACCOUNT_NOT_FOUND,
        ) from exc
    if eth.get_code(account.address):
        raise _removed_key(passkey, [account.address])
    return account


def _era_account(args: argparse.Namespace, ctx: ChainContext, passkey: HeadlessPasskey) -> EraAccount:
    network, address = ctx.require_era(), args.address
    if address is None:
        address = find_account(ctx.client, network.passkey_validator, passkey.origin, passkey.credential_id)
    if address is None:
        dropped = accounts_that_removed(
            ctx.client, network.passkey_validator, passkey.origin, passkey.credential_id
        )
        removed = (
            f"; it was removed from {', '.join(dropped)} (not among its owners any more): sign with one of "
            "that account's remaining passkeys, or pass --address ACCOUNT"
            if dropped
            else ""
        )
        raise NotFound(
            f"passkey {b64url_encode(passkey.credential_id)} at {passkey.origin} has no Era account on chain "
            f"{network.chain_id} (validator {network.passkey_validator}){removed}",
            rule=ErrorCode.ACCOUNT_NOT_FOUND,
        )
    return EraAccount(ctx.client, network, address, passkey, provider=_provider(args, passkey, ctx))


def era_funds_error(
    client: EthClient, address: str, tx: Any, value: int, sponsored: bool, exc: TransactionRejected
) -> Exception:
    """The node's "insufficient funds" refusal as ``InsufficientBalance`` (balance, need, how to fund)."""
    if "insufficient" not in exc.rpc_message.lower():
        return exc
    balance = client.get_balance(address)
    fee = 0 if sponsored else tx.gas_limit * tx.max_fee_per_gas
    required = fee + value
    return InsufficientBalance(
        f"the node refused the transaction from {address} for lack of funds ({exc.rpc_message}): it holds "
        f"{format_ether(balance)} and needs {format_ether(required)} (gas limit {tx.gas_limit} × "
        f"maxFeePerGas {tx.max_fee_per_gas} wei{', paid by the paymaster' if sponsored else ''} plus "
        f"{format_ether(value)} sent); fund it with at least {format_ether(max(required - balance, 0))} by "
        f"sending ETH to {address}",
        account=address,
        required=required,
        available=balance,
    )
