"""Gas of one passkey validation by the Era WebAuthValidator, measured on anvil (osaka).

Not a test: it prints figures. Run it from the repository root after ``bash scripts/build-contracts.sh``::

    .venv/bin/python benchmarks/gas_era_validation.py [--json]

How it measures: ``WebAuthValidationGasProbe`` (contracts/src/era) registers a passkey with itself as the
account, then, inside one ``eth_call``, calls ``validateSignature`` and runs the main parts alone on the same
input, reading ``gasleft()`` around each. The EVM figures are anvil's (EIP-7951 prices the P-256 precompile at
6,900 gas); ZKsync Era charges its P256Verify circuit 12,000 and meters everything else in its own units, so
treat the non-precompile part as a relative figure there.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from dataclasses import asdict, dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from sso_signer.exceptions import RpcError

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from sso_signer import b64url_decode, load_artifact  # noqa: E402
from sso_signer._artifacts import Artifact  # noqa: E402
from sso_signer.node import AnvilNode  # noqa: E402
from sso_signer.rpc import EthClient  # noqa: E402
from sso_signer.sso import FatSignature, era_custom_signature  # noqa: E402
from sso_signer.webauthn import HeadlessPasskey, P256PublicKey  # noqa: E402
from sso_signer.zksync import Eip712Transaction  # noqa: E402

VECTORS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "vectors" / "sso-era.json"
ORIGIN = "https://auth-test.zksync.dev"
RP_ID = "auth-test.zksync.dev"
ANDROID_NAME = "Android app origin"
ANDROID_ORIGIN = "android:apk-key-hash:LgM8Zo0Szlu0jhV7pAGGT8AOnySrPBqJ8X-LLfkNtUM"
LONG_ORIGIN_NAME = "229-byte origin"
PARTS = ("abiDecode", "jsonParse", "jsonFields", "base64", "sha256", "precompile")


@dataclass(frozen=True, slots=True)
class Shape:
    """One assertion to measure.

    Attributes:
        name: What it looks like.
        signed_hash: The challenge.
        fat: The fat signature (low-s).
        credential_id: Its credential id.
        key: The public key to register.
        origin: The origin to register under.
    """

    name: str
    signed_hash: bytes
    fat: FatSignature
    credential_id: bytes
    key: P256PublicKey
    origin: str
    transaction: Eip712Transaction


@dataclass(frozen=True, slots=True)
class Result:
    """The figures of one shape (gas units)."""

    name: str
    client_data_json_bytes: int
    fat_signature_bytes: int
    validate_signature: int
    validate_transaction: int
    precompile: int
    rest: int
    parts: dict[str, int]
    other: int
    transaction_estimate: int | None
    execution: int | None


def long_origin(length: int) -> str:
    """An https origin of exactly ``length`` bytes, its host made of 63-character DNS labels."""
    host_length = length - len("https://")
    host = ".".join(["a" * 62 + "b"] * (host_length // 64 + 1))[:host_length]
    return "https://" + (host[:-1] + "c" if host.endswith(".") else host)


def _transaction(chain_id: int, account: str) -> Eip712Transaction:
    # A plain ETH transfer as an SSO account would send it (its EIP-712 hash is the WebAuthn challenge).
    return Eip712Transaction(
        chain_id=chain_id,
        nonce=7,
        from_address=account,
        to="0x000000000000000000000000000000000000dEaD",
        value=10**15,
        gas_limit=2_000_000,
        max_fee_per_gas=250_000_000,
        max_priority_fee_per_gas=1_000,
    )


def _shapes(chain_id: int, account: str) -> list[Shape]:
    tx = _transaction(chain_id, account)
    signed_hash = tx.signed_hash()
    shapes = []
    variants: list[tuple[str, dict[str, Any]]] = [
        ("browser (Chromium/Firefox, crossOrigin false)", {}),
        ("Safari (no crossOrigin)", {"cross_origin": None}),
        (
            "Chromium with other_keys_can_be_added_here",
            {
                "extra_client_data": {
                    "other_keys_can_be_added_here": "do not compare clientDataJSON against a template."
                }
            },
        ),
    ]
    origins = {name: ORIGIN for name, _ in variants}
    # Longer origins (the rows of issue #19): an Android app's origin, and a 229-byte web origin.
    variants += [(ANDROID_NAME, {}), (LONG_ORIGIN_NAME, {})]
    origins |= {ANDROID_NAME: ANDROID_ORIGIN, LONG_ORIGIN_NAME: long_origin(229)}
    for index, (name, options) in enumerate(variants):
        origin = origins[name]
        passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=origin, credential_id=bytes([index + 1]) * 20)
        fat = FatSignature.from_assertion(passkey.sign(signed_hash, **options))
        shapes.append(Shape(name, signed_hash, fat, passkey.credential_id, passkey.public_key, origin, tx))
    if VECTORS.exists():
        vector = json.loads(VECTORS.read_text())["vector1_clave_signed_challenge"]
        derived, response = vector["derived"], vector["verbatim"]["response"]
        fat = FatSignature.from_der(
            authenticator_data=b64url_decode(response["response"]["authenticatorData"]),
            client_data_json=b64url_decode(response["response"]["clientDataJSON"]),
            der_signature=b64url_decode(response["response"]["signature"]),
            credential_id=b64url_decode(response["rawId"]),
        )
        key = P256PublicKey(int(derived["pubKeyX"], 16), int(derived["pubKeyY"], 16))
        challenge = bytes.fromhex(derived["challengeBytes32"][2:])
        # The validator takes the hash its account hands it; the struct's fields do not enter the check.
        name = "vector1 (real authenticator)"
        shapes.append(Shape(name, challenge, fat, fat.credential_id, key, derived["originKey"], tx))
    return shapes


def calldata_gas(data: bytes) -> int:
    """Standard calldata gas of ``data``: 4 per zero byte, 16 per other byte."""
    zeros = data.count(0)
    return 4 * zeros + 16 * (len(data) - zeros)


def _transaction_struct(tx: Eip712Transaction) -> tuple[Any, ...]:
    """The zksync-contracts ``Transaction`` struct of a 0x71 transaction (no paymaster, no factory deps)."""
    to = int(tx.to, 16) if tx.to is not None else 0
    fees = (tx.gas_limit, tx.gas_per_pubdata, tx.max_fee_per_gas, tx.max_priority_fee_per_gas)
    return (
        113,
        int(tx.from_address, 16),
        to,
        *fees,
        0,
        tx.nonce,
        tx.value,
        [0] * 4,
        tx.data,
        tx.custom_signature,
        [],
        b"",
        b"",
    )


def _deploy(eth: EthClient, deployer: LocalAccount, artifact: Artifact) -> str:
    address, _ = eth.deploy_contract(deployer, artifact.deploy_data())
    return address


def measure() -> list[Result]:
    """Start anvil, deploy the validator and the probe, and measure every shape."""
    validator_artifact = load_artifact("WebAuthValidator")
    probe_artifact = load_artifact("WebAuthValidationGasProbe")
    with AnvilNode(hardfork="osaka") as node:
        eth = node.eth
        deployer: LocalAccount = Account.create()
        node.set_balance(deployer.address, 10**18)
        validator = _deploy(eth, deployer, validator_artifact)
        probe = _deploy(eth, deployer, probe_artifact)
        results = []
        for shape in _shapes(node.chain_id, probe):
            key = [shape.key.x_bytes, shape.key.y_bytes]
            eth.send_transaction(
                deployer,
                probe,
                probe_artifact.encode_call("register", validator, shape.credential_id, key, shape.origin),
            )
            fat = shape.fat.encode()
            data = probe_artifact.encode_call("measure", validator, shape.signed_hash, fat, key)
            (figures,) = probe_artifact.decode_output("measure", eth.call({"to": probe, "data": data}))
            parts = dict(zip(("validateSignature", *PARTS), (int(v) for v in figures), strict=True))
            total = parts.pop("validateSignature")
            signed_tx = shape.transaction.replace(custom_signature=era_custom_signature(shape.fat, validator))
            data = probe_artifact.encode_call(
                "measureTransaction", validator, shape.signed_hash, _transaction_struct(signed_tx)
            )
            (transaction_gas,) = probe_artifact.decode_output(
                "measureTransaction", eth.call({"to": probe, "data": data})
            )
            # What a transaction that only validates would cost (intrinsic 21000 + calldata + execution).
            call = validator_artifact.encode_call("validateSignature", shape.signed_hash, fat)
            try:
                estimate: int | None = eth.estimate_gas({"from": probe, "to": validator, "data": call})
            except RpcError:  # a node that refuses contract senders only loses this column
                estimate = None
            # Execution gas as issue #19 counts it: the estimate less the intrinsic 21,000 and the calldata.
            execution = None if estimate is None else estimate - 21_000 - calldata_gas(call)
            results.append(
                Result(
                    name=shape.name,
                    client_data_json_bytes=len(shape.fat.client_data_json),
                    fat_signature_bytes=len(fat),
                    validate_signature=total,
                    validate_transaction=int(transaction_gas),
                    precompile=parts["precompile"],
                    rest=total - parts["precompile"],
                    parts=parts,
                    other=total - sum(parts.values()),
                    transaction_estimate=estimate,
                    execution=execution,
                )
            )
        return results


def _print_table(results: list[Result]) -> None:
    print("Era WebAuthValidator.validateSignature gas on anvil --hardfork osaka (EVM gas units)")
    print("EIP-7951 P-256 precompile = 6,900 here; ZKsync Era's P256Verify circuit charges 12,000.\n")
    for result in results:
        print(
            f"{result.name}  (clientDataJSON {result.client_data_json_bytes} B, fat signature "
            f"{result.fat_signature_bytes} B)"
        )
        print(f"  validateTransaction call (SDK customSignature)        : {result.validate_transaction:>7,}")
        print(f"  validateSignature call, all included                  : {result.validate_signature:>7,}")
        print(f"    P-256 precompile alone                              : {result.precompile:>7,}")
        print(f"    everything else                                     : {result.rest:>7,}")
        labels = {
            "abiDecode": "ABI decode of the fat signature",
            "jsonParse": "JSON read (ClientDataJSON.read)",
            "jsonFields": "JSON fields (challenge/type/origin/crossOrigin)",
            "base64": "base64url decode of the challenge",
            "sha256": "sha256 x2 (message)",
        }
        for part, label in labels.items():
            print(f"      {label:<50}: {result.parts[part]:>7,}")
        other = "call, key lookup (cold SLOADs), checks"
        print(f"      {other:<50}: {result.other:>7,}")
        if result.transaction_estimate is not None:
            print(
                f"  eth_estimateGas of a tx calling validateSignature     : {result.transaction_estimate:>7,}"
            )
        print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    results = measure()
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=1))
    else:
        _print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
