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
../shared/vectors (beside the repository) is present. EVM figures are anvil's (EIP-7951 P-256
precompile: 6,900 gas); ZKsync Era charges its P256Verify circuit 12,000 and meters the rest in its own units.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any

import gas_era_validation as era
from _common import print_table
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sso_signer import load_artifact
from sso_signer.accounts import Erc4337Account
from sso_signer.exceptions import ToolNotFound
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.node import AnvilNode
from sso_signer.rpc import EthClient
from sso_signer.sso import FatSignature, account_salt, validator_init_data
from sso_signer.webauthn import HeadlessPasskey

INTRINSIC = 21_000
ORIGIN_255_NAME = "255-byte origin"
VECTOR1 = "vector1 (real authenticator)"

# The official contracts' figures, recorded as issue #19 measured them: anvil --hardfork osaka, the official
# zksync-sso-clave-contracts WebAuthValidator and zksync-sso ERC-4337 contracts built as their repositories
# build them, same assertions, same EntryPoint v0.8 and Alto. EVM gas; "execution" = eth_estimateGas - 21,000
# - calldata gas. None of them can be rebuilt here (their sources and toolchains are not on this machine).
OFFICIAL_SOURCE = "issue #19 (official contracts on anvil osaka, same assertions, EntryPoint v0.8, Alto)"
OFFICIAL: tuple[tuple[str, int], ...] = (
    ("Era validateSignature execution, localhost origin (cdj 134 B)", 57_043),
    ("Era validateSignature execution, auth-test.zksync.dev (cdj 141 B)", 58_646),
    ("Era validateSignature execution, Android origin (cdj 177 B)", 67_096),
    ("Era validateSignature execution, 229-byte origin (cdj 342 B)", 105_441),
    ("ERC-4337 validateUserOp execution, localhost (cdj 134 B)", 59_142),
    ("ERC-4337 validateUserOp execution, 255-byte origin", 113_108),
    ("create account + first transfer (UserOperation actualGasUsed)", 584_104),
    ("single transfer from a deployed account (actualGasUsed)", 172_497),
    ("create account with an EOA owner validator installed", 650_625),
)
ISSUE_COLUMNS = ("what", "official", "ours", "ratio")
# Which measured shape each validator row is.
ROW_SHAPES = {
    OFFICIAL[0][0]: VECTOR1,
    OFFICIAL[1][0]: "browser (Chromium/Firefox, crossOrigin false)",
    OFFICIAL[2][0]: era.ANDROID_NAME,
    OFFICIAL[3][0]: era.LONG_ORIGIN_NAME,
    OFFICIAL[4][0]: VECTOR1,
    OFFICIAL[5][0]: ORIGIN_255_NAME,
}


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
    validate_user_op: int


def _calldata_gas(data: bytes) -> tuple[int, int]:
    """(standard calldata gas, EIP-7623 floor data gas) of ``data``."""
    zeros = data.count(0)
    tokens = zeros + 4 * (len(data) - zeros)
    return 4 * tokens, 10 * tokens


def _execution(eth: EthClient, call: dict[str, Any]) -> int:
    """Execution gas of a call: eth_estimateGas - 21,000 - standard calldata gas."""
    return eth.estimate_gas(call) - INTRINSIC - _calldata_gas(call["data"])[0]


