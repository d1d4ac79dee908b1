"""Round trips: JSON-RPC HTTP requests needed to send one transaction, counted at the transport.

Not a test: it prints figures. Run from the repository root::

    .venv/bin/python benchmarks/round_trips.py [--no-bundler] [--json]

An httpx transport wrapper counts every HTTP request (a JSON-RPC batch is one request) and the methods it
carries; it forwards everything to the real node or bundler and answers nothing itself. Requests are split
into those up to and including the send (``eth_sendRawTransaction`` / ``eth_sendUserOperation``) and the
receipt polling after it.

* ``EOA on anvil``: ``EthClient.send_transaction`` (nonce, fees, gas filled by the client).
* ``Era passkey tx``: ``EraAccount.prepare`` + ``EraAccount.sign_transaction`` + ``eth_sendRawTransaction``
  against anvil. anvil does not know type 0x71 and refuses it at the send; the requests are counted anyway
  (the sequence is the one a ZKsync node gets; polling would follow on one).
* ``ERC-4337 passkey UserOperation``: ``Erc4337Account.execute`` through Alto on anvil
  (``LocalErc4337Stack``), node and bundler requests counted separately: the operation that creates a
  counterfactual account, the second operation of the same account object (the steady state: account state
  counted locally, gas price cached by the bundler client), the same with explicit ``gas=``, and the first
  operation of a fresh ``at()`` account object on fresh clients (state and price unknown).
* ``zksync-sso 0.4.1 (documented)``: the official SDK's sequence from shared/spec/sso-era.md §3.5 (viem's
  http transport sends one request per call unless batching is configured, and the SDK does not configure it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from _common import emit, print_table
from eth_account import Account

from sso_signer.accounts import EraAccount, EraNetwork
from sso_signer.exceptions import SsoSignerError
from sso_signer.node import AnvilNode
from sso_signer.rpc import EthClient
from sso_signer.webauthn import HeadlessPasskey

SEND_METHODS = ("eth_sendRawTransaction", "eth_sendUserOperation")
GOAL = 2  # issue #8 item 4: requests before receipt polling
DEAD = "0x000000000000000000000000000000000000dEaD"
# shared/spec/sso-era.md §3.5: what the published SDK calls to send one passkey transaction.
OFFICIAL_SEQUENCE = (
    "eth_chainId",
    "eth_getTransactionCount",
    "eth_getBlockByNumber",
    "eth_maxPriorityFeePerGas",
    "eth_estimateGas",
    "eth_sendRawTransaction",
)


class CountingTransport(httpx.BaseTransport):
    """Forwards every request to a real HTTP transport and records the JSON-RPC methods it carried."""

    def __init__(self, label: str, log: list[tuple[str, tuple[str, ...]]]) -> None:
        self.label = label
        self.log = log
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls = body if isinstance(body, list) else [body]
        self.log.append((self.label, tuple(str(call.get("method")) for call in calls)))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@dataclass(slots=True)
class Count:
    """The requests of one scenario."""

    name: str
    before_send: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    polling: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    note: str = ""

    @classmethod
    def split(cls, name: str, log: list[tuple[str, tuple[str, ...]]], note: str = "") -> Count:
        """Split ``log`` after the request that carried the send."""
        sends = [i for i, (_, methods) in enumerate(log) if any(m in SEND_METHODS for m in methods)]
        cut = sends[-1] + 1 if sends else len(log)
        return cls(name, list(log[:cut]), list(log[cut:]), note)


def _describe(requests: list[tuple[str, tuple[str, ...]]]) -> str:
    parts = []
    for label, methods in requests:
        text = methods[0] if len(methods) == 1 else "batch[" + ", ".join(methods) + "]"
        parts.append(f"{label}:{text}")
    return "; ".join(parts)


def _collapse(requests: list[tuple[str, tuple[str, ...]]]) -> str:
    """Collapse repeated polls (``node:eth_getTransactionReceipt x3``)."""
    out: list[tuple[str, int]] = []
    for item in [_describe([r]) for r in requests]:
        if out and out[-1][0] == item:
            out[-1] = (item, out[-1][1] + 1)
        else:
            out.append((item, 1))
    return "; ".join(text if times == 1 else f"{text} x{times}" for text, times in out)


def eoa_and_era() -> list[Count]:
    """The EOA send and the Era passkey send path on one anvil."""
    results = []
    with AnvilNode(hardfork="osaka") as node:
        log: list[tuple[str, tuple[str, ...]]] = []
        with EthClient(node.url, transport=CountingTransport("node", log)) as eth:
            sender = node.accounts[0]
            eth.send_transaction(sender, to=DEAD, value=1)
            results.append(Count.split("EOA tx on anvil (EthClient.send_transaction)", log))

            log.clear()
            passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
            # The account address only has to hold funds for the balance check; anvil has no SSO account.
            account = Account.create().address
            node.set_balance(account, 10**18)
            log.clear()
            network = EraNetwork(name="local", chain_id=node.chain_id, passkey_validator=DEAD)
            era = EraAccount(eth, network, account, passkey)
            plan = era.prepare(DEAD, 1)
            raw = era.sign_transaction(plan.transaction).serialize()
            try:
                eth.send_raw_transaction(raw)
                note = "accepted (unexpected on anvil)"
            except SsoSignerError as exc:
                note = f"anvil refuses 0x71 at the send ({type(exc).__name__}); counted anyway"
            results.append(Count.split("Era passkey tx (prepare + sign + send)", log, note))
    return results


def erc4337() -> list[Count]:
    """The passkey UserOperation path through Alto: creation, steady state, explicit gas, a fresh ``at()``."""
    from sso_signer.accounts import Erc4337Account
    from sso_signer.erc4337 import BundlerClient
    from sso_signer.local_erc4337 import LocalErc4337Stack
    from sso_signer.sso import account_salt

    results = []
    with LocalErc4337Stack(test_token=False) as stack:
        log: list[tuple[str, tuple[str, ...]]] = []

        def clients() -> tuple[EthClient, BundlerClient]:
            eth = EthClient(stack.node.url, transport=CountingTransport("node", log))
            bundler = BundlerClient(
                stack.bundler_url,
                transport=CountingTransport("bundler", log),
                entry_point=stack.deployment.entry_point,
            )
            return eth, bundler

        eth, bundler = clients()
        passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
        account = Erc4337Account.counterfactual(
            deployment=stack.deployment,
            eth=eth,
            bundler=bundler,
            credential=passkey,
            salt=account_salt("bench"),
        )
        stack.eth.send_transaction(stack.funder, to=account.address, value=10**18)
        note = "node + Alto"
        for name in (
            "ERC-4337 UserOp creating a counterfactual account",
            "ERC-4337 UserOp, steady state (2nd op, same account object)",
        ):
            log.clear()
            account.send_calls([(DEAD, 1, b"")])
            results.append(Count.split(name, log, note))
        op = account.build_user_operation([(DEAD, 1, b"")])
        gas = {
            "call_gas_limit": op.call_gas_limit,
            "verification_gas_limit": op.verification_gas_limit,
            "pre_verification_gas": op.pre_verification_gas,
        }
        log.clear()
        account.send_calls([(DEAD, 1, b"")], gas=gas)
        results.append(Count.split("ERC-4337 UserOp, steady state with explicit gas=", log, note))
        eth.close()
        bundler.close()

        eth, bundler = clients()  # cold: no cached gas price either
        fresh = Erc4337Account.at(
            account.address, deployment=stack.deployment, eth=eth, bundler=bundler, credential=passkey
        )
        log.clear()
        fresh.send_calls([(DEAD, 1, b"")])
        results.append(Count.split("ERC-4337 UserOp, 1st op of a fresh at() object", log, note))
        eth.close()
        bundler.close()
    return results


def official() -> Count:
    """The published SDK's documented sequence (not measured: no ZKsync node here)."""
    return Count(
        "zksync-sso 0.4.1 (documented, sso-era.md §3.5)",
        [("node", (m,)) for m in OFFICIAL_SEQUENCE],
        [],
        "one HTTP request per call; + eth_gasPrice if eth_maxPriorityFeePerGas is missing; "
        "receipt polling not counted",
    )


