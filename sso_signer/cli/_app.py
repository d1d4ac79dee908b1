"""``sso-signer``: the command line for the whole passkey flow (see docs/cli.md and ``sso-signer --help``).

Each subcommand is a function ``(args, reporter) -> None`` that reports its result through the
:class:`~sso_signer.cli._output.Reporter` and raises typed errors; :func:`main` turns them into exit codes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, cast

from sso_signer import __version__
from sso_signer._codec import b64url_encode
from sso_signer.cli._context import (
    ENV_DEPLOYMENT,
    ChainContext,
    chain_id_number,
    check_out_path,
    check_passkey_scope,
    check_text_arguments,
    format_ether,
    key_file_warnings,
    load_passkey,
    parse_data,
    parse_wei,
    passphrase_from_env,
    port_number,
    resolve_deployer,
    seconds,
    writing,
)
from sso_signer.cli._output import ExitCode, Reporter, exit_code_for
from sso_signer.exceptions import (
    CliUsageError,
    ConfigurationError,
    ErrorCode,
    ExecutionReverted,
    InsufficientBalance,
    NodeStartFailed,
    NotFound,
    RemoteError,
    TransactionRejected,
    VerificationError,
)

if TYPE_CHECKING:
    from sso_signer.erc4337 import BundlerClient
    from sso_signer.rpc import Receipt
    from sso_signer.sso import EraAccount

__all__ = ["DOCS_URL", "build_parser", "main"]

ENV_BUNDLER = "SSO_SIGNER_BUNDLER"
#: The online documentation (the project's Documentation URL in pyproject.toml).
DOCS_URL = "https://github.com/sso-signer/sso-signer#readme"
Command = Callable[[argparse.Namespace, Reporter], None]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in the chosen output mode (exit code 2)."""

    #: Set by :func:`main` from the arguments it parses, so usage errors honour ``--json`` too.
    json_errors = False

    def error(self, message: str) -> NoReturn:
        if _Parser.json_errors:
            Reporter(json_mode=True).error(CliUsageError(message), ExitCode.USAGE)
        else:
            self.print_usage(sys.stderr)
            print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(ExitCode.USAGE)


# --- commands ----------------------------------------------------------------------------------------------


def cmd_node_start(args: argparse.Namespace, out: Reporter) -> None:
    """Start a local chain and keep it running until Ctrl-C (or SIGTERM)."""
    from sso_signer.node import AnvilNode, AnvilZkSyncNode, LocalNode

    kind = args.kind
    if kind == "auto":
        kind = "anvil-zksync" if AnvilZkSyncNode.available() else "anvil"
    # SIGTERM stops the node as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.with_bundler:
        if kind != "anvil":
            raise CliUsageError("--with-bundler runs the ERC-4337 stack on anvil (use --kind anvil)")
        check_out_path(args.out)  # before minutes of setup, not after
        _serve_stack(args, out)
        return
    node: LocalNode
    if kind == "anvil-zksync":
        node = AnvilZkSyncNode(port=args.port, chain_id=args.chain_id)
    else:
        node = AnvilNode(port=args.port, chain_id=args.chain_id)
    _remove_stale(args.out)
    out.step(f"starting {kind}")
    with node, _owned_file(args.out):
        result: dict[str, Any] = {"ready": True, "kind": kind, "url": node.url, "chain_id": node.chain_id}
        if args.out is not None:
            from sso_signer.cli._deploy import Deployment

            _save_when_ready(Deployment(node.chain_id, node.url, None, None), args.out)
            result["deployment"] = os.path.abspath(args.out)
        out.result(
            {**result, "pid": node.pid},
            summary=f"ready: {kind} at {node.url} (chain {node.chain_id}); Ctrl-C stops it",
        )
        if _wait_for_interrupt(lambda: node.running):
            out.step("stopping")
            return
    raise RemoteError(f"{kind} exited on its own:\n{node.log_text(tail=20)}", rule=ErrorCode.NODE_EXITED)


def _remove_stale(path: str | None) -> None:
    """Delete a deployment file left by an earlier run, so nobody reads old addresses as the new ones."""
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@contextlib.contextmanager
def _owned_file(path: str | None) -> Iterator[None]:
    """Delete the deployment file when the services it names stop."""
    try:
        yield
    finally:
        _remove_stale(path)


def _save_when_ready(deployment: Any, path: str) -> None:
    """Write the deployment file (atomically) only once every service it names answers."""
    from sso_signer.cli._deploy import deployment_problem

    problem = deployment_problem(deployment)
    if problem is not None:
        raise NodeStartFailed(f"started, but not ready: {problem}")
    deployment.save(path)


def _wait_for_interrupt(alive: Callable[[], bool]) -> bool:
    """Sleep until Ctrl-C / SIGTERM (``True``) or until ``alive()`` turns false (``False``)."""
    try:
        while alive():
            time.sleep(0.2)
    except KeyboardInterrupt:
        return True
    return False


