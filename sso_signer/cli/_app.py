"""``sso-signer``: the command line for the whole passkey flow (see docs/cli.md).

Each subcommand is a function ``(args, reporter) -> None`` that reports its result through the
:class:`~sso_signer.cli._output.Reporter` and raises typed errors; :func:`main` turns them into exit codes.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, cast

from sso_signer import __version__
from sso_signer._codec import b64url_encode
from sso_signer.cli._context import (
    ENV_DEPLOYMENT,
    ChainContext,
    format_ether,
    load_passkey,
    parse_data,
    parse_wei,
    passphrase_from_env,
    resolve_deployer,
)
from sso_signer.cli._errors import NodeExited
from sso_signer.cli._output import CliUsageError, ExitCode, Reporter, exit_code_for

if TYPE_CHECKING:
    from sso_signer.erc4337 import BundlerClient
    from sso_signer.rpc import Receipt
    from sso_signer.sso import EraAccount

__all__ = ["build_parser", "main"]

ENV_BUNDLER = "SSO_SIGNER_BUNDLER"
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
        _serve_stack(args, out)
        return
    node: LocalNode
    if kind == "anvil-zksync":
        node = AnvilZkSyncNode(port=args.port, chain_id=args.chain_id)
    else:
        node = AnvilNode(port=args.port, chain_id=args.chain_id)
    out.step(f"starting {kind}")
    with node:
        out.result(
            {"kind": kind, "url": node.url, "chain_id": node.chain_id, "pid": node.pid},
            summary=f"{kind} is running at {node.url} (chain {node.chain_id}); Ctrl-C stops it",
        )
        if _wait_for_interrupt(lambda: node.running):
            out.step("stopping")
            return
    raise NodeExited(f"{kind} exited on its own:\n{node.log_text(tail=20)}")


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
    out.step("starting anvil, deploying EntryPoint v0.8 + the SSO contracts, starting Alto")
    with LocalErc4337Stack(test_token=True, **anvil_args) as stack:
        node = stack.node
        assert node is not None  # the stack is running
        validator, _ = stack.eth.deploy_contract(
            stack.deployer, load_artifact("WebAuthValidator").deploy_data()
        )
        chain_id = stack.deployment.chain_id
        era = EraNetwork(name="local", chain_id=chain_id, passkey_validator=validator, rpc_url=node.url)
        deployment = Deployment(chain_id, node.url, era, stack.deployment, stack.bundler_url)
        deployment.save(args.out)
        out.result(
            {
                "kind": "anvil",
                "url": node.url,
                "chain_id": chain_id,
                "pid": node.pid,
                "bundler_url": stack.bundler_url,
                "deployment": os.path.abspath(args.out),
            },
            summary=f"anvil at {node.url} (chain {chain_id}), Alto at {stack.bundler_url}; "
            f"addresses in {args.out}; Ctrl-C stops both",
        )
        alto = stack.alto
        if _wait_for_interrupt(lambda: node.running and (alto is None or alto.running)):
            out.step("stopping")
            return
    raise NodeExited("anvil or Alto exited on its own")


def cmd_deploy(args: argparse.Namespace, out: Reporter) -> None:
    """Deploy the Era validator and/or the ERC-4337 stack and write the deployment JSON."""
    from sso_signer.cli._deploy import deploy_contracts

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

    passkey = HeadlessPasskey.generate(rp_id=args.rp_id, origin=args.origin, user_name=args.user_name)
    passphrase = passphrase_from_env(args)
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
    from sso_signer.webauthn import RelyingParty, open_store

    passkey = load_passkey(args)
    store = open_store(args.store)
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
    from sso_signer.webauthn import RelyingParty, open_store

    store = open_store(args.store)
    ctx.on_close(store.close)
    rp = RelyingParty(rp_id=passkey.rp_id, rp_name="sso-signer", origins=[passkey.origin], store=store)
    return RelyingPartyAssertionProvider(rp, passkey)


def _bundler(args: argparse.Namespace, ctx: ChainContext, entry_point: str) -> Any:
    from sso_signer.cli._accounts import MissingBundlerUrl
    from sso_signer.erc4337 import BundlerClient

    url = (
        args.bundler
        or os.environ.get(ENV_BUNDLER)
        or (ctx.deployment.bundler_url if ctx.deployment else None)
    )
    if not url:
        raise MissingBundlerUrl(
            "an ERC-4337 account needs a bundler: pass --bundler URL or set SSO_SIGNER_BUNDLER"
        )
    return BundlerClient(url, entry_point=entry_point)


def _require_erc4337(ctx: ChainContext) -> Any:
    from sso_signer.sso import InvalidDeployment

    if ctx.deployment is None:
        raise InvalidDeployment("an ERC-4337 account needs the deployment JSON: pass --deployment FILE")
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
    from sso_signer.cli._accounts import AccountNotFound
    from sso_signer.sso import EraAccount, find_account

    network = ctx.require_era()
    if address is None:
        address = find_account(ctx.client, network.passkey_validator, passkey.origin, passkey.credential_id)
    if address is None:
        raise AccountNotFound(
            f"passkey {b64url_encode(passkey.credential_id)} at {passkey.origin} has no Era account on chain "
            f"{network.chain_id} (validator {network.passkey_validator})"
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
    msa = _msa(args, ctx, passkey, args.address)
    result = msa.execute([(msa.deployment.webauthn_validator, 0, calldata)], timeout=args.timeout)
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
    """Remove a passkey from the account, in a transaction signed by the current passkey."""
    from sso_signer._codec import b64url_decode
    from sso_signer.sso import remove_passkey_calldata

    passkey = load_passkey(args)
    credential_id = b64url_decode(args.credential_id, field="--credential-id")
    origin = args.origin or passkey.origin
    calldata = remove_passkey_calldata(credential_id, origin)
    ctx = ChainContext.from_args(args)
    try:
        kind, address, tx = _change_passkeys(
            args,
            ctx,
            passkey,
            calldata,
            lambda era: era.remove_passkey(credential_id, origin, timeout=args.timeout),
        )
        out.result(
            {
                "kind": kind,
                "account": address,
                "removed_credential_id": args.credential_id,
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
                    from sso_signer.cli._errors import SignatureNotValid

                    raise SignatureNotValid(f"the Era validator refused the signature ({verdict.rule})")
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
            receipt = send_era_transaction(ctx.client, signed, timeout=args.timeout)
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

    from sso_signer.cli._accounts import AccountNotFound
    from sso_signer.cli._errors import SignatureNotValid
    from sso_signer.rpc import ExecutionReverted
    from sso_signer.sso import checksum_address, eip191_hash

    account = checksum_address(args.account, field="--account")
    message = _message(args)
    signature = parse_data(args.signature)
    digest = eip191_hash(message)
    ctx = ChainContext.from_args(args)
    try:
        if not ctx.client.get_code(account):
            raise AccountNotFound(f"{account} has no code: ERC-1271 needs a deployed account")
        data = bytes(keccak(text="isValidSignature(bytes32,bytes)"))[:4] + bytes(
            abi_encode(["bytes32", "bytes"], [digest, signature])
        )
        try:
            answer = ctx.client.call({"to": account, "data": data})
        except ExecutionReverted:
            answer = b""  # solady's off-chain path reverts on invalid signatures
        if answer[:4] != bytes.fromhex("1626ba7e"):
            raise SignatureNotValid(
                f"{account} rejected the signature (answer 0x{answer[:4].hex() or 'revert'})"
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
        epilog="Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 configuration / missing tool, "
        "4 node or bundler error. See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"sso-signer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    node = sub.add_parser("node", help="local chains").add_subparsers(dest="node_command", metavar="ACTION")
    node.required = True
    start = node.add_parser("start", parents=[common], help="start anvil / anvil-zksync until Ctrl-C")
    start.add_argument("--kind", choices=("auto", "anvil", "anvil-zksync"), default="anvil")
    start.add_argument("--port", type=int, help="fixed port (default: a free one)")
    start.add_argument("--chain-id", type=int, help="chain id (default: the node's)")
    start.add_argument(
        "--with-bundler", action="store_true", help="also deploy the contracts and run Alto (anvil only); "
        "writes the deployment JSON (with the bundler URL) to --out",
    )  # fmt: skip
    start.add_argument("--out", default="deployment.json", help="deployment JSON for --with-bundler")
    start.set_defaults(func=cmd_node_start)

    deploy = sub.add_parser("deploy", parents=[common, chain, keys_deployer], help="deploy the contracts")
    deploy.add_argument("--stack", default="era,erc4337", help="era, erc4337 or both (comma-separated)")
    deploy.add_argument("--out", default="deployment.json", help="where to write the deployment JSON")
    deploy.add_argument("--era-factory", help="an AAFactory already on the chain (ZKsync nodes)")
    deploy.add_argument("--test-token", action="store_true", help="also deploy the mintable test ERC-20")
    deploy.set_defaults(func=cmd_deploy)

    passkey = sub.add_parser("passkey", help="headless passkeys").add_subparsers(dest="passkey_command")
    passkey.required = True
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

    acct = sub.add_parser("account", help="passkey accounts").add_subparsers(dest="account_command")
    acct.required = True
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
    a_add.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for inclusion")
    a_add.set_defaults(func=cmd_account_add_passkey)
    a_remove = acct.add_parser(
        "remove-passkey", parents=[common, chain, keys, account], help="remove a passkey (signed by --key)"
    )
    a_remove.add_argument(
        "--credential-id",
        required=True,
        help="base64url credential id to remove (write --credential-id=ID: an id may start with '-')",
    )
    a_remove.add_argument("--origin", help="its origin (default: the signing passkey's)")
    a_remove.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for inclusion")
    a_remove.set_defaults(func=cmd_account_remove_passkey)

    send = sub.add_parser("send", parents=[common, chain, keys, account], help="send ETH or a call")
    send.add_argument("--to", required=True, help="recipient / contract")
    send.add_argument("--value", default="0", help="amount: wei, or with a unit (0.1ether, 5gwei)")
    send.add_argument("--data", help="0x-hex calldata")
    send.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for inclusion")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sso-signer`` and return its exit code (see :class:`~sso_signer.cli.ExitCode`)."""
    parser = build_parser()
    _Parser.json_errors = "--json" in (sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(argv)
    reporter = Reporter(json_mode=bool(args.json), debug=bool(args.debug))
    func: Command = args.func
    try:
        func(args, reporter)
    except KeyboardInterrupt as exc:
        reporter.error(exc, ExitCode.INTERRUPTED)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - the top level turns every failure into a report and a code
        code = exit_code_for(exc)
        reporter.error(exc, code)
        return int(code)
    return int(ExitCode.OK)
