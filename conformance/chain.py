"""The on-chain half of the conformance run: the P-256 precompile (EIP-7951) and the SSO validators' signature
rules on a real ``anvil --hardfork osaka``, many cases per ``eth_call``.

The harness contract (``conformance/contracts/ValidatorSignatureHarness.sol``) is compiled here with the
npm solc behind ``scripts/solc`` (only that file, about 5 s), cached under ``.cache/conformance`` by source
hash.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from conformance._fixtures import FixtureMissing
from sso_signer.exceptions import RpcError
from sso_signer.node import AnvilNode

__all__ = [
    "P256_PRECOMPILE",
    "ChainVerdict",
    "HarnessBuildFailed",
    "SignatureHarness",
    "era_validator_cases",
    "erc4337_validator_cases",
    "harness_bytecode",
]

_ROOT = pathlib.Path(__file__).resolve().parent.parent
_SOURCE = pathlib.Path(__file__).resolve().parent / "contracts" / "ValidatorSignatureHarness.sol"
_CACHE = _ROOT / ".cache" / "conformance"
P256_PRECOMPILE = "0x0000000000000000000000000000000000000100"
# Rows per eth_call: each costs one precompile call (6,900 gas on anvil) plus the loop; 200 stays far below
# anvil's call gas cap.
_CHUNK = 200


class HarnessBuildFailed(FixtureMissing):
    """The harness contract could not be compiled (npm solc missing or a compile error)."""


def harness_bytecode() -> bytes:
    """Creation bytecode of the harness, compiled once per source version.

    Raises:
        HarnessBuildFailed: If ``scripts/solc`` is missing or reports an error.
    """
    source = _SOURCE.read_bytes()
    cached = _CACHE / f"ValidatorSignatureHarness-{hashlib.sha256(source).hexdigest()[:16]}.hex"
    if cached.is_file():
        return bytes.fromhex(cached.read_text().strip())
    solc = _ROOT / "scripts" / "solc"
    if not solc.is_file():
        raise HarnessBuildFailed(f"{solc} not found (npm solc wrapper)")
    request = {
        "language": "Solidity",
        "sources": {"ValidatorSignatureHarness.sol": {"content": source.decode()}},
        "settings": {
            "remappings": [
                "@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/",
                "solady/=node_modules/solady/src/",
            ],
            "evmVersion": "osaka",
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {"*": {"ValidatorSignatureHarness": ["evm.bytecode.object"]}},
        },
    }
    try:
        done = subprocess.run(
            [str(solc), "--base-path", str(_ROOT), "--allow-paths", str(_ROOT), "--standard-json"],
            input=json.dumps(request).encode(),
            capture_output=True,
            cwd=_ROOT,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessBuildFailed(f"scripts/solc did not run: {exc}") from exc
    try:
        output = json.loads(done.stdout)
        errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
        if errors:
            raise HarnessBuildFailed("; ".join(e.get("formattedMessage", str(e)) for e in errors))
        code = output["contracts"]["ValidatorSignatureHarness.sol"]["ValidatorSignatureHarness"]["evm"]
        bytecode = bytes.fromhex(code["bytecode"]["object"])
    except (ValueError, KeyError) as exc:
        raise HarnessBuildFailed(
            f"scripts/solc answered unexpectedly: {done.stderr.decode()[-500:]}"
        ) from exc
    _CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(bytecode.hex())
    return bytecode


def _selector(signature: str) -> bytes:
    return bytes(keccak(text=signature))[:4]


@dataclass(frozen=True, slots=True)
class SignatureHarness:
    """The deployed harness on a node.

    Attributes:
        node: The osaka anvil it runs on.
        address: Where it is deployed.
    """

    node: AnvilNode
    address: str

    @classmethod
    def deploy(cls, node: AnvilNode) -> SignatureHarness:
        """Compile (or take from the cache) and deploy the harness from the node's first dev account.

        Raises:
            HarnessBuildFailed: As :func:`harness_bytecode`.
        """
        address, _ = node.eth.deploy_contract(node.accounts[0], harness_bytecode())
        return cls(node, address)

    def _calls(
        self, selector: bytes, abi_type: str, rows: Sequence[object], out_type: str = "uint8[]"
    ) -> list[int]:
        # All chunks go to the node in one JSON-RPC batch.
        calls = []
        for start in range(0, len(rows), _CHUNK):
            data = selector + abi_encode([abi_type], [list(rows[start : start + _CHUNK])])
            calls.append(("eth_call", [{"to": self.address, "data": "0x" + data.hex()}, "latest"]))
        answers = self.node.eth.rpc.batch(calls) if calls else []
        out: list[int] = []
        for answer in answers:
            (codes,) = abi_decode([out_type], bytes.fromhex(str(answer).removeprefix("0x")))
            out.extend(int(c) for c in codes)
        return out

    def validator_rules(self, cases: Sequence[tuple[bytes, int, int, int, int]]) -> list[int]:
        """The validator's Rule for each ``(hash, r, s, x, y)`` (all words < 2**256)."""
        rows = [[h, *(v.to_bytes(32, "big") for v in (r, s, x, y))] for h, r, s, x, y in cases]
        return self._calls(_selector("check(bytes32[5][])"), "bytes32[5][]", rows)

    def erc4337_verdicts(self, cases: Sequence[tuple[bytes, int, int, int, int]]) -> list[bool]:
        """The ERC-4337 validator's verdict (solady ``P256.verifySignature``) per ``(hash, r, s, x, y)``."""
        rows = [[h, *(v.to_bytes(32, "big") for v in (r, s, x, y))] for h, r, s, x, y in cases]
        return [
            bool(v)
            for v in self._calls(_selector("checkErc4337(bytes32[5][])"), "bytes32[5][]", rows, "bool[]")
        ]

    def precompile_answers(self, inputs: Sequence[bytes]) -> list[int]:
        """The precompile's raw answer per input: 1 = word 1, 0 = empty, 2 = other shape, 3 = call failed."""
        return self._calls(_selector("raw(bytes[])"), "bytes[]", list(inputs))


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """One case run on the chain: what the documentation says and what the contract answered."""

    name: str
    expected: str
    got: str

    @property
    def agreed(self) -> bool:
        """True if the contract answered as documented."""
        return self.expected == self.got


