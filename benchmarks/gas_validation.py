"""On-chain gas of one passkey validation: the Era WebAuthValidator per part, and the ERC-4337 validator.

Not a test: it prints figures. Run from the repository root after ``bash scripts/build-contracts.sh``::

    .venv/bin/python benchmarks/gas_validation.py [--json]

* Era: :mod:`gas_era_validation` (the contracts helper's probe): ``validateSignature`` measured with
  ``gasleft()`` inside one ``eth_call``, split into ABI decoding, JSON parsing, JSON fields, base64url,
  sha256 and the P-256 precompile, plus ``validateTransaction`` with the SDK's ``customSignature``.
* ERC-4337: the ``WebAuthnValidator`` module, with the *same* fat signatures (same shapes, same bytes): an
  EOA installs it with the passkey (``onInstall``; the EOA stands in for the account, keys being kept per
  ``msg.sender``), then ``eth_estimateGas`` of ``webAuthVerify(hash, fat)`` from that EOA. Execution gas =
  estimate - 21,000 - calldata (4 gas per zero byte, 16 per non-zero byte; EIP-7623's floor does not bind
  at these sizes, checked below). Each signature is first checked to verify (``eth_call`` returns true).

Shapes: a Chromium/Firefox assertion (``crossOrigin: false``), Safari's (no ``crossOrigin``), Chromium's
with ``other_keys_can_be_added_here``, and the official vector1 (a real authenticator) when
/work/shared/vectors is present. EVM figures are anvil's (EIP-7951 P-256 precompile: 6,900 gas); ZKsync Era
charges its P256Verify circuit 12,000 and meters the rest in its own units.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

import gas_era_validation as era
from _common import print_table
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sso_signer._artifacts import load_artifact
from sso_signer.node import AnvilNode
from sso_signer.sso import validator_init_data

INTRINSIC = 21_000


@dataclass(frozen=True, slots=True)
class Erc4337Result:
    """The ERC-4337 validator's figures for one shape."""

    name: str
    fat_signature_bytes: int
    valid: bool
    estimate: int
    calldata_gas: int
    execution: int
    floor_bound: bool


def _calldata_gas(data: bytes) -> tuple[int, int]:
    """(standard calldata gas, EIP-7623 floor data gas) of ``data``."""
    zeros = data.count(0)
    tokens = zeros + 4 * (len(data) - zeros)
    return 4 * tokens, 10 * tokens


def measure_erc4337() -> list[Erc4337Result]:
    """Deploy the ERC-4337 WebAuthnValidator on a fresh anvil and estimate webAuthVerify for every shape."""
    artifact = load_artifact("WebAuthnValidator")
    with AnvilNode(hardfork="osaka") as node:
        eth = node.eth
        results = []
        # One EOA per shape: each stands in for an account holding that one passkey.
        deployer: LocalAccount = Account.create()
        node.set_balance(deployer.address, 10**20)
        validator, _ = eth.deploy_contract(deployer, artifact.deploy_data())
        for shape in era._shapes(node.chain_id, deployer.address):
            owner: LocalAccount = Account.create()
            node.set_balance(owner.address, 10**18)
            init = validator_init_data(shape.credential_id, shape.key, shape.origin, max_origin_length=255)
            eth.send_transaction(owner, validator, artifact.encode_call("onInstall", init))
            fat = shape.fat.encode()
            data = artifact.encode_call("webAuthVerify", shape.signed_hash, fat)
            call = {"from": owner.address, "to": validator, "data": data}
            (valid,) = artifact.decode_output("webAuthVerify", eth.call(call))
            estimate = eth.estimate_gas(call)
            standard, floor = _calldata_gas(data)
            results.append(
                Erc4337Result(
                    name=shape.name,
                    fat_signature_bytes=len(fat),
                    valid=bool(valid),
                    estimate=estimate,
                    calldata_gas=standard,
                    execution=estimate - INTRINSIC - standard,
                    floor_bound=INTRINSIC + floor >= estimate,
                )
            )
        return results


def print_figures(era_results: list[era.Result], erc4337_results: list[Erc4337Result]) -> None:
    """Era per-part table (from gas_era_validation), then the side-by-side table of both validators."""
    era._print_table(era_results)
    by_name = {r.name: r for r in erc4337_results}
    rows: list[list[object]] = []
    for r in era_results:
        other = by_name.get(r.name)
        rows.append(
            [
                r.name,
                r.fat_signature_bytes,
                r.validate_signature,
                r.precompile,
                other.execution if other else "-",
                ("yes" if other.valid else "NO") if other else "-",
                other.estimate if other else "-",
            ]
        )
    print_table(
        "One passkey validation, same fat signatures, both validators (EVM gas on anvil osaka)",
        [
            "assertion shape",
            "fat bytes",
            "Era validateSignature",
            "of it P-256",
            "ERC-4337 webAuthVerify exec",
            "valid",
            "4337 tx estimate",
        ],
        rows,
    )
    if any(r.floor_bound for r in erc4337_results):
        print("warning: the EIP-7623 calldata floor binds for a shape: its execution figure is a lower bound")


def main() -> int:
    parser = argparse.ArgumentParser(description="on-chain passkey validation gas")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    era_results = era.measure()
    erc4337_results = measure_erc4337()
    if args.json:
        print(
            json.dumps(
                {"era": [asdict(r) for r in era_results], "erc4337": [asdict(r) for r in erc4337_results]},
                indent=1,
            )
        )
    else:
        print_figures(era_results, erc4337_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
