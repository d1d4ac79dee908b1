"""``account create|show|add-passkey|remove-passkey`` and ``send``: the passkey's smart account.

Every command gets its account from :func:`~sso_signer.cli._accounts.open_account` and uses only the account
interface, whatever the generation.
"""

from __future__ import annotations

import argparse

from sso_signer._codec import b64url_decode, b64url_encode
from sso_signer.cli._accounts import create_account, open_account, send_report, sign_only
from sso_signer.cli._context import (
    ChainContext,
    format_ether,
    load_passkey,
    load_passkey_file,
    parse_data,
    parse_wei,
)
from sso_signer.cli._output import Reporter
from sso_signer.cli._session import send_with_session
from sso_signer.exceptions import CliUsageError
from sso_signer.sso._signature import checksum_address

__all__ = ["add_passkey", "create", "remove_passkey", "send", "show"]


def create(args: argparse.Namespace, out: Reporter) -> None:
    """Create the passkey's account (ERC-4337: counterfactual or through the factory; Era: the factory)."""
    passkey = load_passkey(args)
    with ChainContext.from_args(args) as ctx:
        data, summary = create_account(args, ctx, passkey, out.step)
        out.result(data, summary=summary)


def show(args: argparse.Namespace, out: Reporter) -> None:
    """Show the passkey's account: address, balance, deployed or not."""
    passkey = load_passkey(args)
    with ChainContext.from_args(args) as ctx:
        kind, account = open_account(args, ctx, passkey, executes=False)
        deployed = account.is_deployed()
        balance = account.get_balance()
        out.result(
            {
                "kind": kind,
                "address": account.address,
                "balance_wei": str(balance),
                "deployed": deployed,
            },
            summary=f"{kind} account {account.address}: {format_ether(balance)}"
            + ("" if deployed else " (not deployed)"),
        )


def add_passkey(args: argparse.Namespace, out: Reporter) -> None:
    """Register another passkey on the account, in a transaction signed by the current passkey."""
    passkey = load_passkey(args)
    new = load_passkey_file(args.new_key, args.new_passphrase_env)
    with ChainContext.from_args(args) as ctx:
        kind, account = open_account(args, ctx, passkey, executes=True)
        sent = account.add_passkey(new.credential_id, new.public_key, new.origin, timeout=args.timeout)
        out.result(
            {
                "kind": kind,
                "account": account.address,
                "added_credential_id": b64url_encode(new.credential_id),
                "origin": new.origin,
                "transaction": sent.transaction_hash,
            },
            summary=f"passkey {b64url_encode(new.credential_id)[:16]}… added to {account.address}",
        )


def remove_passkey(args: argparse.Namespace, out: Reporter) -> None:
    """Remove a passkey from the account, in a transaction signed by the current passkey.

    Refused (``RemovalWouldLockAccount``) when nothing else could sign for the account afterwards, unless
    ``--force``; removing the passkey ``--key`` signs with is allowed while others remain, with a warning.
    """
    passkey = load_passkey(args)
    credential_id = b64url_decode(args.credential_id, field="--credential-id")
    origin = args.origin or passkey.origin
    with ChainContext.from_args(args) as ctx:
        kind, account = open_account(args, ctx, passkey, executes=True)
        sent = account.remove_passkey(credential_id, origin, force=args.force, timeout=args.timeout)
        address = account.address
        signing_key = bytes(credential_id) == bytes(passkey.credential_id) and origin == passkey.origin
        if signing_key:
            out.warn(
                "the removed passkey is the one --key signs with: that key file no longer controls "
                f"{address}; use one of the account's other passkeys from now on"
            )
        if args.force:
            out.warn(f"--force: if that was the last way in, {address} is now locked for good")
        out.result(
            {
                "kind": kind,
                "account": address,
                "removed_credential_id": args.credential_id,
                "signing_key_removed": signing_key,
                "transaction": sent.transaction_hash,
            },
            summary=f"passkey {args.credential_id[:16]}… removed from {address}",
        )


def send(args: argparse.Namespace, out: Reporter) -> None:
    """Send ETH or a contract call from the passkey's account (``--sign-only``: sign an Era 0x71 only;
    ``--session-key FILE``: with a session key, no passkey prompt)."""
    ceilings = {
        name: parse_wei(text)
        for name, text in (("fee_ceiling", args.fee_ceiling), ("cost_ceiling", args.cost_ceiling))
        if text is not None
    }
    if getattr(args, "session_key", None):
        if ceilings:
            raise CliUsageError(
                "--fee-ceiling / --cost-ceiling bound passkey signatures; a session send is bounded by the "
                "session's fee limit"
            )
        send_with_session(args, out)
        return
    if getattr(args, "account", None) is not None:
        raise CliUsageError("--account names a session's account: use it with --session-key (else --address)")
    # Inputs first: a typo is a usage error whatever else is missing.
    to = checksum_address(args.to, field="--to")
    value = parse_wei(args.value)
    data = parse_data(args.data)
    passkey = load_passkey(args)
    with ChainContext.from_args(args) as ctx:
        kind, account = open_account(args, ctx, passkey, executes=not args.sign_only, progress=out.step)
        for name, ceiling in ceilings.items():
            setattr(account.account, name, ceiling)  # checked before the passkey is asked
        if args.sign_only:
            fields, summary = sign_only(account, to, value, data)
            out.result(fields, summary=summary)
            return
        fields, summary = send_report(account.send(to, value, data, timeout=args.timeout))
        out.result({"kind": kind, "account": account.address, **fields}, summary=summary)
