"""Pure parts of the rpc room and the artifacts loader: revert decoding, value codecs, ABI helpers."""

from __future__ import annotations

import contextlib
import json
import pathlib

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from hypothesis import given
from hypothesis import strategies as st

from sso_signer._artifacts import load_artifact
from sso_signer.exceptions import (
    ConfigurationError,
    ErrorCode,
    InvalidInputError,
    InvalidRpcParams,
    MalformedRpcResponse,
    RemoteError,
    SsoSignerError,
)
from sso_signer.rpc import Receipt, RevertData
from sso_signer.rpc._core import RetryPolicy, is_idempotent
from sso_signer.rpc._revert import RevertKind
from sso_signer.rpc._types import encode_block_id, encode_tx_request, local_tx_hash, parse_quantity
from tests.errors import raises_rule
from tests.rpc.contracts import error_string, panic

# -- revert data ------------------------------------------------------------------------------------------


@given(st.text(max_size=200))
def test_error_string_round_trip(reason: str) -> None:
    revert = RevertData.decode(error_string(reason))
    assert revert.kind is RevertKind.ERROR
    assert revert.reason == reason


@given(st.integers(min_value=0, max_value=2**256 - 1))
def test_panic_round_trip(code: int) -> None:
    revert = RevertData.decode(panic(code))
    assert revert.kind is RevertKind.PANIC
    assert revert.panic_code == code


@given(st.binary(max_size=300))
def test_decode_never_raises_and_keeps_raw(data: bytes) -> None:
    revert = RevertData.decode(data)
    assert revert.raw == data
    assert isinstance(revert.describe(), str)


def test_custom_error_selector_and_args() -> None:
    selector = keccak(text="NotOwner(address)")[:4]
    data = selector + encode(["address"], ["0x" + "11" * 20])
    revert = RevertData.decode(data)
    assert revert.kind is RevertKind.CUSTOM
    assert revert.selector == selector
    assert revert.args == data[4:]


def test_truncated_error_string_is_unknown() -> None:
    data = error_string("a long enough reason")[:-20]
    assert RevertData.decode(data).kind is RevertKind.UNKNOWN
    assert RevertData.decode(b"\x08\xc3").kind is RevertKind.UNKNOWN
    assert RevertData.decode(b"").kind is RevertKind.EMPTY


def test_panic_description_names_the_code() -> None:
    assert "overflow" in RevertData.decode(panic(0x11)).describe()
    assert "assert" in RevertData.decode(panic(0x01)).describe()


# -- value codecs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, 5, "5", "0x", "0xzz", "12"])
def test_parse_quantity_rejects(bad: object) -> None:
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
        parse_quantity(bad, "field")


def test_block_ids() -> None:
    assert encode_block_id(255) == "0xff"
    assert encode_block_id("pending") == "pending"
    for bad in (-1, "next", True):
        with pytest.raises(InvalidRpcParams):
            encode_block_id(bad)


def test_tx_request_encoding() -> None:
    encoded = encode_tx_request(
        {"from": "0x" + "ab" * 20, "to": None, "data": b"\x01", "value": 0, "gas_limit": 21000}
    )
    assert encoded["from"].lower() == "0x" + "ab" * 20
    assert {k: v for k, v in encoded.items() if k != "from"} == {
        "data": "0x01",
        "value": "0x0",
        "gas": "0x5208",
    }
    assert "to" not in encoded
    for bad in ({"value": -1}, {"data": 5}, {"to": "0x12"}, {"unknown": 1}, {"gas": True}):
        with pytest.raises(InvalidRpcParams):
            encode_tx_request(bad)


def test_local_hash_rules() -> None:
    assert local_tx_hash(b"\x02\xc0") == keccak(b"\x02\xc0")
    assert local_tx_hash(b"\x71\xc0") is None


def test_idempotency_classes() -> None:
    for method in (
        "eth_call",
        "eth_getBalance",
        "eth_sendRawTransaction",
        "zks_estimateFee",
        "zks_L1ChainId",
    ):
        assert is_idempotent(method), method
    for method in ("eth_sendTransaction", "evm_mine", "anvil_setBalance", "personal_sign", "eth_sign"):
        assert not is_idempotent(method), method


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(attempts=10, backoff=0.1, multiplier=2.0, max_backoff=0.5)
    assert [policy.delay(n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]


_RECEIPT: dict[str, object] = {
    "transactionHash": "0x" + "ad" * 32,
    "blockNumber": "0x1",
    "blockHash": "0x" + "bb" * 32,
    "transactionIndex": "0x0",
    "from": "0x" + "11" * 20,
    "to": None,
    "contractAddress": None,
    "status": "0x1",
    "gasUsed": "0x5208",
    "cumulativeGasUsed": "0x5208",
    "logs": [
        {
            "address": "0x" + "22" * 20,
            "topics": ["0x" + "cc" * 32],
            "data": "0x0102",
            "logIndex": "0x0",
            "blockNumber": "0x1",
            "transactionHash": "0x" + "ad" * 32,
        }
    ],
}


def test_receipt_hashes_are_hexbytes_as_in_web3() -> None:
    receipt = Receipt.from_rpc(_RECEIPT)
    (log,) = receipt.logs
    hashes = (receipt.transaction_hash, receipt.block_hash, log.topics[0], log.data, log.transaction_hash)
    assert [type(value) for value in hashes] == [HexBytes] * 5
    assert receipt.transaction_hash == bytes.fromhex("ad" * 32)  # still equal to plain bytes
    assert f"transaction_hash=HexBytes('0x{'ad' * 32}')" in repr(receipt)
    assert "data=HexBytes('0x0102')" in repr(log)
    assert type(local_tx_hash(b"\x02\xc0")) is HexBytes


def test_receipt_parse_rejects_missing_fields() -> None:
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE, match="status"):
        Receipt.from_rpc({key: value for key, value in _RECEIPT.items() if key != "status"})