def _serve_stack(args: argparse.Namespace, out: Reporter) -> None:
    """anvil + EntryPoint v0.8 + the ERC-4337 contracts + Alto + the Era validator, with a deployment JSON."""
    from sso_signer._artifacts import load_artifact
    from sso_signer.cli._deploy import Deployment
    from sso_signer.local_erc4337 import LocalErc4337Stack
    from sso_signer.sso import EraNetwork

    anvil_args: dict[str, Any] = {}
    if args.port is not None:
        anvil_args["port"] = args.port
    if args.chain_id is not None:
        anvil_args["chain_id"] = args.chain_id
    out_path = args.out or "deployment.json"
    _remove_stale(out_path)
    out.step("starting anvil, deploying EntryPoint v0.8 + the SSO contracts, starting Alto")
    with LocalErc4337Stack(test_token=True, **anvil_args) as stack, _owned_file(out_path):
        node = stack.node
        assert node is not None  # the stack is running
        validator, _ = stack.eth.deploy_contract(
            stack.deployer, load_artifact("WebAuthValidator").deploy_data()
        )
        chain_id = stack.deployment.chain_id
        era = EraNetwork(name="local", chain_id=chain_id, passkey_validator=validator, rpc_url=node.url)
        deployment = Deployment(chain_id, node.url, era, stack.deployment, stack.bundler_url)
        with writing(out_path):
            _save_when_ready(deployment, out_path)
        out.result(
            {
                "ready": True,
                "kind": "anvil",
                "url": node.url,
                "chain_id": chain_id,
                "pid": node.pid,
                "bundler_url": stack.bundler_url,
                "deployment": os.path.abspath(out_path),
            },
            summary=f"ready: anvil at {node.url} (chain {chain_id}), Alto at {stack.bundler_url}; "
            f"addresses in {out_path}; Ctrl-C stops both",
        )
        alto = stack.alto
        if _wait_for_interrupt(lambda: node.running and (alto is None or alto.running)):
            out.step("stopping")
            return
    raise RemoteError("anvil or Alto exited on its own", rule=ErrorCode.NODE_EXITED)


def cmd_node_wait(args: argparse.Namespace, out: Reporter) -> None:
    """Block until ``node start --out FILE`` has written FILE and every service in it answers."""
    from sso_signer.cli._deploy import wait_for_deployment

    out.step(f"waiting for {args.deployment} (up to {args.timeout:g} s)")
    deployment = wait_for_deployment(args.deployment, timeout=args.timeout)
    out.result(
        {
            "ready": True,
            "deployment": os.path.abspath(args.deployment),
            "chain_id": deployment.chain_id,
            "url": deployment.rpc_url,
            "bundler_url": deployment.bundler_url,
        },
        summary=f"ready: chain {deployment.chain_id} at {deployment.rpc_url}"
        + (f", bundler at {deployment.bundler_url}" if deployment.bundler_url else ""),
    )


def cmd_setup(args: argparse.Namespace, out: Reporter) -> None:
    """Install the pinned npm tools of the local stack into the per-user directory (idempotent)."""
    from sso_signer.local_erc4337 import install_tools

    report = install_tools(args.home, force=args.force, progress=out.step)
    data = {
        "home": report.home,
        "installed": report.installed,
        "packages": list(report.packages),
        "tools": dict(report.tools),
        "seconds": report.seconds,
    }
    if report.installed:
        summary = f"installed {len(report.packages)} npm packages into {report.home} in {report.seconds} s"
    else:
        summary = f"nothing to install: already set up in {report.home} (checked in {report.seconds} s)"
    out.result(data, summary=summary)


def cmd_fund(args: argparse.Namespace, out: Reporter) -> None:
    """Send ETH to an address from anvil's funded dev account (local chains only)."""
    from sso_signer.local_erc4337 import FUNDER_INDEX, fund
    from sso_signer.sso import checksum_address

    address = checksum_address(args.address, field="ADDRESS")
    value = parse_wei(args.value)
    ctx = ChainContext.from_args(args)
    try:
        out.step(f"sending {format_ether(value)} to {address} from dev account #{FUNDER_INDEX}")
        receipt = fund(ctx.client, address, value, timeout=args.timeout)
        balance = ctx.client.get_balance(address)
        out.result(
            {
                "address": address,
                "value": value,
                "transaction": receipt.transaction_hash,
                "balance": balance,
            },
            summary=f"funded {address}: balance {format_ether(balance)}",
        )
    finally:
        ctx.close()


def cmd_deploy(args: argparse.Namespace, out: Reporter) -> None:
    """Deploy the Era validator and/or the ERC-4337 stack and write the deployment JSON."""
    from sso_signer.cli._deploy import deploy_contracts

    check_out_path(args.out)  # before paying for a deployment whose addresses could not be written
    ctx = ChainContext.from_args(args)
    try:
        chain_id = ctx.client.chain_id()
        deployer, source = resolve_deployer(args, chain_id)
        out.step(f"deploying to chain {chain_id} at {ctx.rpc_url} from {deployer.address} ({source})")
        stacks = tuple(s.strip() for s in args.stack.split(",") if s.strip())
        deployment = deploy_contracts(
            ctx.client,
            deployer,
            stacks=stacks,
            rpc_url=ctx.rpc_url,
            era_factory=args.era_factory,
            test_token=args.test_token,
            progress=out.detail,
        )
        with writing(args.out):
            deployment.save(args.out)
        out.result(
            {"deployment": os.path.abspath(args.out), **deployment.to_json()},
            summary=f"deployed; addresses written to {args.out}",
        )
    finally:
        ctx.close()


