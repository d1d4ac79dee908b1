"""Session specs against the official vectors (shared/vectors/sso-sessions.json) and round-trip properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from sso_signer.erc4337._execute import encode_execute_single
from sso_signer.exceptions import InvalidSessionSpec, SsoEncodingError
from sso_signer.sso import (
    CallPolicy,
    Condition,
    Constraint,
    SessionCall,
    SessionKeyValidator,
    SessionSpec,
    SessionUsage,
    TransferPolicy,
    UsageLimit,
    check_call,
)
from sso_signer.sso._session_spec import ERC4337_SESSION_SPEC_TYPE, LimitType, SessionStatus
from tests.needs import SHARED_VECTORS

CANDIDATES = (SHARED_VECTORS / "sso-sessions.json",)


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    path = next((p for p in CANDIDATES if p.exists()), None)
    if path is None:
        pytest.skip(f"shared vector file sso-sessions.json not found at {[str(p) for p in CANDIDATES]}")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _limit(raw: dict[str, Any]) -> UsageLimit:
    return UsageLimit(LimitType(raw["limitType"]), int(raw["limit"]), int(raw["period"]))


def spec_from_json(raw: dict[str, Any]) -> SessionSpec:
    """The vector file's JSON spec as a typed :class:`SessionSpec`."""
    return SessionSpec(
        signer=raw["signer"],
        expires_at=int(raw["expiresAt"]),
        fee_limit=_limit(raw["feeLimit"]),
        call_policies=tuple(
            CallPolicy(
                target=p["target"],
                selector=bytes.fromhex(p["selector"][2:]),
                max_value_per_use=int(p["maxValuePerUse"]),
                value_limit=_limit(p["valueLimit"]),
                constraints=tuple(
                    Constraint(
                        Condition(c["condition"]), int(c["index"]), int(c["refValue"], 16), _limit(c["limit"])
                    )
                    for c in p["constraints"]
                ),
            )
            for p in raw["callPolicies"]
        ),
        transfer_policies=tuple(
            TransferPolicy(t["target"], int(t["maxValuePerUse"]), _limit(t["valueLimit"]))
            for t in raw["transferPolicies"]
        ),
    )


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


@pytest.mark.parametrize("name", ["A", "B"])
def test_encoding_hash_nonce_key_and_proof(vectors: dict[str, Any], name: str) -> None:
    vector = vectors["erc4337"][name]
    account = vectors["erc4337"]["environment"]["account"]
    spec = spec_from_json(vector["spec"])
    assert _hex(spec.encode()) == vector["spec_abi"]
    assert _hex(spec.session_hash) == vector["session_hash"]
    assert spec.nonce_key == int(vector["nonce_key"], 16) == int(spec.signer, 16)
    digest = spec.proof_digest(account)
    assert _hex(digest) == vector["proof_digest"]
    # The proof is a raw-hash RFC 6979 signature: eth-account reproduces it byte for byte.
    signed = Account.unsafe_sign_hash(digest, vector["session_key_private_key"])
    proof = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])
    assert _hex(proof) == vector["proof"]
    assert _hex(SessionKeyValidator.create_session(spec, proof)) == vector["createSession_calldata"]
    validator = vectors["erc4337"]["environment"]["sessionKeyValidator"]
    assert (
        _hex(encode_execute_single(validator, 0, SessionKeyValidator.create_session(spec, proof)))
        == vector["createSession_userOp_callData"]
    )


def test_rust_sdk_hash_vector(vectors: dict[str, Any]) -> None:
    vector = vectors["erc4337"]["rust_sdk_hash_rs_vector"]
    spec = spec_from_json(vector["spec"])
    assert _hex(spec.encode()) == vector["spec_abi"]
    assert _hex(spec.session_hash) == vector["session_hash"]


@pytest.mark.parametrize("name", ["A", "B"])
def test_era_sdk_spec_bytes_are_the_same(vectors: dict[str, Any], name: str) -> None:
    era = vectors["era_sdk"][name]
    spec = spec_from_json(vectors["erc4337"][name]["spec"])
    assert _hex(spec.encode()) == era["spec_abi"]
    assert _hex(spec.session_hash) == era["session_hash"]
    assert _hex(SessionKeyValidator.revoke_key(spec.session_hash)) == era["revoke_key_calldata"]


