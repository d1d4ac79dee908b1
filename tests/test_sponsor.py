"""The ERC-7677 sponsor service without a chain: its answers, its policy, and how it meets bad requests.

The app is served by uvicorn on a loopback port (the same server the local stack runs) and asked over HTTP.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sso_signer.erc4337 import PaymasterClient, UserOperation
from sso_signer.erc4337._execute import Call, encode_execute_delegatecall
from sso_signer.erc4337._paymaster import SPONSORSHIP_REFUSED_CODE, PaymasterFields
from sso_signer.exceptions import ErrorCode, InvalidRpcParams
from sso_signer.sponsor import _Served, sponsor_app, sponsorship_digest
from tests.errors import raises_rule

ENTRY_POINT = "0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108"
PAYMASTER = "0x" + "5a" * 20
CHAIN = 31337
NOW = 1_700_000_000
SENDER = "0x" + "11" * 20
# execute(bytes32 mode=single, bytes executionData=target ‖ value ‖ data) for a 0-value call to 0x22…22
CALL_DATA = bytes.fromhex(
    "e9ae5c53" + "00" * 32 + "40".rjust(64, "0") + "34".rjust(64, "0") + "22" * 20 + "00" * 32 + "00" * 12
)


def _policy(
    op: UserOperation, *, calls: tuple[Call, ...], chain_id: int, context: Mapping[str, Any]
) -> str | None:
    if context.get("explode"):
        raise RuntimeError("secret detail that must not leak")
    if any(call.target == "0x" + "99" * 20 for call in calls):
        return "target not sponsored"
    return None


@pytest.fixture
def signer() -> LocalAccount:
    made: LocalAccount = Account.create()
    return made


MAX_BODY = 16_384


@pytest.fixture
def client(signer: LocalAccount) -> Iterator[httpx.Client]:
    app = sponsor_app(
        paymaster=PAYMASTER,
        signer=signer,
        chain_id=CHAIN,
        policy=_policy,
        sponsor_name="tests",
        max_body=MAX_BODY,
        clock=lambda: NOW,
    )
    served = _Served(app).start()
    try:
        with httpx.Client(base_url=served.url) as made:
            yield made
    finally:
        served.stop()


def _op(**changes: Any) -> UserOperation:
    base = UserOperation(
        sender=SENDER,
        nonce=3,
        call_data=CALL_DATA,
        call_gas_limit=50_000,
        verification_gas_limit=200_000,
        pre_verification_gas=40_000,
        max_fee_per_gas=10,
        max_priority_fee_per_gas=1,
    )
    return base.replace(**changes)


def _request(
    method: str, op: UserOperation, *, chain: object = hex(CHAIN), context: object = None
) -> dict[str, Any]:
    params: list[Any] = [op.to_rpc(), ENTRY_POINT, chain]
    if context is not None:
        params.append(context)
    return {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}


def _error_code(response: Any) -> int:
    body = response.json()
    assert "result" not in body
    return int(body["error"]["code"])


def test_the_stub_is_as_long_as_the_final_data_and_not_final(client: httpx.Client) -> None:
    answer = client.post("/", json=_request("pm_getPaymasterStubData", _op())).json()
    assert answer["id"] == 7
    fields = PaymasterFields.from_rpc("pm_getPaymasterStubData", answer["result"])
    assert fields.paymaster.lower() == PAYMASTER
    assert len(fields.paymaster_data) == 77
    assert fields.paymaster_data[:6] == (NOW + 600).to_bytes(6, "big")
    assert fields.is_final is False
    assert fields.paymaster_post_op_gas_limit == 0
    assert fields.sponsor is not None
    assert fields.sponsor.name == "tests"


def test_the_final_data_is_the_signers_approval_of_the_operation(
    client: httpx.Client, signer: LocalAccount
) -> None:
    op = _op(paymaster=PAYMASTER, paymaster_verification_gas_limit=45_000, paymaster_data=bytes(77))
    answer = client.post("/", json=_request("pm_getPaymasterData", op)).json()
    fields = PaymasterFields.from_rpc("pm_getPaymasterData", answer["result"])
    data = fields.paymaster_data
    valid_until, valid_after = int.from_bytes(data[:6], "big"), int.from_bytes(data[6:12], "big")
    assert (valid_until, valid_after) == (NOW + 600, 0)
    digest = sponsorship_digest(
        op, paymaster=fields.paymaster, chain_id=CHAIN, valid_until=valid_until, valid_after=valid_after
    )
    assert Account._recover_hash(Hash32(digest), signature=data[12:]) == signer.address
    # Another gas limit is another approval.
    other = sponsorship_digest(
        op.replace(call_gas_limit=50_001),
        paymaster=fields.paymaster,
        chain_id=CHAIN,
        valid_until=valid_until,
        valid_after=valid_after,
    )
    assert Account._recover_hash(Hash32(other), signature=data[12:]) != signer.address


def test_a_refusal_carries_the_reason_and_a_failing_policy_leaks_nothing(
    client: httpx.Client,
) -> None:
    blocked = _op(call_data=CALL_DATA.replace(b"\x22" * 20, b"\x99" * 20))
    body = client.post("/", json=_request("pm_getPaymasterStubData", blocked)).json()
    assert body["error"] == {
        "code": SPONSORSHIP_REFUSED_CODE,
        "message": "target not sponsored",
        "data": {"rule": "sponsorship_refused"},  # the rule, for the client to raise it typed
    }
    body = client.post("/", json=_request("pm_getPaymasterStubData", _op(), context={"explode": 1})).json()
    assert body["error"]["code"] == -32603
    assert "secret" not in str(body)
    # Call data the policy cannot read is refused, not sponsored blindly.
    assert _error_code(
        client.post("/", json=_request("pm_getPaymasterStubData", _op(call_data=b"\x01\x02")))
    ) == (SPONSORSHIP_REFUSED_CODE)


def test_a_delegatecall_is_refused_not_shown_to_the_policy_as_a_plain_call(client: httpx.Client) -> None:
    # Attack: delegate-call an allowed-looking contract whose code then sends the account's ETH to the blocked
    # target; the policy saw (target, value 0, data), a call it allows, not the code it runs as the account.
    hidden = _op(call_data=encode_execute_delegatecall("0x" + "22" * 20, b"\x12\x34"))
    body = client.post("/", json=_request("pm_getPaymasterStubData", hidden)).json()
    assert body["error"]["code"] == SPONSORSHIP_REFUSED_CODE
    assert "delegatecall" in body["error"]["message"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (_request("pm_getPaymasterStubData", _op(), chain="0x1"), -32602),
        (
            {
                **_request("pm_getPaymasterStubData", _op()),
                "params": [_op().to_rpc(), "0x" + "12" * 20, "0x7a69"],
            },
            -32602,
        ),
        (
            {
                **_request("pm_getPaymasterStubData", _op()),
                "params": [{"sender": "0x12"}, ENTRY_POINT, "0x7a69"],
            },
            -32602,
        ),
        ({**_request("pm_getPaymasterStubData", _op()), "params": "nope"}, -32602),
        (_request("pm_getPaymasterStubData", _op(), context=["not", "an", "object"]), -32602),
        (_request("pm_getPaymasterData", _op()), -32602),  # the final request must name this paymaster
        (_request("eth_sendUserOperation", _op()), -32601),
        ({**_request("pm_getPaymasterStubData", _op()), "jsonrpc": "1.0"}, -32600),
        ({**_request("pm_getPaymasterStubData", _op()), "id": {"an": "object"}}, -32600),
        ("a string", -32600),
        ([], -32600),
        ([_request("pm_getPaymasterStubData", _op())] * 9, -32600),
    ],
)
def test_bad_requests_get_json_rpc_errors(client: httpx.Client, payload: object, code: int) -> None:
    response = client.post("/", json=payload)
    assert response.status_code == 200
    assert _error_code(response) == code


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[" * 5000 + b"]" * 5000,
        b'{"jsonrpc":"2.0","id":1,"x":' + b"9" * 200 + b"}",
        b"\xff\xfe",
    ],
)
def test_unparseable_bodies_get_a_parse_error(client: httpx.Client, body: bytes) -> None:
    response = client.post("/", content=body, headers={"content-type": "application/json"})
    assert _error_code(response) == -32700


def test_bodies_over_the_bound_are_refused_before_parsing(client: httpx.Client) -> None:
    assert client.post("/", content=b" " * (MAX_BODY + 1)).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the bound applies while reading
        for _ in range(20):
            yield b" " * 1000

    assert client.post("/", content=chunks()).status_code == 413
    assert client.get("/").status_code == 405


def test_batches_and_notifications(client: httpx.Client) -> None:
    first = _request("pm_getPaymasterStubData", _op())
    second = {**_request("pm_getPaymasterStubData", _op(nonce=4)), "id": "b"}
    answers = client.post("/", json=[first, second]).json()
    assert [answer["id"] for answer in answers] == [7, "b"]
    notification = {key: value for key, value in first.items() if key != "id"}
    assert client.post("/", json=notification).status_code == 204


def test_the_app_checks_its_arguments(signer: LocalAccount) -> None:
    with raises_rule(ErrorCode.INVALID_ADDRESS):
        sponsor_app(paymaster="0x12", signer=signer, chain_id=CHAIN, policy=_policy)
    with pytest.raises(InvalidRpcParams):
        sponsor_app(paymaster=PAYMASTER, signer=signer, chain_id=0, policy=_policy)
    with pytest.raises(InvalidRpcParams):
        sponsor_app(paymaster=PAYMASTER, signer=signer, chain_id=CHAIN, policy=_policy, validity=0)
    with pytest.raises(InvalidRpcParams):
        sponsor_app(paymaster=PAYMASTER, signer=signer, chain_id=CHAIN, policy=_policy, max_body=0)


def test_the_client_types_service_errors(signer: LocalAccount) -> None:
    served = _Served(sponsor_app(paymaster=PAYMASTER, signer=signer, chain_id=CHAIN, policy=_policy)).start()
    try:
        with PaymasterClient(served.url, paymasters=PAYMASTER, context={"campaign": "x"}) as service:
            stub = service.get_paymaster_stub_data(_op(), chain_id=CHAIN, entry_point=ENTRY_POINT)
            assert stub.paymaster.lower() == PAYMASTER
            with raises_rule(ErrorCode.PAYMASTER_SERVICE_ERROR) as caught:
                service.get_paymaster_stub_data(_op(), chain_id=1, entry_point=ENTRY_POINT)
            assert caught.value.code == -32602
            blocked = _op(call_data=CALL_DATA.replace(b"\x22" * 20, b"\x99" * 20))
            with raises_rule(ErrorCode.SPONSORSHIP_REFUSED) as refused:
                service.get_paymaster_stub_data(blocked, chain_id=CHAIN, entry_point=ENTRY_POINT)
            assert refused.value.reason == "target not sponsored"
            with pytest.raises(InvalidRpcParams):
                service.get_paymaster_stub_data(_op(), chain_id=CHAIN, context=["x"])  # type: ignore[arg-type]
    finally:
        served.stop()


def test_the_client_refuses_a_paymaster_it_is_not_pinned_to(signer: LocalAccount) -> None:
    served = _Served(
        sponsor_app(paymaster=PAYMASTER, signer=signer, chain_id=CHAIN, allow_any_sender=True)
    ).start()
    other = "0x" + "77" * 20
    try:
        # Pinned to another contract: the real service's stub and final answers are both refused.
        with PaymasterClient(served.url, paymasters=[other, "0x" + "78" * 20]) as wary:
            with raises_rule(ErrorCode.UNEXPECTED_PAYMASTER) as caught:
                wary.get_paymaster_stub_data(_op(), chain_id=CHAIN, entry_point=ENTRY_POINT)
            assert PAYMASTER in str(caught.value).lower()
            stubbed = _op(
                paymaster=PAYMASTER, paymaster_verification_gas_limit=40_000, paymaster_data=bytes(77)
            )
            with raises_rule(ErrorCode.UNEXPECTED_PAYMASTER):
                wary.get_paymaster_data(stubbed, chain_id=CHAIN, entry_point=ENTRY_POINT)
        # Several pins, in any case: the service's paymaster among them is accepted.
        with PaymasterClient(served.url, paymasters=(other, PAYMASTER.upper().replace("0X", "0x"))) as ok:
            assert ok.paymasters == {to_checksum_address(other), to_checksum_address(PAYMASTER)}
            stub = ok.get_paymaster_stub_data(_op(), chain_id=CHAIN, entry_point=ENTRY_POINT)
            assert stub.paymaster == to_checksum_address(PAYMASTER)
    finally:
        served.stop()
    # No pin is not "any paymaster": it is refused, as is a malformed one.
    for bad in ([], (), "0x12", ["0x12"], 5):
        with pytest.raises(InvalidRpcParams):
            PaymasterClient("http://127.0.0.1:1", paymasters=bad)  # type: ignore[arg-type]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
_REQUESTS = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "1.0"]), "id": st.integers(0, 9) | st.text(max_size=5)},
    optional={
        "method": st.sampled_from(["pm_getPaymasterStubData", "pm_getPaymasterData", "x"]),
        "params": st.lists(_JSON, max_size=5)
        | st.tuples(
            st.dictionaries(st.sampled_from(list(_op().to_rpc())), _JSON), st.just(ENTRY_POINT), _JSON
        ),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=_JSON | _REQUESTS | st.lists(_REQUESTS, max_size=3))
def test_any_json_document_gets_an_answer_never_a_crash(client: httpx.Client, document: object) -> None:
    response = client.post("/", json=document)
    assert response.status_code in (200, 204)
    if response.status_code == 200:
        answers = response.json()
        for answer in answers if isinstance(answers, list) else [answers]:
            assert answer["jsonrpc"] == "2.0"
            assert ("result" in answer) != ("error" in answer)


@pytest.mark.parametrize("missing", ["starlette", "uvicorn"])
def test_without_the_sponsor_extra_nothing_starts_and_the_hint_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, missing: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A user who skipped ``pip install "sso-signer[sponsor]"`` learns it at once, before a chain is started
    and paid for (the check used to come after anvil, the deployment and Alto, several seconds later)."""
    import json

    from sso_signer.cli import ExitCode, main
    from sso_signer.exceptions import ConfigurationError
    from sso_signer.local_erc4337 import LocalErc4337Stack

    monkeypatch.setitem(sys.modules, missing, None)  # as if the extra were not installed
    stack = LocalErc4337Stack(sponsor=True, sponsor_any_sender=True)
    with raises_rule(ErrorCode.CONFIGURATION, match=r"sso-signer\[sponsor\]") as info:
        stack.start()
    assert isinstance(info.value, ConfigurationError)
    assert missing in str(info.value)
    assert "anvil" not in stack.timings  # no anvil was started
    with raises_rule(ErrorCode.NODE_START_FAILED, match="not running"):
        _ = stack.node

    monkeypatch.chdir(tmp_path)  # where the command would write deployment.json
    started = time.monotonic()
    code = main(["node", "start", "--with-bundler", "--with-sponsor", "--json"])
    assert code == ExitCode.CONFIGURATION
    assert time.monotonic() - started < 5
    error = json.loads(capsys.readouterr().out)["error"]
    assert "sso-signer[sponsor]" in error["message"]
    assert error["rule"] == "configuration"
    assert not (tmp_path / "deployment.json").exists()


def test_without_the_sponsor_extra_the_command_does_not_say_it_is_starting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # It printed "starting anvil, deploying ..." and then the missing-extra error, though nothing started.
    from sso_signer.cli import ExitCode, main

    monkeypatch.setitem(sys.modules, "starlette", None)
    monkeypatch.chdir(tmp_path)
    assert main(["node", "start", "--with-bundler", "--with-sponsor"]) == ExitCode.CONFIGURATION
    printed = capsys.readouterr()
    assert "starting" not in printed.out
    assert "sso-signer[sponsor]" in printed.err