def cmd_passkey_create(args: argparse.Namespace, out: Reporter) -> None:
    """Create a headless passkey and save it as a PKCS#8 PEM key file (mode 0600)."""
    from sso_signer.webauthn import HeadlessPasskey

    check_out_path(args.out)
    check_passkey_scope(args.rp_id, args.origin)
    passkey = HeadlessPasskey.generate(rp_id=args.rp_id, origin=args.origin, user_name=args.user_name)
    passphrase = passphrase_from_env(args)
    with writing(args.out):
        passkey.save(args.out, passphrase=passphrase, overwrite=args.force)
    out.result(
        {
            "key_file": os.path.abspath(args.out),
            "credential_id": b64url_encode(passkey.credential_id),
            "rp_id": passkey.rp_id,
            "origin": passkey.origin,
            "public_key": {"x": passkey.public_key.x_bytes, "y": passkey.public_key.y_bytes},
            "encrypted": passphrase is not None,
        },
        summary=f"passkey created in {args.out} (mode 0600{', encrypted' if passphrase else ''})",
    )


def cmd_passkey_register(args: argparse.Namespace, out: Reporter) -> None:
    """Run the relying-party registration ceremony with the passkey against the ``--store`` URL's store."""
    from sso_signer.cli._ceremony import register_passkey
    from sso_signer.webauthn import RelyingParty

    passkey = load_passkey(args)
    store = _open_store(args.store)
    try:
        rp = RelyingParty(rp_id=passkey.rp_id, rp_name=args.rp_name, origins=[passkey.origin], store=store)
        out.step(f"registration options issued by the relying party {passkey.rp_id!r}")
        credential, _ = register_passkey(rp, passkey, user_name=args.user_name or passkey.rp_id)
        out.step("response verified (py_webauthn) and stored")
        out.result(
            {
                "store": args.store if "://" in args.store else os.path.abspath(args.store),
                "credential_id": b64url_encode(credential.credential_id),
                "user_handle": b64url_encode(credential.user_handle),
                "origin": credential.origin,
                "rp_id": credential.rp_id,
            },
            summary=f"passkey registered in {args.store}",
        )
    finally:
        store.close()


def _provider(args: argparse.Namespace, passkey: Any, ctx: ChainContext) -> Any:
    """The assertion source: the relying-party ceremony when ``--store`` is given, else the passkey itself."""
    if not getattr(args, "store", None):
        return None
    from sso_signer.cli._ceremony import RelyingPartyAssertionProvider
    from sso_signer.webauthn import RelyingParty

    store = _open_store(args.store)
    ctx.on_close(store.close)
    rp = RelyingParty(rp_id=passkey.rp_id, rp_name="sso-signer", origins=[passkey.origin], store=store)
    return RelyingPartyAssertionProvider(rp, passkey)


def _open_store(url: str) -> Any:
    """The relying party's store at ``--store``: a SQLite path or a store URL (``sqlite:///…``, ``postgresql://…``).

    Raises:
        CliUsageError: If a plain SQLite path is a directory or its directory is missing.
        StoreConfigurationError, StoreUnavailable, StoreCorrupt: As :func:`~sso_signer.webauthn.open_store`.
    """
    from sso_signer.webauthn import open_store

    if "://" not in url and not url.startswith("sqlite:"):
        check_out_path(url, "--store")  # before any work, as for --out
    return open_store(url)


def _bundler(args: argparse.Namespace, ctx: ChainContext, entry_point: str) -> Any:
    from sso_signer.erc4337 import BundlerClient

    url = (
        args.bundler
        or os.environ.get(ENV_BUNDLER)
        or (ctx.deployment.bundler_url if ctx.deployment else None)
    )
    if not url:
        raise ConfigurationError(
            "an ERC-4337 account needs a bundler: pass --bundler URL or set SSO_SIGNER_BUNDLER",
            rule=ErrorCode.MISSING_BUNDLER_URL,
        )
    return BundlerClient(url, entry_point=entry_point)


def _require_erc4337(ctx: ChainContext) -> Any:

    if ctx.deployment is None:
        raise ConfigurationError(
            "an ERC-4337 account needs the deployment JSON: pass --deployment FILE",
            rule=ErrorCode.INVALID_DEPLOYMENT,
        )
    return ctx.deployment.require_erc4337()


def _kind(args: argparse.Namespace, ctx: ChainContext) -> str:
    if args.kind != "auto":
        return str(args.kind)
    if (
        ctx.deployment is not None
        and ctx.deployment.erc4337 is not None
        and not getattr(args, "network", None)
    ):
        return "erc4337"
    return "era"


def _msa(
    args: argparse.Namespace,
    ctx: ChainContext,
    passkey: Any,
    address: str | None = None,
    *,
    need_bundler: bool = True,
) -> Any:
    """The passkey's ERC-4337 account (given, registered, or counterfactual); a bundler only when needed."""
    from sso_signer.cli._accounts import erc4337_account

    deployment = _require_erc4337(ctx)
    if need_bundler or _has_bundler(args, ctx):
        bundler = _bundler(args, ctx, deployment.entry_point)
    else:
        bundler = _no_bundler(deployment)
    return erc4337_account(
        deployment=deployment,
        eth=ctx.client,
        bundler=bundler,
        passkey=passkey,
        provider=_provider(args, passkey, ctx),
        address=address,
    )


def _era_account(
    args: argparse.Namespace, ctx: ChainContext, passkey: Any, address: str | None = None
) -> Any:
    from sso_signer.sso import EraAccount, find_account

    network = ctx.require_era()
    if address is None:
        address = find_account(ctx.client, network.passkey_validator, passkey.origin, passkey.credential_id)
    if address is None:
        from sso_signer.cli._accounts import accounts_that_removed

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
    return EraAccount.from_passkey(
        ctx.client, network, address, passkey, provider=_provider(args, passkey, ctx)
    )