def test_revoke_and_view_calldata(vectors: dict[str, Any]) -> None:
    revoke = vectors["erc4337"]["revoke"]
    env = vectors["erc4337"]["environment"]
    a = spec_from_json(vectors["erc4337"]["A"]["spec"])
    b = spec_from_json(vectors["erc4337"]["B"]["spec"])
    assert _hex(SessionKeyValidator.revoke_key(a.session_hash)) == revoke["revokeKey_calldata"]
    hashes = abi_decode(["bytes32[]"], bytes.fromhex(revoke["revokeKeys_calldata"][10:]))[0]
    assert list(hashes) in ([a.session_hash, b.session_hash], [a.session_hash], [b.session_hash])
    assert _hex(SessionKeyValidator.revoke_keys(list(hashes))) == revoke["revokeKeys_calldata"]
    assert (
        _hex(SessionKeyValidator.session_status(env["account"], a.session_hash))
        == revoke["sessionStatus_calldata"]
    )
    state_specs = [
        s
        for s in (a, b)
        if _hex(SessionKeyValidator.session_state(env["account"], s)) == revoke["sessionState_calldata"]
    ]
    assert state_specs, "sessionState calldata matches neither vector spec"


def _user_ops(vectors: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(n, op) for n in ("A", "B") for op in vectors["erc4337"][n]["userOps"]]


def test_session_user_ops_bytes(vectors: dict[str, Any]) -> None:
    env = vectors["erc4337"]["environment"]
    checked = 0
    for name, op in _user_ops(vectors):
        spec = spec_from_json(vectors["erc4337"][name]["spec"])
        if op["target"] is not None and op["target"] != "None":
            call = SessionCall(op["target"], int(op["value"]), bytes.fromhex(op["call"][2:]))
            if op["callData"][:12] == "0xe9ae5c5300":
                assert _hex(call.call_data) == op["callData"], op["name"]
        ecdsa = bytes.fromhex(op["ecdsa_signature"][2:])
        signature = SessionKeyValidator.signature(env["sessionKeyValidator"], ecdsa, spec, op["periodIds"])
        assert _hex(signature) == op["signature"], op["name"]
        # The ECDSA part is the session key's raw signature of the userOpHash.
        signed = Account.unsafe_sign_hash(bytes.fromhex(op["userOpHash"][2:]), op["session_key_used"])
        assert signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v]) == ecdsa
        checked += 1
    assert checked >= 10


def test_period_ids_match_the_accepted_user_ops(vectors: dict[str, Any]) -> None:
    """The ids the contract accepted (B needs four: fee, value, two constraints); the official SDK's [fee, 0]
    is the B.neg_sdkperiods panic."""
    base = vectors["erc4337"]["environment"]["block_timestamp"]
    for name, op in _user_ops(vectors):
        if op.get("handleOps") != "success":
            continue
        spec = spec_from_json(vectors["erc4337"][name]["spec"])
        call = SessionCall(op["target"], int(op["value"]), bytes.fromhex(op["call"][2:]))
        now = base + 3600 if op["name"] == "B.op3_next_hour" else base
        assert list(spec.period_ids(call, now)) == op["periodIds"], op["name"]
        verdict = check_call(spec, call, now)
        assert verdict.accepted, (op["name"], verdict)
        result = op["validator_result"]
        fee = vectors["erc4337"]["environment"]["fee_charged_per_op"]
        assert check_call(spec, call, now, fee=fee).valid_until == result["validUntil"]
        assert check_call(spec, call, now, fee=fee).valid_after == result["validAfter"]


def test_check_call_names_the_vectors_reverts(vectors: dict[str, Any]) -> None:
    """Each refused vector userOp gets the contract's error name and arguments from the offline check."""
    base = vectors["erc4337"]["environment"]["block_timestamp"]
    b = spec_from_json(vectors["erc4337"]["B"]["spec"])
    token_call = bytes.fromhex(vectors["erc4337"]["B"]["userOps"][0]["call"][2:])
    # B.op2 happened before B.neg_allowance: 0.1e18 + 0.15e18 used in hour 486111.
    usage = SessionUsage(
        allowance={(("param", b.call_policies[0].target, token_call[:4], 1), 486111): 25 * 10**16}
    )
    seen = 0
    for name, op in _user_ops(vectors):
        revert = op.get("validator_revert")
        if revert is None or op["target"] in (None, "None") or op["name"] == "A.neg_noncekey":
            continue  # batch mode and the nonce key are checked outside check_call (encoders)
        spec = spec_from_json(vectors["erc4337"][name]["spec"])
        call = SessionCall(op["target"], int(op["value"]), bytes.fromhex(op["call"][2:]))
        verdict = check_call(
            spec, call, base, usage if op["name"] == "B.neg_allowance" else None, ids=op["periodIds"]
        )
        expected = revert["error"].split("(")[0]
        assert verdict.rule == expected, (op["name"], verdict)
        args = [int(a) if isinstance(a, str) and a.isdigit() else a for a in revert["args"]]
        ours = ["0x" + a.hex() if isinstance(a, bytes) else a for a in verdict.args]
        if expected == "Panic":
            ours = [str(verdict.args[0])]
            args = [str(a) for a in revert["args"]]
        assert [str(x).lower() for x in ours] == [str(x).lower() for x in args], op["name"]
        seen += 1
    assert seen >= 6