_RULE_NAMES = {
    0: "Valid",
    1: "SignatureOutOfRange",
    2: "HighS",
    3: "AuthDataTooShort",
    4: "MissingUserFlags",
    5: "ClientDataNotJson",
    6: "ChallengeMissing",
    7: "ChallengeLength",
    8: "ChallengeMismatch",
    9: "WrongType",
    10: "UnknownKey",
    11: "CrossOrigin",
    12: "BadSignature",
    13: "Malformed",
}


def era_validator_cases(node: AnvilNode) -> list[ChainVerdict]:
    """The EIP-7951 edge cases through the real Era ``WebAuthValidator`` (``checkSignature``), from a real
    (headless) passkey assertion whose fat signature is then tampered with, plus the registration of a key
    that is not on the curve. All checks go to the node in one JSON-RPC batch.

    Raises:
        ConfigurationError (``ARTIFACT_NOT_FOUND``): If the contracts have not been built
            (scripts/build-contracts.sh).
    """
    # Imported here: the SSO bindings are only needed for the chain half of the run.
    from sso_signer._artifacts import load_artifact
    from sso_signer.sso import FatSignature
    from sso_signer.webauthn import HeadlessPasskey
    from sso_signer.webauthn._p256 import P256_N

    artifact = load_artifact("WebAuthValidator")
    deployer, account = node.accounts[0], node.accounts[1]
    validator, _ = node.eth.deploy_contract(deployer, artifact.deploy_data())
    passkey = HeadlessPasskey.generate(rp_id="conformance.example", origin="https://conformance.example")
    key = passkey.public_key
    node.eth.send_transaction(
        account,
        validator,
        artifact.encode_call(
            "addValidationKey", passkey.credential_id, [key.x_bytes, key.y_bytes], passkey.origin
        ),
    )
    signed_hash = hashlib.sha256(b"sso-signer conformance: Era validator").digest()
    fat = FatSignature.from_assertion(passkey.sign(signed_hash))

    def tampered(r: int, s: int) -> bytes:
        return FatSignature(fat.authenticator_data, fat.client_data_json, r, s, fat.credential_id).encode()

    cases = {
        "valid (low s)": (fat.encode(), "Valid"),
        "high s (n - s): ECDSA-valid, refused": (tampered(fat.r, P256_N - fat.s), "HighS"),
        "r = 0": (tampered(0, fat.s), "SignatureOutOfRange"),
        "s = 0": (tampered(fat.r, 0), "SignatureOutOfRange"),
        "r = n (official bound r <= n; the precompile refuses)": (tampered(P256_N, fat.s), "BadSignature"),
        "s = n": (tampered(fat.r, P256_N), "SignatureOutOfRange"),
        "r = 2^256 - 1": (tampered(2**256 - 1, fat.s), "SignatureOutOfRange"),
        "r + 1": (tampered(fat.r + 1, fat.s), "BadSignature"),
        "s - 1": (tampered(fat.r, fat.s - 1), "BadSignature"),
        "other hash": (fat.encode(), "ChallengeMismatch"),
    }
    calls = []
    for name, (blob, _) in cases.items():
        digest = hashlib.sha256(b"another hash").digest() if name == "other hash" else signed_hash
        data = artifact.encode_call("checkSignature", digest, blob, account.address)
        calls.append(
            ("eth_call", [{"from": account.address, "to": validator, "data": "0x" + data.hex()}, "latest"])
        )
    # Registering a key that is not on the curve must revert (WEBAUTHN_KEY_NOT_ON_CURVE).
    off_curve = [key.x_bytes, ((key.y + 1) % 2**256).to_bytes(32, "big")]
    register = artifact.encode_call("addValidationKey", b"\x01" * 16, off_curve, "https://other.example")
    calls.append(
        ("eth_call", [{"from": deployer.address, "to": validator, "data": "0x" + register.hex()}, "latest"])
    )
    answers = node.eth.rpc.batch(calls, return_errors=True)
    out = []
    for (name, (_, expected)), answer in zip(cases.items(), answers[:-1], strict=True):
        if isinstance(answer, RpcError):
            got = f"reverted ({answer.message})"
        else:
            (rule,) = artifact.decode_output("checkSignature", bytes.fromhex(str(answer).removeprefix("0x")))
            got = _RULE_NAMES.get(int(rule), str(rule))
        out.append(ChainVerdict(f"era validator: {name}", expected, got))
    last = answers[-1]
    selector = _selector("WEBAUTHN_KEY_NOT_ON_CURVE()").hex()
    if isinstance(last, RpcError):
        got = (
            "WEBAUTHN_KEY_NOT_ON_CURVE"
            if selector in str(last.data)
            else f"reverted ({last.message}, {last.data})"
        )
    else:
        got = "registered"
    out.append(ChainVerdict("era validator: register a key off the curve", "WEBAUTHN_KEY_NOT_ON_CURVE", got))
    return out