def cmd_account_create(args: argparse.Namespace, out: Reporter) -> None:
    """Create the passkey's account (ERC-4337: counterfactual or through the factory; Era: the factory)."""
    from sso_signer.cli._accounts import counterfactual_salt, require_zksync_node

    passkey = load_passkey(args)
    ctx = ChainContext.from_args(args)
    try:
        kind = _kind(args, ctx)
        chain_id = ctx.client.chain_id()
        if kind == "era":
            from sso_signer.sso import create_era_account

            network = ctx.require_era()
            network.require_factory()
            require_zksync_node(ctx.client)
            deployer, source = resolve_deployer(args, chain_id)
            out.step(
                f"creating an Era account through factory {network.account_factory} from {deployer.address}"
            )
            created = create_era_account(ctx.client, network, deployer, passkey)
            out.result(
                {
                    "kind": "era",
                    "address": created.address,
                    "unique_id": created.unique_id,
                    "transaction": created.receipt.transaction_hash,
                },
                summary=f"Era account {created.address} created (deployer {source})",
            )
            return
        from sso_signer.sso import MsaPasskeyAccount

        deployment = _require_erc4337(ctx)
        if args.counterfactual:
            account = _msa(args, ctx, passkey, need_bundler=False)
            deployed = account.is_deployed()
            out.result(
                {"kind": "erc4337", "address": account.address, "deployed": deployed, "counterfactual": True},
                summary=f"ERC-4337 account {account.address} "
                + (
                    "(already deployed)"
                    if deployed
                    else "(created by its first UserOperation; fund it first)"
                ),
            )
            return
        deployer, source = resolve_deployer(args, chain_id)
        out.step(f"creating an ERC-4337 account through factory {deployment.factory} from {deployer.address}")
        account, receipt = MsaPasskeyAccount.deploy(
            deployment=deployment,
            eth=ctx.client,
            bundler=_bundler(args, ctx, deployment.entry_point)
            if _has_bundler(args, ctx)
            else _no_bundler(deployment),
            credential=passkey,
            salt=counterfactual_salt(passkey.credential_id),
            deployer=deployer,
        )
        out.result(
            {
                "kind": "erc4337",
                "address": account.address,
                "deployed": True,
                "transaction": receipt.transaction_hash,
            },
            summary=f"ERC-4337 account {account.address} created (deployer {source})",
        )
    finally:
        ctx.close()


def _has_bundler(args: argparse.Namespace, ctx: ChainContext) -> bool:
    return bool(
        args.bundler or os.environ.get(ENV_BUNDLER) or (ctx.deployment and ctx.deployment.bundler_url)
    )


class _NoBundlerClient:
    """Stands in for a bundler client where none is needed (reading, or creating by a direct transaction)."""

    def __init__(self, deployment: Any) -> None:
        self.entry_point = deployment.entry_point


def _no_bundler(deployment: Any) -> BundlerClient:
    return cast("BundlerClient", _NoBundlerClient(deployment))


def cmd_account_show(args: argparse.Namespace, out: Reporter) -> None:
    """Show the passkey's account: address, balance, deployed or not."""
    passkey = load_passkey(args)
    ctx = ChainContext.from_args(args)
    try:
        kind = _kind(args, ctx)
        if kind == "era":
            account = _era_account(args, ctx, passkey, args.address)
            address = account.address
            deployed = bool(ctx.client.get_code(address))
        else:
            msa = _msa(args, ctx, passkey, args.address, need_bundler=False)
            address = msa.address
            deployed = msa.is_deployed()
        balance = ctx.client.get_balance(address)
        out.result(
            {"kind": kind, "address": address, "balance_wei": str(balance), "deployed": deployed},
            summary=f"{kind} account {address}: {format_ether(balance)}"
            + ("" if deployed else " (not deployed)"),
        )
    finally:
        ctx.close()


def _change_passkeys(
    args: argparse.Namespace,
    ctx: ChainContext,
    passkey: Any,
    calldata: bytes,
    era_change: Callable[[EraAccount], Receipt],
) -> tuple[str, str, bytes]:
    """Change the account's passkeys, signed by ``passkey``: ``era_change(account)`` on Era, ``calldata`` to
    the WebAuthn validator in a UserOperation on ERC-4337. Returns (kind, account address, transaction)."""
    kind = _kind(args, ctx)
    if kind == "era":
        from sso_signer.cli._accounts import require_zksync_node

        require_zksync_node(ctx.client)
        account = _era_account(args, ctx, passkey, args.address)
        return kind, account.address, era_change(account).transaction_hash
    from sso_signer.cli._accounts import prefund_explained

    msa = _msa(args, ctx, passkey, args.address)
    calls = [(msa.deployment.webauthn_validator, 0, calldata)]
    with prefund_explained(msa, calls):
        result = msa.execute(calls, timeout=args.timeout)
    return kind, msa.address, result.receipt.transaction_hash


def cmd_account_add_passkey(args: argparse.Namespace, out: Reporter) -> None:
    """Register another passkey on the account, in a transaction signed by the current passkey."""
    from sso_signer.cli._context import load_passkey_file
    from sso_signer.sso import add_passkey_calldata

    passkey = load_passkey(args)
    new = load_passkey_file(args.new_key, args.new_passphrase_env)
    calldata = add_passkey_calldata(new.credential_id, new.public_key, new.origin)
    ctx = ChainContext.from_args(args)
    try:
        kind, address, tx = _change_passkeys(
            args,
            ctx,
            passkey,
            calldata,
            lambda era: era.add_passkey(new.credential_id, new.public_key, new.origin, timeout=args.timeout),
        )
        out.result(
            {
                "kind": kind,
                "account": address,
                "added_credential_id": b64url_encode(new.credential_id),
                "origin": new.origin,
                "transaction": tx,
            },
            summary=f"passkey {b64url_encode(new.credential_id)[:16]}… added to {address}",
        )
    finally:
        ctx.close()