def test_period_one_and_unlimited_fees_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidSessionSpec) as caught:
        UsageLimit.allowance(10, 1)
    assert caught.value.field == "period"
    with pytest.raises(InvalidSessionSpec) as caught:
        UsageLimit.allowance(10, 0)
    assert caught.value.field == "period"
    assert UsageLimit.allowance(10, 2).period == 2
    with pytest.raises(InvalidSessionSpec) as caught:
        SessionSpec("0x" + "11" * 20, 10**9, UsageLimit.unlimited())
    assert caught.value.field == "fee_limit"
    with pytest.raises(InvalidSessionSpec) as caught:
        SessionSpec("0x" + "00" * 20, 10**9, UsageLimit.lifetime(1))
    assert caught.value.field == "signer"
    with pytest.raises(InvalidSessionSpec) as caught:
        SessionSpec("0x" + "11" * 20, 2**48, UsageLimit.lifetime(1))
    assert caught.value.field == "expires_at"
    with pytest.raises(InvalidSessionSpec) as caught:
        Constraint(Condition.EQUAL, 2**64)
    assert caught.value.field == "index"


def test_check_call_rules_offline() -> None:
    target = "0x" + "aa" * 20
    spec = SessionSpec(
        "0x" + "11" * 20,
        10_000,
        UsageLimit.allowance(1000, 100),
        call_policies=(
            CallPolicy(
                target,
                b"\x12\x34\x56\x78",
                max_value_per_use=5,
                value_limit=UsageLimit.lifetime(8),
                constraints=(Constraint(Condition.GREATER, 0, 10, UsageLimit.allowance(50, 10)),),
            ),
        ),
    )
    data = b"\x12\x34\x56\x78" + (20).to_bytes(32, "big")
    ok = check_call(spec, SessionCall(target, 5, data), 1005, fee=100)
    assert ok.accepted
    assert (ok.valid_after, ok.valid_until) == (1000, 1009)
    assert ok.usage is not None
    assert check_call(spec, SessionCall(target, 6, data), 1005).rule == "MaxValueExceeded"
    again = check_call(spec, SessionCall(target, 5, data), 1005, ok.usage)
    assert again.rule == "LifetimeUsageExceeded"
    assert again.args == (5, 8)
    low = check_call(spec, SessionCall(target, 0, data[:4] + (10).to_bytes(32, "big")), 1005)
    assert low.rule == "ConditionViolated"
    assert low.constraint == 0
    assert low.args[2] == Condition.GREATER
    assert check_call(spec, SessionCall(target, 0, data[:4]), 1005).rule == "InvalidDataLength"
    assert check_call(spec, SessionCall(target, 0, b"\x01\x02"), 1005).rule == "InvalidDataLength"
    assert check_call(spec, SessionCall(target, 0, b"\xff" * 4), 1005).rule == "CallPolicyViolated"
    assert check_call(spec, SessionCall(target, 1), 1005).rule == "TransferPolicyViolated"
    assert check_call(spec, SessionCall(target, 0, data), 1005, fee=1001).rule == "AllowanceExceeded"
    assert check_call(spec, SessionCall(target, 0, data), 10_001).rule == "Expired"
    closed = SessionUsage(status=SessionStatus.CLOSED)
    assert check_call(spec, SessionCall(target, 0, data), 1005, closed).rule == "SessionNotActive"
    assert check_call(spec, SessionCall(target, 0, data), 1005, ids=[0, 0]).rule == "Panic"


addresses = st.binary(min_size=20, max_size=20).filter(lambda b: any(b)).map(lambda b: "0x" + b.hex())
u256 = st.integers(0, 2**256 - 1)


@st.composite
def limits(draw: st.DrawFn) -> UsageLimit:
    kind = draw(st.sampled_from(LimitType))
    if kind is LimitType.UNLIMITED:
        return UsageLimit.unlimited()
    if kind is LimitType.LIFETIME:
        return UsageLimit.lifetime(draw(u256))
    return UsageLimit.allowance(draw(u256), draw(st.integers(2, 2**48 - 1)))


