"""``guardian add|remove|list|accept`` and ``recover start|finish|cancel|status``: guardian recovery of
ERC-4337 accounts (the ``GuardianExecutor`` module) and Era accounts (the ``GuardianRecoveryValidator``).

The account's side (add, remove, cancel) is signed by its passkey (``--key``); the guardian's side (accept,
start) by the guardian's EOA key, read from the environment variable ``--guardian-key-env`` names (default
``SSO_SIGNER_GUARDIAN_KEY``); ``finish`` may be paid by anyone (the guardian's key, else the deployer key; an
Era account pays its own). Which generation is ``cli/_accounts.py``'s business: these commands call
:class:`CliAccount` and :class:`RecoveryGuardian` only.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from eth_account.signers.local import LocalAccount

from sso_signer._codec import b64url_encode
from sso_signer.cli._accounts import (
    CliAccount,
    PendingRecovery,
    RecoveryGuardian,
    open_account,
    open_guardian,
    send_report,
)
from sso_signer.cli._context import ChainContext, key_from_env, load_passkey, load_passkey_file
from sso_signer.cli._output import Reporter
from sso_signer.erc4337 import UserOperationReceipt
from sso_signer.exceptions import CliUsageError
from sso_signer.rpc import Receipt
from sso_signer.sso._signature import checksum_address

__all__ = [
    "accept",
    "add",
    "list_guardians",
    "recover_cancel",
    "recover_finish",
    "recover_start",
    "recover_status",
    "remove",
]

ENV_GUARDIAN_KEY = "SSO_SIGNER_GUARDIAN_KEY"


def _guardian_key(args: argparse.Namespace, *, required: bool = False) -> LocalAccount | None:
    """The guardian's key from ``--guardian-key-env`` / ``SSO_SIGNER_GUARDIAN_KEY``, or None if neither.

    Raises:
        CliUsageError: If the named variable is unset or does not hold a private key, or neither names one
            and the key is ``required``.
    """
    found = key_from_env(args, "--guardian-key-env", ENV_GUARDIAN_KEY)
    if found is None and required:
        raise CliUsageError(
            "no guardian key: name the environment variable holding the guardian's private key with "
            f"--guardian-key-env VAR (or set {ENV_GUARDIAN_KEY})"
        )
    return None if found is None else found[0]


def _request(request: PendingRecovery, now: int) -> dict[str, Any]:
    if not request.exists:
        return {"pending": False}
    return {
        "pending": True,
        "type": request.kind,
        "started_at": request.started_at,
        "finalizable_from": request.finalizable_from,
        "expires_at": request.expires_at,
        "finalizable_now": request.finalizable_at(now),
    }


def _describe_request(request: PendingRecovery, now: int) -> str:
    if not request.exists:
        return "no pending recovery"
    if request.finalizable_at(now):
        return f"a recovery is pending and can be finished now (until block time {request.expires_at})"
    if now < request.finalizable_from:
        return (
            f"a recovery is pending: it can be finished from block time {request.finalizable_from} "
            f"(in {request.finalizable_from - now} s)"
        )
    return "a recovery is pending but expired (a guardian may start a new one)"


# --- the account's side (signed by the passkey) ------------------------------------------------------------


@contextlib.contextmanager
def _passkey_account(
    args: argparse.Namespace, *, executes: bool
) -> Iterator[tuple[ChainContext, CliAccount]]:
    """The ``--key`` passkey's account, with its chain context (closed afterwards)."""
    passkey = load_passkey(args)
    with contextlib.closing(ChainContext.from_args(args)) as ctx:
        yield ctx, open_account(args, ctx, passkey, executes=executes)[1]


def _account_sends(
    args: argparse.Namespace,
    out: Reporter,
    send: Callable[[CliAccount], tuple[UserOperationReceipt | Receipt, dict[str, Any]]],
    summary: Callable[[str], str],
) -> None:
    """Run one passkey-signed change of the account (``send``: its receipt and fields) and report it."""
    with _passkey_account(args, executes=True) as (_, account):
        receipt, fields = send(account)
        out.result(
            {"kind": account.kind, "account": account.address, **fields, **send_report(receipt)[0]},
            summary=summary(account.address),
        )


def add(args: argparse.Namespace, out: Reporter) -> None:
    """Propose a guardian for the passkey's account (installs the module in the same operation)."""
    guardian = checksum_address(args.guardian, field="GUARDIAN")

    def propose(account: CliAccount) -> tuple[UserOperationReceipt | Receipt, dict[str, Any]]:
        installs = not account.module_installed()
        out.step(
            f"{account.carrier} from {account.address}: "
            + (f"install {account.module}, " if installs else "")
            + f"propose {guardian}"
        )
        receipt = account.propose_guardian(guardian, timeout=args.timeout)
        return receipt, {"guardian": guardian, "module_installed": installs}

    _account_sends(
        args,
        out,
        propose,
        lambda address: (
            f"guardian {guardian} proposed for {address}; it accepts with "
            f"`sso-signer guardian accept --account {address}`"
        ),
    )