def cmd_account_remove_passkey(args: argparse.Namespace, out: Reporter) -> None:
    """Remove a passkey from the account, in a transaction signed by the current passkey.

    Refused (``RemovalWouldLockAccount``) when nothing else could sign for the account afterwards, unless
    ``--force``; removing the passkey ``--key`` signs with is allowed while others remain, with a warning.
    """
    from sso_signer._codec import b64url_decode

    passkey = load_passkey(args)
    credential_id = b64url_decode(args.credential_id, field="--credential-id")
    origin = args.origin or passkey.origin
    ctx = ChainContext.from_args(args)
    try:
        kind = _kind(args, ctx)
        if kind == "era":
            from sso_signer.cli._accounts import require_zksync_node

            require_zksync_node(ctx.client)
            account = _era_account(args, ctx, passkey, args.address)
            address = account.address
            receipt = account.remove_passkey(credential_id, origin, force=args.force, timeout=args.timeout)
            tx = receipt.transaction_hash
        else:
            from sso_signer.cli._accounts import prefund_explained
            from sso_signer.sso import remove_passkey_calldata

            msa = _msa(args, ctx, passkey, args.address)
            address = msa.address
            calls = [(msa.deployment.webauthn_validator, 0, remove_passkey_calldata(credential_id, origin))]
            with prefund_explained(msa, calls):
                result = msa.remove_passkey(credential_id, origin, force=args.force, timeout=args.timeout)
            tx = result.receipt.transaction_hash
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
                "transaction": tx,
            },
            summary=f"passkey {args.credential_id[:16]}… removed from {address}",
        )
    finally:
        ctx.close()


def cmd_send(args: argparse.Namespace, out: Reporter) -> None:
    """Send ETH or a contract call from the passkey's account."""
    from sso_signer.sso import checksum_address

    # Inputs first: a typo is a usage error whatever else is missing.
    to = checksum_address(args.to, field="--to")
    value = parse_wei(args.value)
    data = parse_data(args.data)
    passkey = load_passkey(args)
    ctx = ChainContext.from_args(args)
    try:
        kind = _kind(args, ctx)
        if kind == "era":
            from sso_signer.cli._accounts import require_zksync_node
            from sso_signer.sso import send_era_transaction, verify_era_transaction_onchain

            if not args.sign_only:
                require_zksync_node(ctx.client)
            account = _era_account(args, ctx, passkey, args.address)
            paymaster = None
            if args.paymaster:
                from sso_signer.zksync import PaymasterParams, general_paymaster_input

                paymaster = PaymasterParams(
                    checksum_address(args.paymaster, field="--paymaster"), general_paymaster_input()
                )
            plan = account.prepare(to=to, value=value, data=data, paymaster=paymaster)
            tx = plan.transaction
            out.step(
                f"0x71 transaction from {account.address}: nonce {tx.nonce}, gas {tx.gas_limit} "
                f"(node {plan.node_estimate} + WebAuthn {plan.validation_gas}), maxFee {tx.max_fee_per_gas}"
            )
            signed = account.sign(tx)
            out.step("signed with the passkey, preflight passed")
            if args.sign_only:
                # Any chain with the validator deployed can check the signature, ZKsync or not.
                verdict = verify_era_transaction_onchain(ctx.client, signed)
                if not verdict.valid:
                    raise VerificationError(
                        f"the Era validator refused the signature ({verdict.rule})",
                        rule=ErrorCode.ERC1271_SIGNATURE_INVALID,
                    )
                out.result(
                    {
                        "kind": "era",
                        "account": account.address,
                        "signed_hash": verdict.signed_hash,
                        "raw_transaction": signed.serialize(),
                        "validator_verdict": verdict.rule,
                        "gas_limit": tx.gas_limit,
                        "validation_gas": plan.validation_gas,
                    },
                    summary=f"signed, not sent; the Era validator says {verdict.rule}",
                )
                return
            try:
                receipt = send_era_transaction(ctx.client, signed, timeout=args.timeout)
            except TransactionRejected as exc:
                raise _era_funds_error(ctx, account.address, tx, value, paymaster is not None, exc) from exc
            out.result(
                {
                    "kind": "era",
                    "account": account.address,
                    "transaction": receipt.transaction_hash,
                    "block": receipt.block_number,
                    "gas_used": receipt.gas_used,
                },
                summary=f"sent in block {receipt.block_number}",
            )
            return
        msa = _msa(args, ctx, passkey, args.address)
        out.step(
            f"UserOperation from {msa.address}" + ("" if msa.is_deployed() else " (creates the account)")
        )
        from sso_signer.cli._accounts import prefund_explained

        with prefund_explained(msa, [(to, value, data)]):
            receipt = msa.execute([(to, value, data)], timeout=args.timeout)
        out.result(
            {
                "kind": "erc4337",
                "account": msa.address,
                "user_operation": receipt.user_op_hash,
                "transaction": receipt.receipt.transaction_hash,
                "success": receipt.success,
                "actual_gas_used": receipt.actual_gas_used,
            },
            summary=f"executed in transaction 0x{receipt.receipt.transaction_hash.hex()}",
        )
    finally:
        ctx.close()