@st.composite
def specs(draw: st.DrawFn) -> SessionSpec:
    constraint = st.builds(Constraint, st.sampled_from(Condition), st.integers(0, 2**64 - 1), u256, limits())
    call = st.builds(
        CallPolicy,
        addresses,
        st.binary(min_size=4, max_size=4),
        u256,
        limits(),
        st.lists(constraint, max_size=3).map(tuple),
    )
    transfer = st.builds(TransferPolicy, addresses, u256, limits())
    fee = draw(limits().filter(lambda limit: limit.limit_type is not LimitType.UNLIMITED))
    return SessionSpec(
        draw(addresses),
        draw(st.integers(0, 2**48 - 1)),
        fee,
        tuple(draw(st.lists(call, max_size=3))),
        tuple(draw(st.lists(transfer, max_size=3))),
    )


@given(specs())
def test_encoding_round_trips_through_eth_abi(spec: SessionSpec) -> None:
    encoded = spec.encode()
    assert encoded[:32] == (32).to_bytes(32, "big")
    again = SessionSpec.decode(encoded)
    assert again == spec
    assert again.session_hash == spec.session_hash


@given(specs(), st.lists(st.integers(0, 2**48 - 1), min_size=2, max_size=6))
def test_session_signature_layout(spec: SessionSpec, ids: list[int]) -> None:
    validator = "0x" + "ab" * 20
    blob = SessionKeyValidator.signature(validator, b"\x07" * 65, spec, ids)
    assert blob[:20] == b"\xab" * 20
    sig, decoded, decoded_ids = abi_decode(["bytes", ERC4337_SESSION_SPEC_TYPE, "uint48[]"], blob[20:])
    assert sig == b"\x07" * 65
    assert list(decoded_ids) == ids
    assert abi_encode([ERC4337_SESSION_SPEC_TYPE], [decoded]) == spec.encode()
    assert int.from_bytes(blob[20 + 32 : 20 + 64], "big") == 0xE0  # the spec follows the three head words


@pytest.mark.parametrize(
    ("name", "key"), [("A", "sessionState_after"), ("B", "sessionState_after"), ("B", "sessionState_after3")]
)
def test_session_state_decoding(vectors: dict[str, Any], name: str, key: str) -> None:
    raw = vectors["erc4337"][name][key]
    state = SessionKeyValidator.decode_session_state(bytes.fromhex(raw["abi"][2:]))
    assert state.status is SessionStatus(raw["status"])
    assert state.fees_remaining == int(raw["feesRemaining"])
    for ours, theirs in (
        (state.transfer_value, raw["transferValue"]),
        (state.call_value, raw["callValue"]),
        (state.call_params, raw["callParams"]),
    ):
        assert [(e.remaining, e.target.lower(), "0x" + e.selector.hex(), e.index) for e in ours] == [
            (int(t["remaining"]), t["target"].lower(), t["selector"], int(t["index"])) for t in theirs
        ]


def test_decode_refuses_what_the_builder_refuses(vectors: dict[str, Any]) -> None:
    spec = spec_from_json(vectors["erc4337"]["A"]["spec"])
    encoded = bytearray(spec.encode())
    assert SessionSpec.decode(bytes(encoded)) == spec
    with pytest.raises(SsoEncodingError):
        SessionSpec.decode(bytes(encoded) + bytes(32))  # trailing bytes are not canonical
    with pytest.raises(SsoEncodingError):
        SessionSpec.decode(bytes(encoded[:100]))
    # The fee limit's type word is at 0x20 + 0x40: make it Allowance with period 1 (word at 0x20 + 0x80).
    encoded[0x20 + 0x5F] = 2
    encoded[0x20 + 0x9F] = 1
    with pytest.raises(InvalidSessionSpec) as caught:
        SessionSpec.decode(bytes(encoded))
    assert caught.value.field == "period"
    with pytest.raises(SsoEncodingError):
        SessionKeyValidator.decode_session_state(b"\x01" * 31)


@pytest.mark.parametrize("signer", ["0x1234", "0x" + "zz" * 20, "0x" + "aB" * 20])
def test_a_malformed_address_is_refused_naming_the_field(signer: str) -> None:
    # Short, not hex, bad EIP-55 checksum: the address check's error becomes the session spec's.
    with pytest.raises(InvalidSessionSpec) as caught:
        SessionSpec(signer, 10**9, UsageLimit.lifetime(1))
    assert caught.value.field == "signer"


@pytest.mark.parametrize("ids", [[True], [-1], [2**48]])
def test_a_period_id_that_is_not_a_uint48_is_refused(vectors: dict[str, Any], ids: list[int]) -> None:
    # A bool used to reach eth-abi and escape as its EncodingTypeError.
    spec = spec_from_json(vectors["erc4337"]["A"]["spec"])
    with pytest.raises(SsoEncodingError):
        SessionKeyValidator.signature("0x" + "11" * 20, bytes(65), spec, ids)
    with pytest.raises(SsoEncodingError):
        SessionKeyValidator.era_signature("0x" + "11" * 20, bytes(65), spec, [*ids, 2**64])