def remove(args: argparse.Namespace, out: Reporter) -> None:
    """Remove a guardian of the passkey's account (an active one's pending recovery is discarded too)."""
    guardian = checksum_address(args.guardian, field="GUARDIAN")
    _account_sends(
        args,
        out,
        lambda account: (account.remove_guardian(guardian, timeout=args.timeout), {"guardian": guardian}),
        lambda address: f"guardian {guardian} removed from {address}",
    )


def recover_cancel(args: argparse.Namespace, out: Reporter) -> None:
    """Discard the pending recovery of the passkey's account (its passkey was not lost after all)."""
    _account_sends(
        args,
        out,
        lambda account: (account.discard_recovery(timeout=args.timeout), {"discarded": True}),
        lambda address: f"the pending recovery of {address} is discarded",
    )


def list_guardians(args: argparse.Namespace, out: Reporter) -> None:
    """The passkey's account's guardians (proposed or active) and its pending recovery."""
    with _passkey_account(args, executes=False) as (ctx, account):
        guardians = account.guardians()
        request, now = account.pending_recovery(), ctx.chain_time()
        named = ", ".join(f"{a} ({'active' if active else 'proposed'})" for a, active in guardians)
        out.result(
            {
                "kind": account.kind,
                "account": account.address,
                "module_installed": account.module_installed(),
                "guardians": [{"address": a, "active": active} for a, active in guardians],
                "recovery": _request(request, now),
            },
            summary=f"{account.address}: {named or 'no guardian'}; {_describe_request(request, now)}",
        )


# --- the guardian's side (signed by its EOA key) -----------------------------------------------------------


@contextlib.contextmanager
def _guardian(
    args: argparse.Namespace, signer: LocalAccount | None, *, pays: bool = False
) -> Iterator[tuple[ChainContext, RecoveryGuardian]]:
    """``signer`` as a guardian of the deployment's accounts (None: only reads, or the deployer ``pays``)."""
    with contextlib.closing(ChainContext.from_args(args)) as ctx:
        yield ctx, open_guardian(args, ctx, signer, pays=pays)


def accept(args: argparse.Namespace, out: Reporter) -> None:
    """Accept the guardianship an account proposed, as the guardian."""
    account = checksum_address(args.account, field="--account")
    with _guardian(args, _guardian_key(args, required=True)) as (_, guardian):
        receipt = guardian.accept(account, timeout=args.timeout)
        out.result(
            {
                "kind": guardian.kind,
                "account": account,
                "guardian": guardian.address,
                "already_active": receipt is None,
                **(send_report(receipt)[0] if receipt is not None else {}),
            },
            summary=f"{guardian.address} is an active guardian of {account}"
            + (" (it already was)" if receipt is None else ""),
        )


def recover_start(args: argparse.Namespace, out: Reporter) -> None:
    """Ask, as the account's guardian, that the new passkey be added after the delay."""
    account = checksum_address(args.account, field="--account")
    signer = _guardian_key(args, required=True)
    new = load_passkey_file(args.new_key, args.new_passphrase_env)
    with _guardian(args, signer) as (ctx, guardian):
        receipt = guardian.initiate_recovery(account, new, timeout=args.timeout)
        request = guardian.pending_recovery(account, new)
        out.result(
            {
                "kind": guardian.kind,
                "account": account,
                "guardian": guardian.address,
                "new_credential_id": b64url_encode(new.credential_id),
                "origin": new.origin,
                "recovery": _request(request, ctx.chain_time()),
                **send_report(receipt)[0],
            },
            summary=f"recovery of {account} started: finish it with `sso-signer recover finish --account "
            f"{account}` after block time {request.finalizable_from - 1} (24 h); the account's passkey "
            "may cancel it meanwhile",
        )


def recover_finish(args: argparse.Namespace, out: Reporter) -> None:
    """Finish a pending recovery once the delay has passed: the account adds the new passkey."""
    account = checksum_address(args.account, field="--account")
    new = load_passkey_file(args.new_key, args.new_passphrase_env) if args.new_key else None
    with _guardian(args, _guardian_key(args), pays=True) as (_, guardian):
        receipt = guardian.finalize_recovery(account, new, timeout=args.timeout)
        out.result(
            {
                "kind": guardian.kind,
                "account": account,
                "finished_by": guardian.finisher(account),
                **send_report(receipt)[0],
            },
            summary=f"recovery of {account} finished (paid by {guardian.payer}): the new passkey controls it",
        )


def recover_status(args: argparse.Namespace, out: Reporter) -> None:
    """An account's pending recovery: when it can be finished, until when."""
    account = checksum_address(args.account, field="--account")
    # Reading needs no key.
    with _guardian(args, None) as (ctx, guardian):
        request, now = guardian.pending_recovery(account), ctx.chain_time()
        out.result(
            {
                "kind": guardian.kind,
                "account": account,
                "recovery": _request(request, now),
                "block_time": now,
            },
            summary=f"{account}: {_describe_request(request, now)}",
        )