def _era_funds_error(
    ctx: ChainContext, address: str, tx: Any, value: int, sponsored: bool, exc: TransactionRejected
) -> Exception:
    """The node's "insufficient funds" refusal as ``InsufficientBalance`` (balance, need, how to fund)."""
    if "insufficient" not in exc.rpc_message.lower():
        return exc

    balance = ctx.client.get_balance(address)
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


def _message(args: argparse.Namespace) -> bytes:
    if args.message_hex is not None:
        return parse_data(args.message_hex)
    if args.message is None:
        raise CliUsageError("give --message TEXT or --message-hex HEX")
    return str(args.message).encode("utf-8")


def cmd_sign_message(args: argparse.Namespace, out: Reporter) -> None:
    """ERC-1271 signature of a message (ERC-7739 PersonalSign), from the passkey's account."""
    from sso_signer.sso import eip191_hash

    message = _message(args)
    passkey = load_passkey(args)
    ctx = ChainContext.from_args(args)
    try:
        kind = _kind(args, ctx)
        if kind == "era":
            account = _era_account(args, ctx, passkey, args.address)
            signature = account.signer.sign_message(message)
            address = account.address
        else:
            msa = _msa(args, ctx, passkey, args.address, need_bundler=False)
            signature = msa.sign_message(message)
            address = msa.address
        out.result(
            {"kind": kind, "account": address, "hash": eip191_hash(message), "signature": signature},
            summary=f"signed for {address} (ERC-7739 PersonalSign; check: isValidSignature(hash, signature))",
        )
    finally:
        ctx.close()


def cmd_verify_message(args: argparse.Namespace, out: Reporter) -> None:
    """Ask an account (ERC-1271 ``isValidSignature`` through ``eth_call``) whether a signature is valid."""
    from eth_abi.abi import encode as abi_encode
    from eth_utils.crypto import keccak

    from sso_signer.sso import checksum_address, eip191_hash

    account = checksum_address(args.account, field="--account")
    message = _message(args)
    signature = parse_data(args.signature)
    digest = eip191_hash(message)
    ctx = ChainContext.from_args(args)
    try:
        if not ctx.client.get_code(account):
            raise NotFound(
                f"{account} has no code: ERC-1271 needs a deployed account", rule=ErrorCode.ACCOUNT_NOT_FOUND
            )
        data = bytes(keccak(text="isValidSignature(bytes32,bytes)"))[:4] + bytes(
            abi_encode(["bytes32", "bytes"], [digest, signature])
        )
        try:
            answer = ctx.client.call({"to": account, "data": data})
        except ExecutionReverted:
            answer = b""  # solady's off-chain path reverts on invalid signatures
        if answer[:4] != bytes.fromhex("1626ba7e"):
            raise VerificationError(
                f"{account} rejected the signature (answer 0x{answer[:4].hex() or 'revert'})",
                rule=ErrorCode.ERC1271_SIGNATURE_INVALID,
            )
        out.result(
            {"account": account, "hash": digest, "valid": True}, summary=f"valid signature for {account}"
        )
    finally:
        ctx.close()


def cmd_demo(args: argparse.Namespace, out: Reporter) -> None:
    """The whole flow on a local chain this command starts (see sso_signer.demo)."""
    from sso_signer.demo import run_demo

    summary = run_demo(out, amount_wei=parse_wei(args.amount))
    if out.json_mode:
        out.result(summary)
    else:
        out.lines([f"demo complete in {summary['seconds']} s", *summary["final"]])


# --- parser -----------------------------------------------------------------------------------------------


def _common(json_default: Any = argparse.SUPPRESS) -> _Parser:
    # Accepted before and after the subcommand; SUPPRESS keeps a subcommand's default from hiding the global.
    parent = _Parser(add_help=False)
    parent.add_argument("--json", action="store_true", default=json_default, help="print one JSON object")
    parent.add_argument("--debug", action="store_true", default=json_default, help="show tracebacks")
    return parent


def _chain_options() -> _Parser:
    parent = _Parser(add_help=False)
    group = parent.add_argument_group("chain")
    group.add_argument("--rpc", help="node URL (env SSO_SIGNER_RPC; default: the deployment's)")
    group.add_argument("--deployment", help=f"deployment JSON written by `deploy` (env {ENV_DEPLOYMENT})")
    group.add_argument("--network", help="Era network preset: era-sepolia")
    group.add_argument("--validator", help="Era WebAuthValidator address (overrides the deployment/network)")
    group.add_argument("--factory", help="Era AAFactory address (overrides the deployment/network)")
    return parent


def _key_options(deployer: bool = False) -> _Parser:
    parent = _Parser(add_help=False)
    group = parent.add_argument_group("keys")
    group.add_argument("--key", help="passkey key file (env SSO_SIGNER_KEY)")
    group.add_argument(
        "--passphrase-env", metavar="VAR", help="env variable holding the key file passphrase "
        "(default SSO_SIGNER_PASSPHRASE if set)",
    )  # fmt: skip
    if deployer:
        group.add_argument(
            "--deployer-key-env", metavar="VAR", help="env variable holding the paying EOA's private key "
            "(default SSO_SIGNER_DEPLOYER_KEY; dev account #0 on local chains)",
        )  # fmt: skip
    return parent


