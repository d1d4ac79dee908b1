"""Passkey-validated UserOperations on anvil: N accounts, each with its own passkey, through EntryPoint v0.8.

Not a test: it prints figures. Run from the repository root after ``bash scripts/build-contracts.sh``::

    .venv/bin/python benchmarks/passkey_user_operations.py [--accounts 100] [--per-bundle 50] [--json]

The on-chain counterpart of benchmarks/concurrency.py: here every operation is validated on chain by the
``WebAuthnValidator`` (P-256 precompile included). Set-up (not timed): anvil, EntryPoint and the SSO ERC-4337
contracts, N ``ModularSmartAccount`` s created by direct factory transactions, each funded. Timed stages:

* ``build``: ``Erc4337Account.build_user_operation`` per account with explicit gas and fees (one JSON-RPC
  batch each: account code + EntryPoint nonce; no bundler estimation);
* ``sign``: ``sign_user_operation`` (userOpHash, headless passkey assertion, preflight, ``validator ‖ fat``);
* ``submit``: ``EntryPoint.handleOps`` bundles of ``per_bundle`` operations sent by a bundler EOA with
  ``EthClient.send_transaction`` and mined (anvil automine), every ``UserOperationEvent`` checked for success.

No bundler process: Alto's own simulation and batching would be measured instead of the SDK and the chain.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from _common import emit, print_table
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from sso_signer.accounts import Erc4337Account, deploy_msa_contracts
from sso_signer.erc4337 import BundlerClient, UserOperation
from sso_signer.erc4337._bundler import GasPrice
from sso_signer.node import AnvilNode
from sso_signer.sso import account_salt
from sso_signer.webauthn import HeadlessPasskey

DEAD = "0x000000000000000000000000000000000000dEaD"
PACKED_OP = "(address,uint256,bytes,bytes,bytes32,uint256,bytes32,bytes,bytes)"
HANDLE_OPS = bytes(keccak(text=f"handleOps({PACKED_OP}[],address)"))[:4]
USER_OPERATION_EVENT = bytes(
    keccak(text="UserOperationEvent(bytes32,address,address,uint256,bool,uint256,uint256)")
)
GAS = {"call_gas_limit": 50_000, "verification_gas_limit": 250_000, "pre_verification_gas": 60_000}
PRICE = GasPrice(max_fee_per_gas=3 * 10**9, max_priority_fee_per_gas=10**9)


@dataclass(frozen=True, slots=True)
class Figures:
    """Operations per second per stage, and gas."""

    accounts: int
    per_bundle: int
    build_rate: float
    sign_rate: float
    submit_rate: float
    overall_rate: float
    succeeded: int
    gas_per_operation: float


def _handle_ops(ops: list[UserOperation], beneficiary: str) -> bytes:
    return HANDLE_OPS + abi_encode([f"{PACKED_OP}[]", "address"], [[op.packed() for op in ops], beneficiary])


def measure(accounts_n: int, per_bundle: int) -> Figures:
    """Set up ``accounts_n`` accounts, then build, sign and submit one operation for each."""
    with AnvilNode(hardfork="osaka") as node:
        eth = node.eth
        deployer: LocalAccount = Account.create()
        submitter: LocalAccount = Account.create()
        for eoa in (deployer, submitter):
            node.set_balance(eoa.address, 10**24)
        deployment = deploy_msa_contracts(eth, deployer)
        # Never called: gas and fees are given, so no bundler round trip is made.
        bundler = BundlerClient("http://127.0.0.1:9", entry_point=deployment.entry_point)
        accounts = []
        for i in range(accounts_n):
            passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
            account, _ = Erc4337Account.deploy(
                deployment=deployment,
                eth=eth,
                bundler=bundler,
                credential=passkey,
                salt=account_salt(f"bench-{i}"),
                deployer=deployer,
            )
            node.set_balance(account.address, 10**20)
            accounts.append(account)

        start = time.perf_counter()
        ops = [a.build_user_operation([(DEAD, 1, b"")], gas_price=PRICE, gas=GAS) for a in accounts]
        built = time.perf_counter()
        signed = [a.sign_user_operation(op) for a, op in zip(accounts, ops, strict=True)]
        signed_at = time.perf_counter()
        succeeded, gas_used = 0, 0
        for first in range(0, len(signed), per_bundle):
            bundle = signed[first : first + per_bundle]
            # Gas given: eth_estimateGas would execute the whole bundle several times (binary search).
            receipt = eth.send_transaction(
                submitter,
                to=deployment.entry_point,
                data=_handle_ops(bundle, submitter.address),
                gas=100_000 + len(bundle) * (GAS["verification_gas_limit"] + GAS["call_gas_limit"]),
            )
            gas_used += receipt.gas_used
            for log in receipt.logs:
                if log.topics and log.topics[0] == USER_OPERATION_EVENT:
                    succeeded += int.from_bytes(log.data[32:64], "big")
        done = time.perf_counter()
    n = len(signed)
    return Figures(
        accounts=n,
        per_bundle=per_bundle,
        build_rate=n / (built - start),
        sign_rate=n / (signed_at - built),
        submit_rate=n / (done - signed_at),
        overall_rate=n / (done - start),
        succeeded=succeeded,
        gas_per_operation=gas_used / n,
    )


def print_figures(f: Figures) -> None:
    """Print the table of :func:`measure`."""
    print_table(
        f"{f.accounts} passkey UserOperations (one per account), handleOps bundles of {f.per_bundle}, anvil",
        ["stage", "operations/s"],
        [
            ["build (1 batch: code + nonce; gas given)", f.build_rate],
            ["sign (passkey assertion + preflight)", f.sign_rate],
            ["submit handleOps + mined", f.submit_rate],
            ["all three", f.overall_rate],
        ],
    )
    print(
        f"succeeded on chain: {f.succeeded}/{f.accounts}; gas per operation (bundle share): "
        f"{f.gas_per_operation:,.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="passkey UserOperations through EntryPoint.handleOps")
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument(
        "--per-bundle", type=int, default=50, help="operations per handleOps (at most 80: block gas limit)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = measure(args.accounts, args.per_bundle)
    emit(figures, print_figures, as_json=args.json)
    return 0 if figures.succeeded == figures.accounts else 1


if __name__ == "__main__":
    sys.exit(main())
