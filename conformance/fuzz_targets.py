"""Fuzz targets shared by the CI property tests (``tests/conformance/test_fuzz_*.py``, a few hundred examples
each) and the long campaign (``scripts/fuzz_campaign.py``, a million examples or more).

A target is a Hypothesis strategy and a check. The check either completes (round trips asserted inside it) or
raises one of the SDK's typed errors (:class:`sso_signer.SsoSignerError`); anything else escaping the SDK is
a finding. ``ROUNDTRIP`` targets must never raise at all.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from hypothesis import strategies as st

from sso_signer._codec import b64url_decode, b64url_encode
from sso_signer.erc4337 import UserOperation, UserOperationReceipt
from sso_signer.erc4337._execute import decode_execute, encode_execute_single
from sso_signer.exceptions import SendOutcomeUnknown, SsoSignerError
from sso_signer.sso import FatSignature, era_custom_signature, erc4337_passkey_signature
from sso_signer.sso._owner import PasskeyInitData
from sso_signer.sso._preflight import decode_challenge, parse_client_data_json
from sso_signer.sso._signature import decode_era_custom_signature, decode_erc4337_passkey_signature
from sso_signer.webauthn import Assertion, AuthenticatorData, P256PublicKey, RegistrationResponse
from sso_signer.webauthn._authenticator_data import AuthenticatorFlags
from sso_signer.webauthn._cbor import decode_strict
from sso_signer.webauthn._client_data import CollectedClientData
from sso_signer.webauthn._p256 import P256_N, EcdsaSignature
from sso_signer.zksync import Eip712Transaction

__all__ = ["HOSTILE_TARGETS", "TARGETS", "FuzzTarget", "run_check"]

Check = Callable[[Any], object]


@dataclass(frozen=True, slots=True)
class FuzzTarget:
    """One parser or encoder under fuzzing.

    Attributes:
        name: ``<format>.<property>``.
        strategy: Generates the inputs.
        check: Runs the SDK on one input (asserts round trips).
        roundtrip: True if the input is always valid: then even a typed error is a finding.
    """

    name: str
    strategy: st.SearchStrategy[Any]
    check: Check
    roundtrip: bool = False


def run_check(target: FuzzTarget, value: Any) -> None:
    """Run ``target`` on ``value``: a typed SDK error is an acceptable outcome for arbitrary input only."""
    if target.roundtrip:
        target.check(value)
        return
    with contextlib.suppress(SsoSignerError):
        target.check(value)


# ----------------------------------------------------------------------------------------------------
# Strategies
# ----------------------------------------------------------------------------------------------------

_json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=40)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
_b64 = st.binary(max_size=80).map(b64url_encode)
_any_b64ish = _b64 | st.text(max_size=60)
_addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
_hexish = (
    st.binary(max_size=40).map(lambda b: "0x" + b.hex()) | st.text(max_size=20) | st.integers(-5, 2**260)
)
_scalars = st.integers(1, P256_N - 1)


@st.composite
def _assertion_json(draw: st.DrawFn) -> dict[str, Any]:
    """Browser-shaped assertion JSON whose members are arbitrary (often well-typed, sometimes not)."""
    raw_id = draw(_b64)
    if draw(st.booleans()):
        # Well-formed members, so the later checks (lengths, flags, user handle, consistency) are reached too.
        flags = AuthenticatorFlags(draw(st.integers(0, 0x3F)))
        auth = bytes(
            AuthenticatorData.create(rp_id="a.example", flags=flags, counter=draw(st.integers(0, 9)))
        )
        kind, challenge, origin, cross = draw(_client_data())
        cdj = bytes(
            CollectedClientData.create(type=kind, challenge=challenge, origin=origin, cross_origin=cross)
        )
        der = EcdsaSignature(draw(_scalars), draw(_scalars)).to_der()
        response: dict[str, str | None] = {
            "authenticatorData": b64url_encode(auth),
            "clientDataJSON": b64url_encode(cdj),
            "signature": b64url_encode(der),
        }
    else:
        response = {
            "authenticatorData": draw(_any_b64ish),
            "clientDataJSON": draw(_any_b64ish),
            "signature": draw(_any_b64ish),
        }
    if draw(st.booleans()):
        response["userHandle"] = draw(st.none() | _any_b64ish)
    obj: dict[str, Any] = {
        "id": draw(st.just(raw_id) | _any_b64ish),
        "rawId": raw_id,
        "type": draw(st.sampled_from(["public-key", "other"])),
        "response": response,
    }
    if draw(st.booleans()):
        del obj[draw(st.sampled_from(sorted(obj)))]
    return obj


@st.composite
def _registration_json(draw: st.DrawFn) -> dict[str, Any]:
    raw_id = draw(_b64)
    att = draw(st.binary(max_size=300))
    if draw(st.booleans()):
        # A CBOR map with the three attestationObject keys around arbitrary authData.
        auth = draw(st.binary(max_size=250))
        att = b"\xa3" + b"\x63fmt" + b"\x64none" + b"\x67attStmt" + b"\xa0" + b"\x68authData"
        att += (b"\x59" + len(auth).to_bytes(2, "big")) + auth
    return {
        "id": raw_id,
        "rawId": raw_id,
        "type": "public-key",
        "response": {
            "clientDataJSON": draw(_any_b64ish),
            "attestationObject": b64url_encode(att),
            "transports": draw(st.lists(st.text(max_size=8), max_size=3) | _json),
        },
    }


@st.composite
def _client_data(draw: st.DrawFn) -> tuple[str, bytes, str, bool | None]:
    return (
        draw(st.sampled_from(["webauthn.get", "webauthn.create"])),
        draw(st.binary(min_size=16, max_size=64)),
        draw(
            st.sampled_from(["https://a.example", "https://sso.example.org:8443", "android:apk-key-hash:x"])
        ),
        draw(st.none() | st.booleans()),
    )


@st.composite
def _fat_signatures(draw: st.DrawFn) -> FatSignature:
    return FatSignature(
        draw(st.binary(max_size=80)),
        draw(st.binary(max_size=120)),
        draw(st.integers(0, 2**256 - 1)),
        draw(st.integers(0, 2**256 - 1)),
        draw(st.binary(max_size=64)),
    )


@st.composite
def _user_operation_json(draw: st.DrawFn) -> dict[str, Any]:
    keys = [
        "sender", "nonce", "callData", "callGasLimit", "verificationGasLimit", "preVerificationGas",
        "maxFeePerGas", "maxPriorityFeePerGas", "factory", "factoryData", "paymaster",
        "paymasterVerificationGasLimit", "paymasterPostOpGasLimit", "paymasterData", "signature",
        "initCode", "paymasterAndData",
    ]  # fmt: skip
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)))
    return {k: draw(_addresses | _hexish | _json) for k in chosen}


@st.composite
def _user_operations(draw: st.DrawFn) -> UserOperation:
    u128 = st.integers(0, 2**128 - 1)
    factory = draw(st.none() | _addresses)
    paymaster = draw(st.none() | _addresses)
    return UserOperation(
        sender=draw(_addresses),
        nonce=draw(st.integers(0, 2**256 - 1)),
        call_data=draw(st.binary(max_size=100)),
        call_gas_limit=draw(u128),
        verification_gas_limit=draw(u128),
        pre_verification_gas=draw(st.integers(0, 2**256 - 1)),
        max_fee_per_gas=draw(u128),
        max_priority_fee_per_gas=draw(u128),
        factory=factory,
        factory_data=draw(st.binary(max_size=60)) if factory else b"",
        paymaster=paymaster,
        paymaster_verification_gas_limit=draw(u128) if paymaster else 0,
        paymaster_post_op_gas_limit=draw(u128) if paymaster else 0,
        paymaster_data=draw(st.binary(max_size=60)) if paymaster else b"",
        signature=draw(st.binary(max_size=100)),
    )


def _mutations(valid: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Valid encodings with one byte changed, a cut or an extension (closer to the parser's edges)."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(valid))
        kind = draw(st.sampled_from(["flip", "cut", "append"]))
        if kind == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[draw(st.integers(0, len(data))) :]
        else:
            data += draw(st.binary(min_size=1, max_size=40))
        return bytes(data)

    return mutate()


# ----------------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------------


def _b64_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


def _der_round_trip(rs: tuple[int, int]) -> None:
    sig = EcdsaSignature(*rs)
    assert EcdsaSignature.from_der(sig.to_der()) == sig
    assert EcdsaSignature.from_bytes(sig.to_bytes()) == sig


def _cose_round_trip(scalar: int) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = P256PublicKey.from_cryptography(ec.derive_private_key(scalar, ec.SECP256R1()).public_key())
    assert P256PublicKey.from_cose(key.to_cose()) == key
    assert P256PublicKey.from_uncompressed(key.to_uncompressed()) == key


def _auth_data_round_trip(args: tuple[str, int, int]) -> None:
    rp_id, flags, counter = args
    data = AuthenticatorData.create(rp_id=rp_id, flags=AuthenticatorFlags(flags), counter=counter)
    again = AuthenticatorData(bytes(data))
    assert again.counter == counter
    assert again.flags == data.flags
    assert bytes(again) == bytes(data)


def _client_data_round_trip(args: tuple[str, bytes, str, bool | None]) -> None:
    kind, challenge, origin, cross = args
    data = CollectedClientData.create(type=kind, challenge=challenge, origin=origin, cross_origin=cross)
    again = CollectedClientData(bytes(data))
    assert (again.type, again.challenge, again.origin, again.cross_origin) == (kind, challenge, origin, cross)
    assert json.loads(bytes(data))["type"] == kind


def _assertion_from_json(obj: dict[str, Any]) -> None:
    assertion = Assertion.from_json(obj)
    # Whatever parses must survive its own JSON form unchanged.
    assert Assertion.from_json(assertion.to_json()) == assertion


def _fat_round_trip(fat: FatSignature) -> None:
    assert FatSignature.decode(fat.encode()) == fat
    validator = "0x" + "11" * 20
    decoded = decode_era_custom_signature(era_custom_signature(fat.encode(), validator))
    assert decoded.fat == fat.encode()
    got_validator, got_fat = decode_erc4337_passkey_signature(erc4337_passkey_signature(validator, fat))
    assert got_validator.lower() == validator
    assert got_fat == fat


def _init_data_round_trip(args: tuple[bytes, int, str]) -> None:
    cred, scalar, origin = args
    from cryptography.hazmat.primitives.asymmetric import ec

    key = P256PublicKey.from_cryptography(ec.derive_private_key(scalar, ec.SECP256R1()).public_key())
    blob = bytes(abi_encode(["bytes", "bytes32[2]", "string"], [cred, [key.x_bytes, key.y_bytes], origin]))
    decoded = PasskeyInitData.decode(blob)
    assert decoded.encode() == blob


def _user_operation_round_trip(op: UserOperation) -> None:
    assert UserOperation.from_rpc(op.to_rpc()) == op


def _execute_round_trip(args: tuple[str, int, bytes]) -> None:
    target, value, data = args
    decoded = decode_execute(encode_execute_single(target, value, data))
    assert decoded.calls[0].data == data
    assert decoded.calls[0].value == value


_valid_fat = _fat_signatures().map(lambda f: f.encode())
_valid_tx = st.builds(
    lambda nonce, value, data, sig: Eip712Transaction(
        chain_id=260,
        nonce=nonce,
        from_address="0x" + "22" * 20,
        to="0x" + "33" * 20,
        value=value,
        data=data,
        gas_limit=1_000_000,
        max_fee_per_gas=10**9,
        max_priority_fee_per_gas=10**8,
        custom_signature=sig,
    ).serialize(),
    st.integers(0, 2**64),
    st.integers(0, 2**128),
    st.binary(max_size=60),
    st.binary(max_size=60),
)

_FORMAT_TARGETS: tuple[FuzzTarget, ...] = (
    # base64url
    FuzzTarget("base64url.round_trip", st.binary(max_size=200), _b64_round_trip, roundtrip=True),
    FuzzTarget("base64url.arbitrary_text", st.text(max_size=80), lambda t: b64url_decode(t)),
    # DER / P1363
    FuzzTarget("der.round_trip", st.tuples(_scalars, _scalars), _der_round_trip, roundtrip=True),
    FuzzTarget("der.arbitrary_bytes", st.binary(max_size=80), lambda b: EcdsaSignature.from_der(b)),
    FuzzTarget(
        "der.mutated",
        _mutations(st.tuples(_scalars, _scalars).map(lambda rs: EcdsaSignature(*rs).to_der())),
        lambda b: EcdsaSignature.from_der(b),
    ),
    FuzzTarget("p1363.arbitrary_bytes", st.binary(max_size=70), lambda b: EcdsaSignature.from_bytes(b)),
    # CBOR / COSE
    FuzzTarget("cbor.arbitrary_bytes", st.binary(max_size=120), lambda b: decode_strict(b, field="fuzz")),
    FuzzTarget("cose.arbitrary_bytes", st.binary(max_size=120), lambda b: P256PublicKey.from_cose(b)),
    FuzzTarget("cose.round_trip", _scalars, _cose_round_trip, roundtrip=True),
    # authenticatorData
    FuzzTarget("authenticator_data.arbitrary_bytes", st.binary(max_size=300), lambda b: AuthenticatorData(b)),
    FuzzTarget(
        "authenticator_data.round_trip",
        st.tuples(
            st.sampled_from(["a.example", "sso.example.org", "localhost"]),
            st.integers(0, 0x3F).map(lambda f: f & ~0x40),
            st.integers(0, 2**32 - 1),
        ),
        _auth_data_round_trip,
        roundtrip=True,
    ),
    # clientDataJSON
    FuzzTarget("client_data.arbitrary_bytes", st.binary(max_size=200), lambda b: CollectedClientData(b)),
    FuzzTarget(
        "client_data.arbitrary_json",
        _json.map(lambda v: json.dumps(v).encode()),
        lambda b: CollectedClientData(b),
    ),
    FuzzTarget("client_data.round_trip", _client_data(), _client_data_round_trip, roundtrip=True),
    FuzzTarget("sso.parse_client_data_json", st.binary(max_size=200), lambda b: parse_client_data_json(b)),
    FuzzTarget("sso.decode_challenge", st.text(max_size=80), lambda t: decode_challenge(t)),
    # browser JSON
    FuzzTarget("assertion_json.shaped", _assertion_json(), _assertion_from_json),
    FuzzTarget(
        "assertion_json.arbitrary", _json, lambda v: Assertion.from_json(v if isinstance(v, dict) else {})
    ),
    FuzzTarget("assertion_json.arbitrary_text", st.text(max_size=100), lambda t: Assertion.from_json(t)),
    FuzzTarget("registration_json.shaped", _registration_json(), lambda v: RegistrationResponse.from_json(v)),
    FuzzTarget(
        "registration_json.arbitrary_text", st.text(max_size=100), lambda t: RegistrationResponse.from_json(t)
    ),
    # RLP transactions
    FuzzTarget("eip712_tx.arbitrary_bytes", st.binary(max_size=200), lambda b: Eip712Transaction.parse(b)),
    FuzzTarget("eip712_tx.mutated", _mutations(_valid_tx), lambda b: Eip712Transaction.parse(b)),
    # ABI signature blobs
    FuzzTarget("fat_signature.round_trip", _fat_signatures(), _fat_round_trip, roundtrip=True),
    FuzzTarget("fat_signature.arbitrary_bytes", st.binary(max_size=400), lambda b: FatSignature.decode(b)),
    FuzzTarget("fat_signature.mutated", _mutations(_valid_fat), lambda b: FatSignature.decode(b)),
    FuzzTarget(
        "fat_signature.mutated_lenient",
        _mutations(_valid_fat),
        lambda b: FatSignature.decode(b, strict=False),
    ),
    FuzzTarget(
        "era_custom_signature.arbitrary_bytes",
        st.binary(max_size=400),
        lambda b: decode_era_custom_signature(b),
    ),
    FuzzTarget(
        "era_custom_signature.mutated",
        _mutations(_valid_fat.map(lambda f: era_custom_signature(f, "0x" + "11" * 20))),
        lambda b: decode_era_custom_signature(b),
    ),
    FuzzTarget(
        "erc4337_signature.arbitrary_bytes",
        st.binary(max_size=300),
        lambda b: decode_erc4337_passkey_signature(b),
    ),
    FuzzTarget(
        "validator_init_data.arbitrary_bytes", st.binary(max_size=300), lambda b: PasskeyInitData.decode(b)
    ),
    FuzzTarget(
        "validator_init_data.round_trip",
        st.tuples(st.binary(min_size=16, max_size=64), _scalars, st.text(min_size=1, max_size=40)),
        _init_data_round_trip,
        roundtrip=True,
    ),
    # UserOperations
    FuzzTarget("user_operation.round_trip", _user_operations(), _user_operation_round_trip, roundtrip=True),
    FuzzTarget("user_operation.arbitrary_json", _user_operation_json(), lambda v: UserOperation.from_rpc(v)),
    FuzzTarget("user_operation_receipt.arbitrary_json", _json, lambda v: UserOperationReceipt.from_rpc(v)),
    FuzzTarget("execute.arbitrary_bytes", st.binary(max_size=300), lambda b: decode_execute(b)),
    FuzzTarget(
        "execute.round_trip",
        st.tuples(_addresses, st.integers(0, 2**256 - 1), st.binary(max_size=100)),
        _execute_round_trip,
        roundtrip=True,
    ),
)


# ----------------------------------------------------------------------------------------------------
# Hostile outside input (issue #14): every parser of text or bytes that comes from a node, a bundler, a
# browser, a key file, a deployment file or the command line, fed documents built to break parsers. The
# process must survive (scripts/fuzz_campaign.py and tests/conformance/test_fuzz_hostile_input.py run them in
# worker processes with the recursion limit py_ecc would set), every error must be typed, and the relying
# party's store must not change.
# ----------------------------------------------------------------------------------------------------

_HOSTILE_KINDS = (
    "deep_array",
    "deep_object",
    "deep_mixed",
    "unclosed",
    "big_int",
    "big_negative_int",
    "big_float",
    "long_string",
    "escaped_brackets",
    "truncated",
    "invalid_utf8",
    "constant",
    "wrong_type",
    "arbitrary",
)


@st.composite
def _hostile_fragment(draw: st.DrawFn) -> bytes:
    """One JSON value (or what pretends to be one) of a kind that has broken parsers."""
    kind = draw(st.sampled_from(_HOSTILE_KINDS))
    depth = draw(
        st.integers(1, 1 << 17) | st.sampled_from([15, 16, 17, 31, 32, 33, 511, 512, 513, 100_000, 1 << 18])
    )
    if kind == "deep_array":
        return b"[" * depth + b"]" * depth
    if kind == "deep_object":
        return b'{"a":' * depth + b"0" + b"}" * depth
    if kind == "deep_mixed":
        return b'[{"k":' * depth + b"null" + b"}]" * depth
    if kind == "unclosed":
        return draw(st.sampled_from([b"[", b'{"a":', b'["', b"[1,"])) * depth
    if kind in ("big_int", "big_negative_int"):
        digits = draw(st.integers(20, 6000) | st.sampled_from([32, 33, 128, 129, 4300, 4301]))
        return (b"-" if kind == "big_negative_int" else b"") + b"9" * digits
    if kind == "big_float":
        return (
            b"1." + b"7" * draw(st.integers(1, 6000)) + draw(st.sampled_from([b"", b"e999999", b"E-99999"]))
        )
    if kind == "long_string":
        return b'"' + b"x" * draw(st.integers(0, 1 << 17)) + b'"'
    if kind == "escaped_brackets":
        # Brackets inside strings and escaped quotes must not confuse the depth bound either way.
        return b'["\\"[[[[\\\\", ' * depth + b'"]]]"' + b"]" * depth
    if kind == "truncated":
        valid = json.dumps(draw(_json)).encode()
        return valid[: draw(st.integers(0, max(0, len(valid) - 1)))]
    if kind == "invalid_utf8":
        return b'"' + draw(st.binary(min_size=1, max_size=20)) + b"\xff\xc0\xed\xa0\x80" + b'"'
    if kind == "constant":
        return draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"[NaN]", b'{"a":-Infinity}']))
    if kind == "wrong_type":
        return json.dumps(draw(_json)).encode()
    return draw(st.binary(max_size=200))


def _hostile_document(envelope: bytes) -> st.SearchStrategy[bytes]:
    """A hostile fragment on its own, or in place of ``%s`` inside an otherwise plausible document."""
    return st.tuples(_hostile_fragment(), st.booleans()).map(
        lambda pair: envelope.replace(b"%s", pair[0]) if pair[1] else pair[0]
    )


_RPC_ENVELOPE = b'{"jsonrpc":"2.0","id":1,"result":%s}'
_RPC_ERROR_ENVELOPE = b'{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"x","data":%s}}'
_CREDENTIAL_ENVELOPE = b'{"id":"AAAA","rawId":"AAAA","type":"public-key","response":%s}'
_CLIENT_DATA_ENVELOPE = b'{"type":"webauthn.get","challenge":"AAAA","origin":"https://a.example","x":%s}'
_DEPLOYMENT_ENVELOPE = b'{"chain_id":260,"rpc_url":"http://127.0.0.1:8011","era":%s}'

_rpc_answers = st.tuples(
    st.sampled_from([200, 200, 200, 500]),
    _hostile_document(_RPC_ENVELOPE) | _hostile_document(_RPC_ERROR_ENVELOPE),
)


def _rpc_single(answer: tuple[int, bytes]) -> None:
    from sso_signer.rpc._core import RpcCall, RpcCore

    status, body = answer
    RpcCore().decode_single(RpcCall("eth_blockNumber"), 1, status, body)


def _rpc_batch(answer: tuple[int, bytes]) -> None:
    from sso_signer.rpc._core import RpcCall, RpcCore

    status, body = answer
    RpcCore().decode_batch([RpcCall("eth_blockNumber"), RpcCall("eth_chainId")], [1, 2], status, body)


def _answer_every_step_with(body: bytes) -> Callable[[object], object]:
    from sso_signer.rpc._core import RpcCall, RpcCore

    core = RpcCore()

    def handle(step: object) -> object:
        if isinstance(step, RpcCall):
            return core.decode_single(step, 1, 200, body)
        return None  # a Sleep between attempts

    return handle


# A signed legacy transfer, as bytes the client would have sent (the node never sees them here).
_RAW_TX = bytes.fromhex(
    "f86c808504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939"
    "bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297f"
    "b1966a3b6d83"
)


# A URL nothing is asked of: the flows below are driven by the fuzzer's answers.
_NO_NODE = "http://127.0.0.1:9"


def _send_raw_transaction(body: bytes) -> None:
    from sso_signer._shell import drive
    from sso_signer.rpc._eth import _EthMethods

    try:
        drive(_EthMethods.send_raw_transaction.flow(_EthMethods(), _RAW_TX), _answer_every_step_with(body))
    except SendOutcomeUnknown as exc:
        # After the bytes went out, whatever garbled the answer, the caller keeps what it needs to re-send.
        if exc.raw_transaction != _RAW_TX:
            raise AssertionError("SendOutcomeUnknown lost the signed bytes") from exc
        raise


def _read_flows(args: tuple[int, bytes]) -> None:
    from sso_signer._shell import drive
    from sso_signer.erc4337 import BundlerClient
    from sso_signer.erc4337._bundler import _BundlerMethods as B
    from sso_signer.rpc._eth import _EthMethods as E
    from sso_signer.rpc._flow import Flow
    from sso_signer.zksync._client import _ZkSyncMethods as Z

    which, body = args
    # The flows only yield requests here (drive answers them); the clients are never asked to send.
    eth, zks, bundler = E(), Z(), BundlerClient(_NO_NODE, gas_price_ttl=0)
    flows: list[Callable[[], Flow[Any]]] = [
        lambda: E.chain_id.flow(eth),
        lambda: E.get_block.flow(eth, "latest", True),
        lambda: E.get_transaction_receipt.flow(eth, bytes(32)),
        lambda: E.get_logs.flow(eth, address="0x" + "11" * 20),
        lambda: E.call.flow(eth, {"to": "0x" + "11" * 20, "data": "0x"}),
        lambda: B.get_user_operation_receipt.flow(bundler, bytes(32)),
        lambda: B.get_user_operation_gas_price.flow(bundler),
        lambda: B.estimate_user_operation_gas.flow(bundler, _USER_OPERATION),
        lambda: Z.get_transaction_details.flow(zks, bytes(32)),
        lambda: Z.estimate_fee.flow(zks, {"to": "0x" + "11" * 20}),
    ]
    drive(flows[which % len(flows)](), _answer_every_step_with(body))


_USER_OPERATION = UserOperation(
    sender="0x" + "11" * 20,
    nonce=0,
    call_data=b"",
    call_gas_limit=1,
    verification_gas_limit=1,
    pre_verification_gas=1,
    max_fee_per_gas=1,
    max_priority_fee_per_gas=1,
    signature=b"\x01",
)


def _send_user_operation(body: bytes) -> None:
    from sso_signer._shell import drive
    from sso_signer.erc4337 import BundlerClient
    from sso_signer.erc4337._bundler import _BundlerMethods

    flow = _BundlerMethods.send_user_operation.flow(BundlerClient(_NO_NODE), _USER_OPERATION, chain_id=1)
    drive(flow, _answer_every_step_with(body))


class _RelyingPartyFixture:
    """One relying party over a SQLite store in a temporary directory, created on first use per process."""

    def __init__(self) -> None:
        import tempfile
        from pathlib import Path

        from sso_signer.webauthn import RelyingParty, SQLiteStore

        self.path = Path(tempfile.mkdtemp(prefix="fuzz-rp-")) / "rp.sqlite"
        self.store = SQLiteStore(self.path)
        self.rp = RelyingParty(rp_id="a.example", rp_name="A", origins="https://a.example", store=self.store)
        self.rp.registration_options(user_name="alice", user_handle=b"h" * 16)

    def dump(self) -> list[str]:
        import sqlite3

        with contextlib.closing(sqlite3.connect(self.path)) as conn:
            return list(conn.iterdump())


_RP: list[_RelyingPartyFixture] = []


def _relying_party(args: tuple[str, bytes]) -> None:
    if not _RP:
        _RP.append(_RelyingPartyFixture())
    fixture = _RP[0]
    which, document = args
    before = fixture.dump()
    try:
        if which == "registration":
            fixture.rp.verify_registration(document, user_handle=b"h" * 16)
        else:
            fixture.rp.verify_authentication(document)
    except SsoSignerError:
        assert fixture.dump() == before, "a refused response changed the store"
        raise


def _credential_with_client_data(cdj: bytes) -> bytes:
    return json.dumps(
        {
            "id": "AAAA",
            "rawId": "AAAA",
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url_encode(cdj),
                "authenticatorData": b64url_encode(bytes(37)),
                "signature": "MAYCAQECAQE",
                "attestationObject": "oA",
            },
        }
    ).encode()


_PEM: list[str] = []


def _key_file_pem() -> str:
    if not _PEM:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.derive_private_key(7, ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _PEM.append(pem.decode("ascii"))
    return _PEM[0]


def _in_temp_file(data: bytes, check: Callable[[str], object]) -> None:
    import os
    import tempfile

    fd, path = tempfile.mkstemp(prefix="fuzz-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        check(path)
    finally:
        os.unlink(path)


def _key_file(metadata: bytes) -> None:
    from sso_signer.webauthn import HeadlessPasskey

    data = b"sso-signer-passkey: " + metadata + b"\n" + _key_file_pem().encode("ascii")
    _in_temp_file(data, HeadlessPasskey.load)


def _deployment_file(document: bytes) -> None:
    from sso_signer.accounts import EraNetwork
    from sso_signer.cli._deploy import load_deployment

    _in_temp_file(document, load_deployment)
    _in_temp_file(document, EraNetwork.from_deployment)


def _msa_deployment(document: bytes) -> None:
    from sso_signer.accounts import MsaDeployment

    MsaDeployment.from_json(document.decode("utf-8", "replace"))


def _parse_wei(text: str) -> None:
    from sso_signer.cli._context import parse_wei

    amount = parse_wei(text)
    assert 0 <= amount < 2**256


def _parse_wei_round_trip(args: tuple[int, str]) -> None:
    from sso_signer.cli._context import parse_wei

    wei, unit = args
    decimals = {"wei": 0, "gwei": 9, "ether": 18}[unit]
    whole, fraction = divmod(wei, 10**decimals)
    text = f"{whole}.{fraction:0{decimals}d}{unit}" if decimals else f"{wei}{unit}"
    assert parse_wei(text) == wei


def _parse_cli_data(text: str) -> None:
    from sso_signer.cli._context import parse_data

    parse_data(text)


@st.composite
def _hostile_cbor(draw: st.DrawFn) -> bytes:
    """CBOR built to break decoders: deep nesting, lengths far beyond the data, indefinite items, tags."""
    depth = draw(st.integers(1, 1 << 17))
    head = draw(
        st.sampled_from(
            [
                b"\x81" * depth + b"\x00",  # arrays of one
                b"\xa1\x01" * depth + b"\x00",  # maps of one
                b"\x9f" * depth + b"\xff" * depth,  # indefinite arrays
                b"\xd8\x18" * depth + b"\x00",  # nested tags
                b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff",  # a byte string of 2**64-1 bytes
                b"\x9b\x00\x00\x00\x01\x00\x00\x00\x00",  # an array of 2**32 items
                b"\x7f" + b"\x61a" * depth,  # an unterminated indefinite text
                b"\xc2\x5a\x00\x10\x00\x00" + b"\xff" * 64,  # a bignum claiming 1 MiB
            ]
        )
    )
    return head + draw(st.binary(max_size=16))


def _attestation_object(att: bytes) -> None:
    document = {
        "id": "AAAA",
        "rawId": "AAAA",
        "type": "public-key",
        "response": {"clientDataJSON": "e30", "attestationObject": b64url_encode(att)},
    }
    RegistrationResponse.from_json(document)


#: What importing py_ecc sets the recursion limit to. Hypothesis resets the limit around each example, so
#: the hostile checks set it themselves: a parser that recurses without bound then overruns the C stack and
#: kills the worker (which the campaign reports) instead of raising RecursionError.
RAISED_RECURSION_LIMIT = 100_000


def _with_raised_recursion_limit(check: Check) -> Check:
    def run(value: Any) -> object:
        previous = sys.getrecursionlimit()
        sys.setrecursionlimit(RAISED_RECURSION_LIMIT)
        try:
            return check(value)
        finally:
            sys.setrecursionlimit(previous)

    return run


def _hostile(
    name: str, strategy: st.SearchStrategy[Any], check: Check, *, roundtrip: bool = False
) -> FuzzTarget:
    return FuzzTarget(name, strategy, _with_raised_recursion_limit(check), roundtrip=roundtrip)


HOSTILE_TARGETS: tuple[FuzzTarget, ...] = (
    # JSON-RPC answers of nodes and bundlers
    _hostile("hostile_rpc_answer.single", _rpc_answers, _rpc_single),
    _hostile("hostile_rpc_answer.batch", _rpc_answers, _rpc_batch),
    _hostile(
        "hostile_rpc_answer.read_flows",
        st.tuples(st.integers(0, 9), _hostile_document(_RPC_ENVELOPE)),
        _read_flows,
    ),
    _hostile(
        "hostile_rpc_answer.send_raw_transaction", _hostile_document(_RPC_ENVELOPE), _send_raw_transaction
    ),
    _hostile(
        "hostile_rpc_answer.send_user_operation", _hostile_document(_RPC_ENVELOPE), _send_user_operation
    ),
    # WebAuthn JSON from browsers
    _hostile(
        "hostile_credential_json.registration",
        _hostile_document(_CREDENTIAL_ENVELOPE),
        lambda b: RegistrationResponse.from_json(b),
    ),
    _hostile(
        "hostile_credential_json.authentication",
        _hostile_document(_CREDENTIAL_ENVELOPE),
        lambda b: Assertion.from_json(b),
    ),
    _hostile(
        "hostile_client_data.relying_party",
        _hostile_document(_CLIENT_DATA_ENVELOPE),
        lambda b: CollectedClientData(b),
    ),
    _hostile(
        "hostile_client_data.preflight",
        _hostile_document(_CLIENT_DATA_ENVELOPE),
        lambda b: parse_client_data_json(b),
    ),
    _hostile(
        "hostile_client_data.in_credential_json",
        _hostile_document(_CLIENT_DATA_ENVELOPE).map(_credential_with_client_data),
        lambda b: Assertion.from_json(b),
    ),
    _hostile(
        "hostile_relying_party.store_unchanged",
        st.tuples(
            st.sampled_from(["registration", "authentication"]),
            _hostile_document(_CREDENTIAL_ENVELOPE)
            | _hostile_document(_CLIENT_DATA_ENVELOPE).map(_credential_with_client_data),
        ),
        _relying_party,
    ),
    # CBOR: attestation objects and COSE keys
    _hostile("hostile_cbor.decode", _hostile_cbor(), lambda b: decode_strict(b, field="fuzz")),
    _hostile("hostile_cbor.cose_key", _hostile_cbor(), lambda b: P256PublicKey.from_cose(b)),
    _hostile("hostile_cbor.attestation_object", _hostile_cbor(), _attestation_object),
    # Files: key files and deployment JSON
    _hostile("hostile_key_file.metadata", _hostile_document(b'{"rp_id":"a.example","x":%s}'), _key_file),
    _hostile("hostile_deployment.file", _hostile_document(_DEPLOYMENT_ENVELOPE), _deployment_file),
    _hostile("hostile_deployment.msa_json", _hostile_document(_DEPLOYMENT_ENVELOPE), _msa_deployment),
    # Command-line arguments
    _hostile(
        "hostile_cli.amount",
        st.text(max_size=40) | st.from_regex(r"\A[0-9]{1,200}(\.[0-9]{0,200})?\s?(wei|gwei|ether|eth)?\Z"),
        _parse_wei,
    ),
    _hostile(
        "hostile_cli.amount_round_trip",
        st.tuples(st.integers(0, 2**256 - 1), st.sampled_from(["wei", "gwei", "ether"])),
        _parse_wei_round_trip,
        roundtrip=True,
    ),
    _hostile("hostile_cli.calldata", st.text(max_size=80), _parse_cli_data),
)

TARGETS: tuple[FuzzTarget, ...] = _FORMAT_TARGETS + HOSTILE_TARGETS