def _origin_255_shape(chain_id: int) -> era.Shape:
    """The longest origin the ERC-4337 validator registers (255 bytes), in a Chromium-style assertion."""
    origin = era.long_origin(255)
    tx = era._transaction(chain_id, "0x000000000000000000000000000000000000bEEF")
    passkey = HeadlessPasskey.generate(rp_id=era.RP_ID, origin=origin, credential_id=b"\x25" * 20)
    fat = FatSignature.from_assertion(passkey.sign(tx.signed_hash()))
    key = passkey.public_key
    return era.Shape(ORIGIN_255_NAME, tx.signed_hash(), fat, passkey.credential_id, key, origin, tx)


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
        # The Era shapes first (same bytes on both validators), then the 255-byte origin (ERC-4337 only).
        for shape in [*era._shapes(node.chain_id, deployer.address), _origin_255_shape(node.chain_id)]:
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
            # validateUserOp as the account calls it (the 20-byte validator prefix already stripped).
            op = (owner.address, 0, b"", b"", bytes(32), 0, bytes(32), b"", fat)
            op_data = artifact.encode_call("validateUserOp", op, shape.signed_hash)
            op_call = {"from": owner.address, "to": validator, "data": op_data}
            (op_result,) = artifact.decode_output("validateUserOp", eth.call(op_call))
            results.append(
                Erc4337Result(
                    name=shape.name,
                    fat_signature_bytes=len(fat),
                    valid=bool(valid) and op_result == 0,
                    estimate=estimate,
                    calldata_gas=standard,
                    execution=estimate - INTRINSIC - standard,
                    floor_bound=INTRINSIC + floor >= estimate,
                    validate_user_op=_execution(eth, op_call),
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


def _fresh() -> str:
    address: str = Account.create().address
    return address


def measure_accounts() -> dict[str, int]:
    """The account rows of issue #19 through anvil + EntryPoint v0.8 + Alto (UserOperation actualGasUsed).

    A passkey account is created by its first UserOperation (a transfer), then sends a second transfer; a
    second account is created the same way with the EOAKeyValidator installed beside the passkey (one owner).
    Each account is funded first; the SDK estimates gas through Alto as it always does.
    """
    try:
        stack = LocalErc4337Stack(test_token=False).start()
    except ToolNotFound as exc:
        print(f"account rows not measured: anvil, node or Alto missing ({exc})", file=sys.stderr)
        return {}
    try:
        deployment, eth = stack.deployment, stack.eth
        figures: dict[str, int] = {}
        passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
        account = Erc4337Account.counterfactual(
            deployment=deployment, eth=eth, bundler=stack.bundler, credential=passkey, salt=account_salt()
        )
        eth.send_transaction(stack.funder, to=account.address, value=10**18)
        # Every transfer goes to a fresh address (it pays the new-account charge, as a first payment does).
        figures[OFFICIAL[6][0]] = account.send_calls([(_fresh(), 12345, b"")]).actual_gas_used
        figures[OFFICIAL[7][0]] = account.send_calls([(_fresh(), 12345, b"")]).actual_gas_used
        if deployment.eoa_validator is not None:
            owner = Account.create().address
            eoa_install = abi_encode(["address[]"], [[owner]])
            with_eoa = Erc4337Account.counterfactual(
                deployment=deployment,
                eth=eth,
                bundler=stack.bundler,
                credential=HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173"),
                salt=account_salt(),
                extra_modules=[(deployment.eoa_validator, eoa_install)],
            )
            eth.send_transaction(stack.funder, to=with_eoa.address, value=10**18)
            figures[OFFICIAL[8][0]] = with_eoa.send_calls([(_fresh(), 12345, b"")]).actual_gas_used
        return figures
    finally:
        stack.stop()


def issue_rows(
    era_results: list[era.Result], erc4337_results: list[Erc4337Result], accounts: dict[str, int]
) -> list[list[object]]:
    """The rows of issue #19: what, official, this project, ratio (this project / official)."""
    era_by_name = {r.name: r.execution for r in era_results}
    erc4337_by_name = {r.name: r.validate_user_op for r in erc4337_results}
    rows: list[list[object]] = []
    for what, official in OFFICIAL:
        shape = ROW_SHAPES.get(what)
        if shape is None:
            ours: int | None = accounts.get(what)
        elif what.startswith("Era"):
            ours = era_by_name.get(shape)
        else:
            ours = erc4337_by_name.get(shape)
        ratio = f"{ours / official:.2f}" if ours else "-"
        rows.append([what, official, ours if ours else "not measured", ratio])
    return rows


def print_issue_table(rows: list[list[object]]) -> None:
    """The side-by-side table with the official figures."""
    print_table(
        "Official contracts vs sso-signer (EVM gas, anvil osaka; official figures: " + OFFICIAL_SOURCE + ")",
        ["what", "official", "sso-signer", "ratio"],
        rows,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="on-chain passkey validation gas")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--validators-only", action="store_true", help="skip the account rows (they start Alto: ~30 s)"
    )
    args = parser.parse_args()
    era_results = era.measure()
    erc4337_all = measure_erc4337()
    erc4337_results = [r for r in erc4337_all if r.name != ORIGIN_255_NAME]
    long_origin = [r for r in erc4337_all if r.name == ORIGIN_255_NAME]
    accounts = {} if args.validators_only else measure_accounts()
    rows = issue_rows(era_results, erc4337_all, accounts)
    if args.json:
        print(
            json.dumps(
                {
                    "era": [asdict(r) for r in era_results],
                    "erc4337": [asdict(r) for r in erc4337_results],
                    "erc4337_long_origin": [asdict(r) for r in long_origin],
                    "issue_19": [dict(zip(ISSUE_COLUMNS, r, strict=True)) for r in rows],
                },
                indent=1,
            )
        )
    else:
        print_figures(era_results, erc4337_results)
        print_issue_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
