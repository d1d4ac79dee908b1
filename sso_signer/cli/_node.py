"""``node start|wait``, ``fund``, ``deploy``: a local chain (and bundler), ETH on it, the contracts on it."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

from sso_signer.cli._context import (
    ChainContext,
    check_out_path,
    format_ether,
    parse_wei,
    resolve_deployer,
    writing,
)
from sso_signer.cli._deploy import (
    Deployment,
    deploy_contracts,
    deployment_problem,
    local_stack_deployment,
    wait_for_deployment,
)
from sso_signer.cli._output import Reporter
from sso_signer.exceptions import CliUsageError, ErrorCode, NodeStartFailed, RemoteError
from sso_signer.local_erc4337 import FUNDER_INDEX, LocalErc4337Stack
from sso_signer.local_erc4337 import fund as fund_from_dev_account
from sso_signer.node import AnvilNode, AnvilZkSyncNode, LocalNode
from sso_signer.sponsor import _require_extra
from sso_signer.sso._signature import checksum_address

__all__ = ["deploy", "fund", "node_start", "node_wait"]


def node_start(args: argparse.Namespace, out: Reporter) -> None:
    """Start a local chain and keep it running until Ctrl-C (or SIGTERM)."""
    kind = args.kind
    if kind == "auto":
        kind = "anvil-zksync" if AnvilZkSyncNode.available() else "anvil"
    # SIGTERM stops the node as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.with_bundler:
        if kind != "anvil":
            raise CliUsageError("--with-bundler runs the ERC-4337 stack on anvil (use --kind anvil)")
        check_out_path(args.out or "deployment.json")  # before minutes of setup, not after
        _serve_stack(args, out)
        return
    if getattr(args, "with_sponsor", False):
        raise CliUsageError("--with-sponsor needs --with-bundler (the sponsor pays for UserOperations)")
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


def _save_when_ready(deployment: Deployment, path: str) -> None:
    """Write the deployment file (atomically) only once every service it names answers."""
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
    anvil_args = {key: getattr(args, key) for key in ("port", "chain_id") if getattr(args, key) is not None}
    out_path = args.out or "deployment.json"
    _remove_stale(out_path)
    sponsor = bool(getattr(args, "with_sponsor", False))
    if sponsor:  # before the "starting" line: nothing starts without the extra
        _require_extra("starlette", "uvicorn")
    out.step("starting anvil, deploying EntryPoint v0.8 + the SSO contracts, starting Alto")
    # The local node's sponsor pays for anyone's operations: an explicit opt-in, for local development only.
    stack_args = {"sponsor": sponsor, "sponsor_any_sender": sponsor, **anvil_args}
    with LocalErc4337Stack(test_token=True, **stack_args) as stack, _owned_file(out_path):
        deployment = local_stack_deployment(stack)
        node = stack.node
        chain_id = deployment.chain_id
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
                **({"sponsor_url": stack.sponsor_url, "paymaster": stack.paymaster} if sponsor else {}),
            },
            summary=f"ready: anvil at {node.url} (chain {chain_id}), Alto at {stack.bundler_url}"
            + (f", sponsor service at {stack.sponsor_url} (paymaster {stack.paymaster})" if sponsor else "")
            + f"; addresses in {out_path}; Ctrl-C stops them",
        )
        alto = stack.alto
        if _wait_for_interrupt(lambda: node.running and (alto is None or alto.running)):
            out.step("stopping")
            return
    raise RemoteError("anvil or Alto exited on its own", rule=ErrorCode.NODE_EXITED)


def node_wait(args: argparse.Namespace, out: Reporter) -> None:
    """Block until ``node start --out FILE`` has written FILE and every service in it answers."""
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


def fund(args: argparse.Namespace, out: Reporter) -> None:
    """Send ETH to an address from anvil's funded dev account (local chains only)."""
    address = checksum_address(args.address, field="ADDRESS")
    value = parse_wei(args.value)
    with ChainContext.from_args(args) as ctx:
        out.step(f"sending {format_ether(value)} to {address} from dev account #{FUNDER_INDEX}")
        receipt = fund_from_dev_account(ctx.client, address, value, timeout=args.timeout)
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


def deploy(args: argparse.Namespace, out: Reporter) -> None:
    """Deploy the Era validator and/or the ERC-4337 stack and write the deployment JSON."""
    check_out_path(args.out)  # before paying for a deployment whose addresses could not be written
    with ChainContext.from_args(args) as ctx:
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
