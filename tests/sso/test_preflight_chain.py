"""Preflight verdicts equal the on-chain verdicts of both WebAuthn validators, case by case.

For each crafted signature the chain answers valid / ``false`` / revert (``eth_call`` from the account that
registered the passkey) and the preflight answers valid or an error whose ``outcome`` must be the same. This
checks the per-generation outcome table of ``docs/signing.md`` against the project's contracts
(``contracts/src/era/WebAuthValidator.sol``, ``contracts/src/erc4337/WebAuthnValidator.sol``).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from sso_signer._artifacts import load_artifact
from sso_signer._codec import b64url_encode
from sso_signer.exceptions import AssertionRejected, ExecutionReverted
from sso_signer.node import AnvilNode
from sso_signer.rpc import EthClient
from sso_signer.sso import FatSignature, preflight
from sso_signer.webauthn import P256PublicKey
from sso_signer.webauthn._p256 import P256_N, EcdsaSignature
from tests.needs import require_artifacts, started_anvil

pytestmark = pytest.mark.chain

ORIGIN = "https://app.example"
CRED = bytes(range(1, 21))
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
PUB = P256PublicKey.from_cryptography(KEY.public_key())
HASH = hashlib.sha256(b"intent").digest()
_DROP = object()


def _auth(flags: int = 0x05) -> bytes:
    return hashlib.sha256(b"app.example").digest() + bytes([flags]) + bytes(4)


def _cdj(**fields: Any) -> bytes:
    body: dict[str, Any] = {
        "type": "webauthn.get",
        "challenge": b64url_encode(HASH),
        "origin": ORIGIN,
        "crossOrigin": False,
    }
    for name, value in fields.items():
        if value is _DROP:
            body.pop(name)
        else:
            body[name] = value
    return json.dumps(body, separators=(",", ":")).encode()


def _fat(
    auth: bytes | None = None, cdj: bytes | None = None, key: ec.EllipticCurvePrivateKey = KEY
) -> FatSignature:
    auth = _auth() if auth is None else auth
    cdj = _cdj() if cdj is None else cdj
    der = key.sign(auth + hashlib.sha256(cdj).digest(), ec.ECDSA(hashes.SHA256()))
    sig = EcdsaSignature.from_der(der).normalized()
    return FatSignature(auth, cdj, sig.r, sig.s, CRED)


def _cases() -> dict[str, bytes]:
    good = _fat()
    cases: dict[str, FatSignature | bytes] = {
        "valid": good,
        "high s": dataclasses.replace(good, s=P256_N - good.s),
        "r = 0": dataclasses.replace(good, r=0),
        "s = 0": dataclasses.replace(good, s=0),
        "r = n": dataclasses.replace(good, r=P256_N),
        "UP only": _fat(auth=_auth(0x01)),
        "UV only": _fat(auth=_auth(0x04)),
        "authenticatorData of 32 bytes": _fat(auth=_auth()[:32]),
        "clientDataJSON not JSON": _fat(cdj=b'{"type":'),
        "clientDataJSON an array": _fat(cdj=b"[1,2]"),
        "no challenge": _fat(cdj=_cdj(challenge=_DROP)),
        "challenge of another hash": _fat(cdj=_cdj(challenge=b64url_encode(hashlib.sha256(b"x").digest()))),
        "challenge of 31 bytes": _fat(cdj=_cdj(challenge=b64url_encode(HASH[:31]))),
        "challenge in standard base64": _fat(cdj=_cdj(challenge=base64.b64encode(HASH).decode())),
        "type webauthn.create": _fat(cdj=_cdj(type="webauthn.create")),
        "type not a string": _fat(cdj=_cdj(type=1)),
        "other origin": _fat(cdj=_cdj(origin="https://evil.example")),
        "origin not a string": _fat(cdj=_cdj(origin=5)),
        "crossOrigin true": _fat(cdj=_cdj(crossOrigin=True)),
        'crossOrigin "false"': _fat(cdj=_cdj(crossOrigin="false")),
        "crossOrigin absent": _fat(cdj=_cdj(crossOrigin=_DROP)),
        "other key signed": _fat(key=OTHER_KEY),
        "wrong challenge and crossOrigin true": _fat(
            cdj=_cdj(challenge=b64url_encode(bytes(32)), crossOrigin=True)
        ),
        "wrong challenge and UP only": _fat(auth=_auth(0x01), cdj=_cdj(challenge=b64url_encode(bytes(32)))),
        # The official validators look members up by raw name: an escaped spelling is refused on-chain.
        "type named with escapes": _fat(cdj=_cdj().replace(b'"type":', b'"\\u0074ype":')),
        "crossOrigin true named with escapes": _fat(
            cdj=_cdj(crossOrigin=True).replace(b'"crossOrigin":', b'"cross\\u004frigin":')
        ),
        # solady's decodeString: a high surrogate needs a following \u escape; a lone low one decodes.
        "origin with a lone high surrogate": _fat(cdj=_cdj(origin="@@").replace(b"@@", b"x\\ud800")),
        "origin with a lone low surrogate": _fat(cdj=_cdj(origin="@@").replace(b"@@", b"x\\udc00")),
        "wrong challenge and type with a lone high surrogate": _fat(
            cdj=_cdj(challenge=b64url_encode(bytes(32)), type="@@").replace(b"@@", b"webauthn.get\\ud800")
        ),
        "trailing bytes": good.encode() + bytes(32),
        "not ABI": b"\x01" * 64,
    }
    return {name: c.encode() if isinstance(c, FatSignature) else c for name, c in cases.items()}


CASES = _cases()


class _Validators:
    def __init__(self, node: AnvilNode) -> None:
        self.node = node
        self.eth: EthClient = node.eth
        self.account: LocalAccount = Account.create()
        node.set_balance(self.account.address, 10**18)
        init = abi_encode(["bytes", "bytes32[2]", "string"], [CRED, [PUB.x_bytes, PUB.y_bytes], ORIGIN])
        self.era = self._deploy("WebAuthValidator")
        self._send(self.era, "addValidationKey(bytes,bytes32[2],string)", init)
        self.erc4337 = self._deploy("WebAuthnValidator")
        self._send(self.erc4337, "onInstall(bytes)", abi_encode(["bytes"], [init]))

    def _deploy(self, name: str) -> str:
        receipt = self.eth.send_transaction(self.account, data=load_artifact(name).bytecode)
        assert receipt.status == 1
        assert receipt.contract_address is not None
        return receipt.contract_address

    def _send(self, to: str, signature: str, args: bytes) -> None:
        data = bytes(keccak(signature.encode()))[:4] + args
        assert self.eth.send_transaction(self.account, to=to, data=data).status == 1

    def outcome(self, validator: str, blob: bytes) -> str:
        to, signature = (
            (self.era, "validateSignature(bytes32,bytes)")
            if validator == "era"
            else (self.erc4337, "webAuthVerify(bytes32,bytes)")
        )
        data = bytes(keccak(signature.encode()))[:4] + abi_encode(["bytes32", "bytes"], [HASH, blob])
        try:
            out = self.eth.call({"from": self.account.address, "to": to, "data": data})
        except ExecutionReverted:
            return "revert"
        (ok,) = abi_decode(["bool"], out)
        return "valid" if ok else "return false"


@pytest.fixture(scope="module")
def validators() -> Iterator[_Validators]:
    require_artifacts("WebAuthValidator", "WebAuthnValidator")
    with started_anvil(hardfork="osaka") as node:
        yield _Validators(node)


def _preflight(validator: str, blob: bytes) -> tuple[str, str | None]:
    try:
        preflight(validator, HASH, blob, {(ORIGIN, CRED): PUB})  # type: ignore[arg-type]
    except AssertionRejected as exc:
        return str(exc.outcome), exc.rule  # a preflight rejection always names its outcome
    return "valid", None


@pytest.mark.parametrize("validator", ["era", "erc4337"])
def test_preflight_outcome_equals_chain(validators: _Validators, validator: str) -> None:
    mismatches = []
    for name, blob in CASES.items():
        chain = validators.outcome(validator, blob)
        local, rule = _preflight(validator, blob)
        if chain != local:
            mismatches.append(f"{name}: chain {chain}, preflight {local} ({rule})")
    assert mismatches == []
    # The two generations really differ where the table says they do.
    assert validators.outcome("era", CASES["UP only"]) == "return false"
    assert validators.outcome("erc4337", CASES["UP only"]) == "revert"