def test_error_categories() -> None:
    assert issubclass(InvalidRpcParams, InvalidInputError)
    assert issubclass(MalformedRpcResponse, RemoteError)
    assert issubclass(ConfigurationError, ConfigurationError)


# -- artifacts --------------------------------------------------------------------------------------------

ABI = [
    {
        "type": "constructor",
        "inputs": [{"name": "owner", "type": "address"}, {"name": "n", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "set",
        "inputs": [{"name": "v", "type": "uint256"}],
        "outputs": [],
        "stateMutability": "nonpayable",
    },
    {
        "type": "function",
        "name": "set",
        "inputs": [{"name": "k", "type": "bytes32"}, {"name": "v", "type": "uint256"}],
        "outputs": [],
        "stateMutability": "nonpayable",
    },
    {
        "type": "function",
        "name": "get",
        "inputs": [
            {
                "name": "key",
                "type": "tuple",
                "components": [{"name": "a", "type": "uint8"}, {"name": "b", "type": "bytes"}],
            }
        ],
        "outputs": [{"name": "", "type": "uint256"}, {"name": "", "type": "string"}],
        "stateMutability": "view",
    },
    {"type": "error", "name": "NotOwner", "inputs": [{"name": "who", "type": "address"}]},
]


def _write(tmp_path: pathlib.Path, name: str, data: object) -> pathlib.Path:
    (tmp_path / f"{name}.json").write_text(json.dumps(data))
    return tmp_path


def test_artifact_encoders(tmp_path: pathlib.Path) -> None:
    _write(tmp_path, "Thing", {"abi": ABI, "bytecode": "0x6001", "deployedBytecode": {"object": "0x00"}})
    art = load_artifact("Thing", directory=tmp_path)
    assert (art.bytecode, art.deployed_bytecode) == (b"\x60\x01", b"\x00")
    owner = "0x" + "22" * 20
    assert art.deploy_data(owner, 7) == b"\x60\x01" + encode(["address", "uint256"], [owner, 7])
    assert art.encode_call("set(uint256)", 5) == keccak(text="set(uint256)")[:4] + encode(["uint256"], [5])
    assert art.selector("get") == keccak(text="get((uint8,bytes))")[:4]
    assert art.encode_call("get", (1, b"x"))[4:] == encode(["(uint8,bytes)"], [(1, b"x")])
    assert art.decode_output("get", encode(["uint256", "string"], [9, "hi"])) == (9, "hi")
    error_data = keccak(text="NotOwner(address)")[:4] + encode(["address"], [owner])
    assert art.decode_error(error_data) == ("NotOwner(address)", (owner,))
    assert art.decode_error(b"\x00\x00\x00\x01") is None


def test_artifact_encoder_errors(tmp_path: pathlib.Path) -> None:
    _write(tmp_path, "Thing", {"abi": ABI, "bytecode": "0x", "deployedBytecode": "0x"})
    art = load_artifact("Thing", directory=tmp_path)
    with raises_rule(ErrorCode.UNKNOWN_ABI_ENTRY, match="overloaded"):
        art.encode_call("set", 1)
    with raises_rule(ErrorCode.UNKNOWN_ABI_ENTRY):
        art.encode_call("missing")
    with raises_rule(ErrorCode.ABI_ARGUMENTS):
        art.encode_call("set(uint256)", -1)
    with raises_rule(ErrorCode.ABI_ARGUMENTS):
        art.deploy_data("0x" + "22" * 20)
    with raises_rule(ErrorCode.ABI_DECODING):
        art.decode_output("get", b"\x01")


def test_missing_and_broken_artifacts(tmp_path: pathlib.Path) -> None:
    with raises_rule(ErrorCode.ARTIFACT_NOT_FOUND, match=r"scripts/build-contracts\.sh"):
        load_artifact("Nothing", directory=tmp_path)
    with raises_rule(ErrorCode.ARTIFACT_NOT_FOUND):
        load_artifact("../etc/passwd", directory=tmp_path)
    (tmp_path / "Bad.json").write_text("{")
    with raises_rule(ErrorCode.INVALID_ARTIFACT):
        load_artifact("Bad", directory=tmp_path)
    _write(tmp_path, "Linked", {"abi": [], "bytecode": "0x60__$abc$__", "deployedBytecode": "0x"})
    with raises_rule(ErrorCode.INVALID_ARTIFACT, match="unlinked"):
        load_artifact("Linked", directory=tmp_path)
    _write(tmp_path, "NoAbi", {"bytecode": "0x", "deployedBytecode": "0x"})
    with raises_rule(ErrorCode.INVALID_ARTIFACT, match="abi"):
        load_artifact("NoAbi", directory=tmp_path)


def test_rebuilt_artifact_is_reread(tmp_path: pathlib.Path) -> None:
    import os

    path = _write(tmp_path, "Thing", {"abi": [], "bytecode": "0x01", "deployedBytecode": "0x"}) / "Thing.json"
    assert load_artifact("Thing", directory=tmp_path).bytecode == b"\x01"
    path.write_text(json.dumps({"abi": [], "bytecode": "0x02", "deployedBytecode": "0x"}))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert load_artifact("Thing", directory=tmp_path).bytecode == b"\x02"


def test_repr_hides_api_keys_in_urls() -> None:
    from sso_signer.rpc import EthClient, JsonRpcClient
    from sso_signer.rpc._client import safe_url

    url = "https://user:pw@rpc.example.test:8443/v2/SECRETKEY?apikey=SECRET2"
    assert safe_url(url) == "https://rpc.example.test:8443/…"
    assert safe_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    for client in (JsonRpcClient(url), EthClient(url)):
        assert "SECRET" not in repr(client)
        assert "pw" not in repr(client)


def test_bad_urls_and_params_are_typed() -> None:
    from sso_signer.rpc import AsyncJsonRpcClient, JsonRpcClient
    from sso_signer.rpc._types import to_address

    for url in ("not a url", "ftp://host/x", "http://", 5):
        with pytest.raises(InvalidRpcParams):
            JsonRpcClient(url)  # type: ignore[arg-type]
        with pytest.raises(InvalidRpcParams):
            AsyncJsonRpcClient(url)  # type: ignore[arg-type]
    client = JsonRpcClient("http://127.0.0.1:9")
    with pytest.raises(InvalidRpcParams):
        client.request("eth_call", [b"bytes are not JSON"])
    with pytest.raises(InvalidRpcParams):
        client.request("eth_call", [float("nan")])
    checksummed = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert to_address(checksummed.lower()) == checksummed
    assert to_address(checksummed) == checksummed
    with pytest.raises(InvalidRpcParams, match="checksum"):
        to_address(checksummed.replace("f39F", "F39f"))


# -- robustness: whatever a node sends, only typed errors come out -------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(allow_nan=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_rpc_like = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.just("2.0"),
        "id": st.integers(0, 3) | st.none() | st.text(max_size=3),
        "result": _json,
        "error": _json | st.fixed_dictionaries({"code": st.integers(), "message": _json, "data": _json}),
    },
)


