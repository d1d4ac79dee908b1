"""``session create|list|show|revoke`` and ``send --session-key``: session keys of the passkey's ERC-4337
account (docs/sessions.md, docs/cli.md).

``session create --spec SPEC.json --out SESSION.json`` generates a session key, writes it with the spec and
the account to ``SESSION.json`` (mode 0600) *before* the passkey opens the session (a key whose session was
opened must not be lost), then opens it. ``send --session-key SESSION.json`` sends with that key and no
passkey prompt. The spec file is JSON::

    {"expires_in": 86400,                                   (or "expires_at": unix seconds)
     "fee_limit": {"lifetime": "0.1ether"},                 ({"allowance": "0.01ether", "period": 86400})
     "transfers": [{"to": "0x…", "max_value_per_use": "0.001ether", "limit": {"lifetime": "0.01ether"}}],
     "calls": [{"target": "0x…", "selector": "transfer(address,uint256)",   (or "0xa9059cbb")
                "max_value_per_use": "0", "limit": "unlimited",
                "constraints": [{"index": 1, "condition": "less_or_equal", "value": "1000",
                                 "limit": {"allowance": "2500", "period": 86400}}]}]}

Amounts are wei, as an integer or text with a unit (``0.1ether``); constraint values are integers, decimal
text or 0x-hex (an address).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
from typing import Any

from eth_utils.crypto import keccak

from sso_signer._codec import hex_decode
from sso_signer._json import CONFIG_FILE_LIMITS, read_json_file
from sso_signer.accounts import Erc4337Account, LocalSessionKey, SessionInfo
from sso_signer.cli._accounts import open_erc4337_account, open_session_account, send_report
from sso_signer.cli._context import ChainContext, check_out_path, load_passkey, parse_data, parse_wei, writing
from sso_signer.cli._output import Reporter
from sso_signer.exceptions import AlreadyExists, CliUsageError, InvalidInputError, InvalidSessionSpec
from sso_signer.sso import (
    CallPolicy,
    Condition,
    Constraint,
    SessionSpec,
    TransferPolicy,
    UsageLimit,
)
from sso_signer.sso._signature import checksum_address
from sso_signer.webauthn._keyfile import write_private_file

__all__ = ["create", "list_sessions", "revoke", "send_with_session", "show"]

_SESSION_FILE_VERSION = 1


# ---------------------------------------------------------------------------------------------- spec JSON


def _object(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidSessionSpec(f"{field}: expected a JSON object", field=field)
    return value


def _amount(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidSessionSpec(f"{field}: expected wei (an integer, or text like 0.1ether)", field=field)
    try:
        return parse_wei(str(value))
    except (CliUsageError, InvalidInputError) as exc:
        raise InvalidSessionSpec(f"{field}: {exc}", field=field) from exc


def _seconds(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidSessionSpec(f"{field}: expected a whole number of seconds", field=field)
    return value


def _limit(value: object, field: str) -> UsageLimit:
    if value is None or value == "unlimited":
        return UsageLimit.unlimited()
    data = _object(value, field)
    if set(data) == {"lifetime"}:
        return UsageLimit.lifetime(_amount(data["lifetime"], f"{field}.lifetime"))
    if set(data) == {"allowance", "period"}:
        amount = _amount(data["allowance"], f"{field}.allowance")
        return UsageLimit.allowance(amount, _seconds(data["period"], f"{field}.period"))
    raise InvalidSessionSpec(
        f'{field}: expected "unlimited", {{"lifetime": AMOUNT}} '
        'or {"allowance": AMOUNT, "period": SECONDS}',
        field=field,
    )


def _selector(value: object, field: str) -> bytes:
    if isinstance(value, str) and value.startswith("0x"):
        return hex_decode(value)
    if isinstance(value, str) and "(" in value:
        return bytes(keccak(text=value.replace(" ", "")))[:4]
    raise InvalidSessionSpec(
        f"{field}: expected 0x + 8 hex digits or a signature like f(uint256)", field=field
    )


def _word(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidSessionSpec(f"{field}: expected an integer, decimal text or 0x-hex", field=field)
    try:
        return int(value, 0) if isinstance(value, str) else value
    except ValueError as exc:
        raise InvalidSessionSpec(
            f"{field}: expected an integer, decimal text or 0x-hex", field=field
        ) from exc


def _constraint(value: object, field: str) -> Constraint:
    data = _object(value, field)
    name = data.get("condition", "unconstrained")
    try:
        condition = Condition[str(name).upper()]
    except KeyError:
        known = ", ".join(c.name.lower() for c in Condition)
        raise InvalidSessionSpec(f"{field}.condition: one of {known}", field=f"{field}.condition") from None
    index = _seconds(data.get("index"), f"{field}.index")
    return Constraint(
        condition,
        index,
        _word(data.get("value", 0), f"{field}.value"),
        _limit(data.get("limit"), f"{field}.limit"),
    )


def spec_from_json(data: object, signer: str, now: int) -> SessionSpec:
    """The session spec a ``--spec`` file describes (see the module docstring), for ``signer``.

    Raises:
        InvalidSessionSpec: Naming the field that is missing or malformed, or a value the validator refuses.
    """
    spec = _object(data, "spec")
    if "expires_at" in spec:
        expires_at = _seconds(spec["expires_at"], "expires_at")
    else:
        expires_at = now + _seconds(spec.get("expires_in", 86_400), "expires_in")
    transfers = spec.get("transfers", [])
    calls = spec.get("calls", [])
    if not isinstance(transfers, list) or not isinstance(calls, list):
        raise InvalidSessionSpec("transfers, calls: expected JSON arrays", field="transfers")
    transfer_policies = []
    for i, item in enumerate(transfers):
        entry = _object(item, f"transfers[{i}]")
        transfer_policies.append(
            TransferPolicy(
                entry.get("to"),  # type: ignore[arg-type]
                _amount(entry.get("max_value_per_use", 0), f"transfers[{i}].max_value_per_use"),
                _limit(entry.get("limit"), f"transfers[{i}].limit"),
            )
        )
    call_policies = []
    for i, item in enumerate(calls):
        entry = _object(item, f"calls[{i}]")
        constraints = entry.get("constraints", [])
        if not isinstance(constraints, list):
            raise InvalidSessionSpec(f"calls[{i}].constraints: expected an array", field="constraints")
        call_policies.append(
            CallPolicy(
                entry.get("target"),  # type: ignore[arg-type]
                _selector(entry.get("selector"), f"calls[{i}].selector"),
                _amount(entry.get("max_value_per_use", 0), f"calls[{i}].max_value_per_use"),
                _limit(entry.get("limit"), f"calls[{i}].limit"),
                tuple(_constraint(c, f"calls[{i}].constraints[{j}]") for j, c in enumerate(constraints)),
            )
        )
    if "fee_limit" not in spec:
        raise InvalidSessionSpec('fee_limit: required (e.g. {"lifetime": "0.1ether"})', field="fee_limit")
    return SessionSpec(
        signer,
        expires_at,
        _limit(spec["fee_limit"], "fee_limit"),
        tuple(call_policies),
        tuple(transfer_policies),
    )


# ------------------------------------------------------------------------------------------- session file


def _write_session_file(
    path: str, key: LocalSessionKey, spec: SessionSpec, account: str, force: bool
) -> None:
    target = pathlib.Path(path)
    taken = CliUsageError(f"--out {path}: exists (a session key file: pass --force to replace it)")
    if target.exists() and not force:
        raise taken
    body = {
        "version": _SESSION_FILE_VERSION,
        "account": account,
        "signer": key.address,
        "key": "0x" + bytes(key.account.key).hex(),
        "spec": "0x" + spec.encode().hex(),
        "session_hash": "0x" + spec.session_hash.hex(),
    }
    # Written whole to a new 0600 file beside the target, then put in its place: a failed write (disk full)
    # leaves the previous key file as it was, and no partial key behind.
    with writing(path):
        try:
            write_private_file(target, json.dumps(body, indent=2) + "\n", overwrite=force)
        except AlreadyExists:  # the name was taken meanwhile: nothing is clobbered
            raise taken from None


def load_session_file(path: str) -> tuple[SessionSpec, LocalSessionKey, str]:
    """``(spec, key, account)`` from a file ``session create`` wrote.

    Raises:
        CliUsageError: If the file is unreadable, not such a file, or its key is not the spec's signer.
    """

    def bad(message: str) -> CliUsageError:
        return CliUsageError(f"--session-key {path}: {message}")

    data = read_json_file(path, limits=CONFIG_FILE_LIMITS, error=bad, what="session key file")
    if not isinstance(data, dict) or data.get("version") != _SESSION_FILE_VERSION:
        raise bad("not a session key file written by `sso-signer session create`")
    try:
        key = LocalSessionKey(hex_decode(str(data["key"])))
        spec = SessionSpec.decode(hex_decode(str(data["spec"])))
        account = checksum_address(str(data["account"]), field="account")
    except (KeyError, InvalidInputError) as exc:
        raise bad(f"malformed ({exc})") from exc
    if key.address != spec.signer:
        raise bad(f"the key {key.address} is not the session's signer {spec.signer}")
    return spec, key, account


# ---------------------------------------------------------------------------------------------- commands


def _info(info: SessionInfo) -> dict[str, Any]:
    spec = info.spec

    def limits(entries: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [
            {
                "target": e.target,
                "selector": "0x" + e.selector.hex(),
                "index": e.index,
                "remaining": str(e.remaining),
            }
            for e in entries
        ]

    return {
        "session_hash": "0x" + info.session_hash.hex(),
        "signer": spec.signer,
        "status": info.status.name.lower(),
        "active": info.active,
        "expired": info.expired,
        "expires_at": spec.expires_at,
        "block": info.block_number,
        "fees_remaining": str(info.fees_remaining),
        "transfer_value": limits(info.transfer_value),
        "call_value": limits(info.call_value),
        "call_params": limits(info.call_params),
    }


def _state(info: SessionInfo) -> str:
    return "revoked" if info.revoked else "expired" if info.expired else info.status.name.lower()


def _open(args: argparse.Namespace, ctx: ChainContext, *, executes: bool) -> Erc4337Account:
    return open_erc4337_account(args, ctx, load_passkey(args), executes=executes)


def create(args: argparse.Namespace, out: Reporter) -> None:
    """Open a session for a new key: write the key file, then have the passkey create the session."""
    check_out_path(args.out)
    if os.path.exists(args.out) and not args.force:
        raise CliUsageError(f"--out {args.out}: exists (a session key file: pass --force to replace it)")
    description = read_json_file(
        args.spec,
        limits=CONFIG_FILE_LIMITS,
        error=lambda message: CliUsageError(f"--spec {args.spec}: {message}"),
        what="session spec",
    )
    with ChainContext.from_args(args) as ctx:
        account = _open(args, ctx, executes=True)
        key = LocalSessionKey.generate()
        spec = spec_from_json(description, key.address, ctx.chain_time())
        _write_session_file(args.out, key, spec, account.address, args.force)
        out.step(f"session key {key.address} written to {args.out} (mode 0600)")
        receipt = account.create_session(spec, key, timeout=args.timeout, from_block=args.from_block)
        fields, _ = send_report(receipt)
        out.result(
            {
                "account": account.address,
                "session_hash": "0x" + spec.session_hash.hex(),
                "signer": key.address,
                "expires_at": spec.expires_at,
                "session_key_file": os.path.abspath(args.out),
                **fields,
            },
            summary=f"session 0x{spec.session_hash.hex()[:16]}… opened for {key.address} (key in {args.out})",
        )


def list_sessions(args: argparse.Namespace, out: Reporter) -> None:
    """The account's sessions (its ``SessionCreated`` logs) and their state."""
    with ChainContext.from_args(args) as ctx:
        account = _open(args, ctx, executes=False)
        found = account.list_sessions(from_block=args.from_block)
        out.result(
            {"account": account.address, "sessions": [_info(info) for info in found]},
            summary=f"{len(found)} session(s) of {account.address}"
            + "".join(f"\n  0x{i.session_hash.hex()}  {i.spec.signer}  {_state(i)}" for i in found),
        )