def measure(*, bundler: bool) -> list[Count]:
    """Run every scenario (the ERC-4337 one only with ``bundler``)."""
    runs: list[Callable[[], list[Count]]] = [eoa_and_era]
    if bundler:
        runs.append(erc4337)
    counts = [count for run in runs for count in run()]
    counts.append(official())
    return counts


def _count(requests: list[tuple[str, tuple[str, ...]]], label: str) -> int:
    return sum(1 for who, _ in requests if who == label)


def print_counts(counts: list[Count]) -> None:
    """Print the table and, below it, what each request carried."""
    rows: list[list[object]] = [
        [
            c.name,
            len(c.before_send),
            _count(c.before_send, "node"),
            _count(c.before_send, "bundler"),
            sum(len(m) for _, m in c.before_send),
            len(c.polling),
            "yes" if len(c.before_send) <= GOAL else "no",
        ]
        for c in counts
    ]
    print_table(
        "JSON-RPC round trips (HTTP requests) to send one transaction",
        ["path", "requests up to the send", "node", "bundler", "RPC calls in them", "polling after", "<= 2"],
        rows,
    )
    for c in counts:
        print(f"{c.name}:")
        print(f"  up to the send: {_describe(c.before_send)}")
        if c.polling:
            print(f"  polling:        {_collapse(c.polling)}")
        if c.note:
            print(f"  note:           {c.note}")
    print(f"\nGoal: at most {GOAL} requests before receipt polling (one batch, then the send).")


def main() -> int:
    parser = argparse.ArgumentParser(description="JSON-RPC round-trip counts")
    parser.add_argument("--no-bundler", action="store_true", help="skip the ERC-4337 path (needs Alto)")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args()
    counts = measure(bundler=not args.no_bundler)
    emit(counts, print_counts, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