@given(
    st.integers(100, 599), st.one_of(st.binary(max_size=64), _rpc_like.map(lambda o: json.dumps(o).encode()))
)
def test_decode_single_only_raises_typed_errors(status: int, body: bytes) -> None:
    from sso_signer.rpc._core import RpcCall, RpcCore

    with contextlib.suppress(SsoSignerError):
        RpcCore().decode_single(RpcCall("eth_call"), 1, status, body)


@given(st.lists(_rpc_like, max_size=4).map(lambda o: json.dumps(o).encode()) | st.binary(max_size=32))
def test_decode_batch_only_raises_typed_errors(body: bytes) -> None:
    from sso_signer.rpc._core import RpcCall, RpcCore

    calls = [RpcCall("eth_chainId"), RpcCall("eth_call")]
    try:
        results = RpcCore().decode_batch(calls, [1, 2], 200, body)
    except SsoSignerError:
        return
    assert len(results) == 2


@given(
    st.dictionaries(
        st.sampled_from(["transactionHash", "blockNumber", "status", "from", "logs", "to"]), _json
    )
)
def test_receipt_parse_only_raises_typed_errors(obj: dict[str, object]) -> None:
    with contextlib.suppress(MalformedRpcResponse):
        Receipt.from_rpc(obj)


@given(st.dictionaries(st.sampled_from(["from", "to", "data", "value", "gas", "eip712Meta", "nonce"]), _json))
def test_tx_request_encoding_only_raises_typed_errors(tx: dict[str, object]) -> None:
    with contextlib.suppress(InvalidRpcParams):
        encode_tx_request(tx)