def _find(account: Erc4337Account, args: argparse.Namespace) -> list[SessionSpec]:
    specs = [load_session_file(path)[0] for path in args.session_key or ()]
    if args.hash:
        listed = {info.session_hash: info.spec for info in account.list_sessions(from_block=args.from_block)}
        for text in args.hash:
            digest = hex_decode(text)
            if digest not in listed:
                raise CliUsageError(f"--hash {text}: not a session of {account.address}")
            specs.append(listed[digest])
    if not specs:
        raise CliUsageError("name the session: --session-key FILE or --hash 0x…")
    return specs


def show(args: argparse.Namespace, out: Reporter) -> None:
    """A session's status and what is left of its limits."""
    with ChainContext.from_args(args) as ctx:
        account = _open(args, ctx, executes=False)
        infos = [account.session_state(spec) for spec in _find(account, args)]
        data = {"account": account.address, "sessions": [_info(info) for info in infos]}
        out.result(
            data,
            summary="\n".join(
                f"session 0x{i.session_hash.hex()}: {_state(i)}, fees left {i.fees_remaining} wei"
                for i in infos
            ),
        )


def revoke(args: argparse.Namespace, out: Reporter) -> None:
    """Revoke sessions, in one UserOperation signed by the passkey."""
    with ChainContext.from_args(args) as ctx:
        account = _open(args, ctx, executes=True)
        # Hashes go as they are: revoking must not depend on reading the spec back from the logs (the account
        # checks each one is an active session of its own first).
        sessions: list[SessionSpec | bytes] = [load_session_file(path)[0] for path in args.session_key or ()]
        sessions += [hex_decode(text, field="--hash", length=32) for text in args.hash or ()]
        if not sessions:
            raise CliUsageError("name the session: --session-key FILE or --hash 0x…")
        fields, _ = send_report(account.revoke_sessions(*sessions, timeout=args.timeout))
        hashes = ["0x" + (s.session_hash if isinstance(s, SessionSpec) else s).hex() for s in sessions]
        out.result(
            {"account": account.address, "revoked": hashes, **fields},
            summary=f"{len(hashes)} session(s) revoked on {account.address}",
        )


def send_with_session(args: argparse.Namespace, out: Reporter) -> None:
    """``send --session-key FILE``: one call with the session key, no passkey prompt."""
    to = checksum_address(args.to, field="--to")
    value = parse_wei(args.value)
    data = parse_data(args.data)
    spec, key, address = load_session_file(args.session_key)
    # The session file names its account: no passkey file is needed; --account / --address only confirm it.
    for option, given in (("--account", getattr(args, "account", None)), ("--address", args.address)):
        if given is not None and checksum_address(given, field=option) != address:
            raise CliUsageError(f"--session-key: the session is {address}'s, not {given}'s ({option})")
    with ChainContext.from_args(args) as ctx:
        account = open_session_account(args, ctx, address)
        out.step(f"session 0x{spec.session_hash.hex()[:16]}… of {account.address}, signed by {key.address}")
        fields, summary = send_report(
            account.send_with_session(spec, key, to, value, data, timeout=args.timeout)
        )
        out.result(
            {
                "kind": "erc4337",
                "account": account.address,
                "session_hash": "0x" + spec.session_hash.hex(),
                **fields,
            },
            summary=summary,
        )