def erc4337_validator_cases(node: AnvilNode) -> list[ChainVerdict]:
    """The same tampered fat signatures through the real ERC-4337 ``WebAuthnValidator.webAuthVerify`` (called
    by the account that installed the key). This validator stores keys without an on-curve check (like the
    official one), so a key off the curve is registered and must simply never verify.

    Raises:
        ConfigurationError (``ARTIFACT_NOT_FOUND``): If the contracts have not been built
            (scripts/build-contracts.sh).
    """
    from sso_signer._artifacts import load_artifact
    from sso_signer.sso import FatSignature
    from sso_signer.webauthn import HeadlessPasskey
    from sso_signer.webauthn._p256 import P256_N

    artifact = load_artifact("WebAuthnValidator")
    deployer, account = node.accounts[0], node.accounts[2]
    validator, _ = node.eth.deploy_contract(deployer, artifact.deploy_data())
    passkey = HeadlessPasskey.generate(rp_id="conformance.example", origin="https://conformance.example")
    key = passkey.public_key
    node.eth.send_transaction(account, validator, artifact.encode_call("onInstall", b""))
    node.eth.send_transaction(
        account,
        validator,
        artifact.encode_call(
            "addValidationKey", passkey.credential_id, [key.x_bytes, key.y_bytes], passkey.origin
        ),
    )
    off_curve_id = b"\x02" * 16
    node.eth.send_transaction(
        account,
        validator,
        artifact.encode_call(
            "addValidationKey",
            off_curve_id,
            [key.x_bytes, ((key.y + 1) % 2**256).to_bytes(32, "big")],
            passkey.origin,
        ),
    )
    signed_hash = hashlib.sha256(b"sso-signer conformance: ERC-4337 validator").digest()
    fat = FatSignature.from_assertion(passkey.sign(signed_hash))

    def tampered(r: int, s: int, credential_id: bytes = fat.credential_id) -> bytes:
        return FatSignature(fat.authenticator_data, fat.client_data_json, r, s, credential_id).encode()

    other_hash = hashlib.sha256(b"another hash").digest()
    cases = {
        "valid (low s)": (signed_hash, fat.encode(), True),
        "high s (n - s): ECDSA-valid, refused": (signed_hash, tampered(fat.r, P256_N - fat.s), False),
        "r = 0": (signed_hash, tampered(0, fat.s), False),
        "s = 0": (signed_hash, tampered(fat.r, 0), False),
        "r = n": (signed_hash, tampered(P256_N, fat.s), False),
        "s = n": (signed_hash, tampered(fat.r, P256_N), False),
        "r = 2^256 - 1": (signed_hash, tampered(2**256 - 1, fat.s), False),
        "r + 1": (signed_hash, tampered(fat.r + 1, fat.s), False),
        "s - 1": (signed_hash, tampered(fat.r, fat.s - 1), False),
        "other hash": (other_hash, fat.encode(), False),
        "key registered off the curve": (signed_hash, tampered(fat.r, fat.s, off_curve_id), False),
    }
    calls = []
    for digest, blob, _ in cases.values():
        data = artifact.encode_call("webAuthVerify", digest, blob)
        calls.append(
            ("eth_call", [{"from": account.address, "to": validator, "data": "0x" + data.hex()}, "latest"])
        )
    answers = node.eth.rpc.batch(calls, return_errors=True)
    out = []
    for (name, (_, _, expected)), answer in zip(cases.items(), answers, strict=True):
        if isinstance(answer, RpcError):
            got = f"reverted ({answer.message})"
        else:
            (valid,) = artifact.decode_output("webAuthVerify", bytes.fromhex(str(answer).removeprefix("0x")))
            got = str(bool(valid))
        out.append(ChainVerdict(f"erc4337 validator: {name}", str(expected), got))
    return out