def _account_options() -> _Parser:
    parent = _Parser(add_help=False)
    group = parent.add_argument_group("account")
    group.add_argument(
        "--kind", choices=("auto", "erc4337", "era"), default="auto", help="account generation"
    )
    group.add_argument("--address", help="the account address (default: found from the passkey)")
    group.add_argument("--bundler", help="ERC-4337 bundler URL (env SSO_SIGNER_BUNDLER)")
    group.add_argument(
        "--store",
        help="relying-party store (file path, sqlite:///path or postgresql://...): sign through the full"
        " WebAuthn ceremony",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The ``sso-signer`` argument parser."""
    common, chain, keys, keys_deployer, account = (
        _common(),
        _chain_options(),
        _key_options(),
        _key_options(deployer=True),
        _account_options(),
    )
    parser = _Parser(
        prog="sso-signer",
        description="Own and drive ZKsync SSO smart accounts with a passkey.",
        parents=[_common(json_default=False)],
        epilog="First time: `sso-signer setup` installs the local-stack tools (anvil, Alto, ...). "
        "Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 configuration / missing tool, "
        "4 node or bundler error. `sso-signer COMMAND --help` describes each command; "
        f"documentation: {DOCS_URL}",
    )
    parser.add_argument("--version", action="version", version=f"sso-signer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    setup = sub.add_parser(
        "setup", parents=[common], help="install the local-stack tools (anvil, forge, cast, Alto, EntryPoint)"
    )
    setup.add_argument(
        "--home", help="install directory (default $SSO_SIGNER_HOME, else the user cache dir's sso-signer)"
    )
    setup.add_argument("--force", action="store_true", help="reinstall even if already installed")
    setup.set_defaults(func=cmd_setup)

    node = sub.add_parser("node", help="run a local chain (and bundler), wait for it").add_subparsers(
        dest="node_command", metavar="ACTION"
    )
    start = node.add_parser("start", parents=[common], help="start anvil / anvil-zksync until Ctrl-C")
    start.add_argument("--kind", choices=("auto", "anvil", "anvil-zksync"), default="anvil")
    start.add_argument("--port", type=port_number, help="fixed port (default: a free one)")
    start.add_argument("--chain-id", type=chain_id_number, help="chain id (default: the node's)")
    start.add_argument(
        "--with-bundler", action="store_true", help="also deploy the contracts and run Alto (anvil only); "
        "writes the deployment JSON (with the bundler URL) to --out",
    )  # fmt: skip
    start.add_argument(
        "--out", help="write the deployment JSON here once every service answers (removed at exit); "
        "default deployment.json with --with-bundler, none otherwise",
    )  # fmt: skip
    start.set_defaults(func=cmd_node_start)
    wait = node.add_parser("wait", parents=[common], help="block until `node start --out FILE` is ready")
    wait.add_argument(
        "--deployment", default=os.environ.get(ENV_DEPLOYMENT, "deployment.json"),
        help=f"the file `node start --out` writes (env {ENV_DEPLOYMENT}; default deployment.json)",
    )  # fmt: skip
    wait.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")
    wait.set_defaults(func=cmd_node_wait)

    fund = sub.add_parser(
        "fund", parents=[common, chain], help="send ETH from anvil's dev account (local chains only)"
    )
    fund.add_argument("address", metavar="ADDRESS", help="the address to fund")
    fund.add_argument("--value", default="1ether", help="amount: wei, or with a unit (default 1ether)")
    fund.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for inclusion")
    fund.set_defaults(func=cmd_fund)

    deploy = sub.add_parser("deploy", parents=[common, chain, keys_deployer], help="deploy the contracts")
    deploy.add_argument("--stack", default="era,erc4337", help="era, erc4337 or both (comma-separated)")
    deploy.add_argument("--out", default="deployment.json", help="where to write the deployment JSON")
    deploy.add_argument("--era-factory", help="an AAFactory already on the chain (ZKsync nodes)")
    deploy.add_argument("--test-token", action="store_true", help="also deploy the mintable test ERC-20")
    deploy.set_defaults(func=cmd_deploy)

    passkey = sub.add_parser("passkey", help="create and register headless passkeys").add_subparsers(
        dest="passkey_command", metavar="ACTION"
    )
    create = passkey.add_parser("create", parents=[common], help="create a passkey key file (mode 0600)")
    create.add_argument("--out", required=True, help="key file to write")
    create.add_argument("--rp-id", default="localhost", help="relying party id (default localhost)")
    create.add_argument(
        "--origin", default="http://localhost:5173", help="the origin clientDataJSON will carry"
    )
    create.add_argument("--user-name", default="", help="user name")
    create.add_argument(
        "--passphrase-env", metavar="VAR", help="encrypt with the passphrase in this env variable"
    )
    create.add_argument("--force", action="store_true", help="overwrite an existing file")
    create.set_defaults(func=cmd_passkey_create)
    register = passkey.add_parser(
        "register", parents=[common, keys], help="relying-party registration ceremony"
    )
    register.add_argument(
        "--store", required=True, help="relying-party store: file path, sqlite:///path or postgresql://..."
    )
    register.add_argument("--user-name", help="user name in the options (default the rp id)")
    register.add_argument("--rp-name", default="sso-signer", help="relying party display name")
    register.set_defaults(func=cmd_passkey_register)

    acct = sub.add_parser("account", help="create and manage the passkey's smart account").add_subparsers(
        dest="account_command", metavar="ACTION"
    )
    a_create = acct.add_parser(
        "create", parents=[common, chain, keys_deployer, account], help="create the account"
    )
    a_create.add_argument(
        "--counterfactual", action="store_true", help="ERC-4337: only compute the address (its first "
        "UserOperation creates it)",
    )  # fmt: skip
    a_create.set_defaults(func=cmd_account_create)
    a_show = acct.add_parser("show", parents=[common, chain, keys, account], help="address and balance")
    a_show.set_defaults(func=cmd_account_show)
    a_add = acct.add_parser(
        "add-passkey",
        parents=[common, chain, keys, account],
        help="register another passkey (signed by --key)",
    )
    a_add.add_argument("--new-key", required=True, help="key file of the passkey to add")
    a_add.add_argument(
        "--new-passphrase-env", metavar="VAR", help="env variable with the new key's passphrase"
    )
    a_add.add_argument("--timeout", type=seconds, default=60.0, help="seconds to wait for inclusion")
    a_add.set_defaults(func=cmd_account_add_passkey)
    a_remove = acct.add_parser(
        "remove-passkey",
        parents=[common, chain, keys, account],
        help="remove a passkey (signed by --key); refuses to remove the last way in unless --force",
        description="Remove a passkey from the account. Refused when no other passkey, owner or validator "
        "could sign for the account afterwards (that would lock it for good), unless --force.",
    )
    a_remove.add_argument(
        "--credential-id",
        required=True,
        help="base64url credential id to remove (write --credential-id=ID: an id may start with '-')",
    )
    a_remove.add_argument("--origin", help="its origin (default: the signing passkey's)")
    a_remove.add_argument(
        "--force",
        action="store_true",
        help="remove it even if it is the account's last way in (no other passkey, owner or validator): "
        "the account is then locked for good and its funds are lost",
    )
    a_remove.add_argument("--timeout", type=seconds, default=60.0, help="seconds to wait for inclusion")
    a_remove.set_defaults(func=cmd_account_remove_passkey)

    send = sub.add_parser("send", parents=[common, chain, keys, account], help="send ETH or a call")
    send.add_argument("--to", required=True, help="recipient / contract")
    send.add_argument("--value", default="0", help="amount: wei, or with a unit (0.1ether, 5gwei)")
    send.add_argument("--data", help="0x-hex calldata")
    send.add_argument("--timeout", type=seconds, default=60.0, help="seconds to wait for inclusion")
    send.add_argument("--paymaster", help="Era: a paymaster that pays the fee (general flow)")
    send.add_argument(
        "--sign-only", action="store_true", help="Era: sign, check with the deployed validator (eth_call), "
        "print the raw 0x71 bytes; do not send (works on any chain with the validator)",
    )  # fmt: skip
    send.set_defaults(func=cmd_send)

    for name, func, text in (
        ("sign-message", cmd_sign_message, "ERC-1271 (ERC-7739) signature of a message"),
        ("verify-message", cmd_verify_message, "check a signature with the account's isValidSignature"),
    ):
        parents = [common, chain, keys, account] if name == "sign-message" else [common, chain]
        cmd = sub.add_parser(name, parents=parents, help=text)
        cmd.add_argument("--message", help="message text (UTF-8)")
        cmd.add_argument("--message-hex", help="message bytes as 0x-hex")
        if name == "verify-message":
            cmd.add_argument("--account", required=True, help="the account address")
            cmd.add_argument("--signature", required=True, help="0x-hex signature")
        cmd.set_defaults(func=func)

    demo = sub.add_parser("demo", parents=[common], help="the whole flow on a local chain it starts")
    demo.add_argument("--amount", default="0.01ether", help="amount of the demo transfer")
    demo.set_defaults(func=cmd_demo)
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser) -> None:
    """Give each sub-command its one-line help as description, and a group without an action a usage error."""
    for action in parser._actions:  # argparse keeps sub-commands only here
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for choice in action._choices_actions:
            child = action.choices[choice.dest]
            if child.description is None and choice.help:
                child.description = choice.help[0].upper() + choice.help[1:] + "."
            _describe(child)
        if parser.prog != "sso-signer":
            parser.set_defaults(func=_needs_action(parser.prog, tuple(action.choices)))


def _needs_action(prog: str, actions: tuple[str, ...]) -> Command:
    def command(args: argparse.Namespace, out: Reporter) -> None:
        raise CliUsageError(f"`{prog}` needs an action: {', '.join(actions)} (see `{prog} --help`)")

    return command


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sso-signer`` and return its exit code (see :class:`~sso_signer.cli.ExitCode`).

    Every failure becomes one error report and a documented exit code, never a traceback (unless
    ``--debug``); a stdout closed early (``| head -1``) ends the command quietly, as Unix tools do.
    """
    try:
        parser = build_parser()
        _Parser.json_errors = "--json" in (sys.argv[1:] if argv is None else list(argv))
        args = parser.parse_args(argv)
    except BrokenPipeError:
        return _stdout_closed()  # ``--help | head -1``
    reporter = Reporter(json_mode=bool(args.json), debug=bool(args.debug))
    func: Command = args.func
    try:
        check_text_arguments(args)
        for warning in key_file_warnings(args):
            reporter.warn(warning)
        func(args, reporter)
    except KeyboardInterrupt as exc:
        reporter.error(exc, ExitCode.INTERRUPTED)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return _stdout_closed()
    except Exception as exc:  # noqa: BLE001 - the top level turns every failure into a report and a code
        code = exit_code_for(exc)
        try:
            reporter.error(exc, code)
        except BrokenPipeError:
            return _stdout_closed()
        return int(code)
    return int(ExitCode.OK)


def _stdout_closed() -> int:
    """The reader of stdout went away: stop without a word (nobody is listening) and without a traceback.

    stdout is pointed at /dev/null so that the interpreter's final flush does not fail a second time.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file (tests capture it): nothing to flush at exit
    return int(ExitCode.BROKEN_PIPE)
