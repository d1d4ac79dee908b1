"""Messages and signatures as a web3.py user meets them, on the local ERC-4337 stack (anvil + Alto).

Real web3.py (``Web3(HTTPProvider(anvil))``, ``AsyncWeb3(AsyncHTTPProvider(anvil))``) verifies what both
passkey accounts sign from eth-account ``SignableMessage``s: the ERC-4337 account's signatures through
``isValidSignature`` (deployed) and ERC-6492 (counterfactual, before and after deployment), the Era account's
through the deployed Era validator by ``eth_call``, and an EOA's by ``ecrecover``.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3, HTTPProvider, Web3
from web3.providers import AsyncBaseProvider, BaseProvider

from sso_signer._artifacts import load_artifact
from sso_signer.accounts import (
    AsyncErc4337Account,
    EraAccount,
    EraNetwork,
    Erc4337Account,
    PasskeySignedMessage,
    is_valid_signature,
)
from sso_signer.accounts._messages import _PACKED_OPS, personal_sign_digest
from sso_signer.accounts._verify import ERC6492_MAGIC, wrap_erc6492
from sso_signer.erc4337 import AsyncBundlerClient
from sso_signer.exceptions import ErrorCode, InvalidInputError
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.rpc import AsyncEthClient, EthClient
from sso_signer.sso import FatSignature, typed_data_sign_hash
from sso_signer.sso._msa_calldata import account_salt
from sso_signer.sso._signature import (
    decode_era_custom_signature,
    decode_erc4337_passkey_signature,
    erc4337_passkey_signature,
)
from sso_signer.webauthn import HeadlessPasskey
from sso_signer.webauthn._p256 import P256_N
from tests.errors import raises_rule

pytestmark = [pytest.mark.bundler, pytest.mark.chain]

ORIGIN = "http://localhost:5173"
RECIPIENT = "0x1111111111111111111111111111111111111111"
TYPED: dict[str, Any] = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
        ],
        "Order": [{"name": "id", "type": "uint256"}, {"name": "buyer", "type": "Person"}],
        "Person": [{"name": "wallet", "type": "address"}],
    },
    "primaryType": "Order",
    "domain": {"name": "Shop", "version": "1", "chainId": 31337},
    "message": {"id": 7, "buyer": {"wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"}},
}

# A struct of the contents that sorts before the contents' own name: the TypedDataSign type string lists
# "Address(...)Order(...)" (EIP-712 sorts the referenced types), which implicit ERC-7739 mode cannot say.
TYPED_EARLY: dict[str, Any] = {
    **TYPED,
    "types": {
        "EIP712Domain": TYPED["types"]["EIP712Domain"],
        "Order": [{"name": "id", "type": "uint256"}, {"name": "to", "type": "Address"}],
        "Address": [{"name": "wallet", "type": "address"}],
    },
    "message": {"id": 8, "to": {"wallet": RECIPIENT}},
}


@pytest.fixture
def stack(sso_stack: LocalErc4337Stack) -> LocalErc4337Stack:
    """The plugin's session stack (anvil + EntryPoint v0.8 + the SSO contracts + Alto)."""
    return sso_stack


@pytest.fixture
def w3(stack: LocalErc4337Stack) -> Web3:
    assert stack.node is not None
    return Web3(HTTPProvider(stack.node.url))


def _types() -> dict[str, Any]:
    return {k: v for k, v in TYPED["types"].items() if k != "EIP712Domain"}


def _passkey() -> HeadlessPasskey:
    return HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN)


def _unwrap(signature: bytes) -> tuple[str, bytes, bytes]:
    assert signature.endswith(ERC6492_MAGIC)
    factory, calldata, inner = abi_decode(["address", "bytes", "bytes"], signature[: -len(ERC6492_MAGIC)])
    return str(factory), bytes(calldata), bytes(inner)


def _high_s(blob: bytes) -> bytes:
    """The same ERC-4337 signature with the P-256 s replaced by its high twin (the validator refuses it)."""
    validator, fat = decode_erc4337_passkey_signature(blob)
    twin = FatSignature(
        fat.authenticator_data, fat.client_data_json, fat.r, P256_N - fat.s, fat.credential_id
    )
    return erc4337_passkey_signature(validator, twin)


def _tamper_deployment(calldata: bytes) -> bytes:
    """``handleOps([op], beneficiary)`` with the op's passkey signature replaced by its high-s twin."""
    types = [_PACKED_OPS, "address"]
    (op,), beneficiary = abi_decode(types, calldata[4:])
    op = (*op[:8], _high_s(op[8]))
    return calldata[:4] + abi_encode(types, [[op], beneficiary])


def test_counterfactual_signature_is_erc6492_and_verifies_before_and_after_deployment(
    stack: LocalErc4337Stack, w3: Web3, passkey_account: Erc4337Account
) -> None:
    account = passkey_account
    assert not account.is_deployed()
    message = encode_defunct(text="sign in to example.org, nonce 1")
    other = encode_defunct(text="sign in to example.org, nonce 2")

    signed = account.sign_message(message)
    assert isinstance(signed, PasskeySignedMessage)
    assert signed.erc6492
    assert signed.message_hash == _hash_eip191_message(message)
    assert signed.signature == bytes(signed)
    factory, calldata, inner = _unwrap(signed.signature)
    # The account is created through EntryPoint.handleOps (only its SenderCreator may create it).
    assert Web3.to_checksum_address(factory) == stack.deployment.entry_point
    assert not hasattr(signed, "r")  # no secp256k1 parts to misuse

    assert is_valid_signature(w3, account.address, message, signed)
    assert is_valid_signature(w3, account.address, "0x" + signed.message_hash.hex(), "0x" + signed.hex())
    assert not is_valid_signature(w3, account.address, other, signed)
    # Tampered inner signature, and a wrapper whose deployment call fails: both refused.
    tampered = wrap_erc6492(factory, calldata, _high_s(inner))
    assert not is_valid_signature(w3, account.address, message, tampered)
    assert not is_valid_signature(w3, account.address, message, b"\x01\x02" + ERC6492_MAGIC)  # undecodable
    broken = _tamper_deployment(calldata)
    assert not is_valid_signature(w3, account.address, message, wrap_erc6492(factory, broken, inner))
    assert not account.is_deployed()  # the verification's deployment stays inside the eth_call

    # A second message reuses the signed deployment: one passkey prompt, same wrapper calldata.
    typed = account.sign_typed_data(full_message=TYPED)
    assert typed.erc6492
    assert _unwrap(typed)[1] == calldata
    assert is_valid_signature(w3, account.address, encode_typed_data(full_message=TYPED), typed)

    # Deploy by the first UserOperation; the ERC-6492 signatures stay valid, by the standard's rule (the
    # inner signature asked of the deployed account) and by the account itself (it unwraps them).
    assert account.send(RECIPIENT, 1).success
    assert account.is_deployed()
    assert is_valid_signature(w3, account.address, message, signed)
    assert account.is_valid_signature(signed.message_hash, signed)
    assert is_valid_signature(w3, account.address, encode_typed_data(full_message=TYPED), typed)
    assert not is_valid_signature(w3, account.address, other, signed)

    # Deployed now: plain ERC-1271 signatures, verified the same way.
    plain = account.sign_message(message)
    assert not plain.erc6492
    assert not plain.endswith(ERC6492_MAGIC)
    assert is_valid_signature(w3, account.address, message, plain)
    assert w3.eth.get_code(w3.to_checksum_address(account.address))  # verified through isValidSignature
    assert not is_valid_signature(w3, account.address, message, _high_s(plain))
    assert not is_valid_signature(w3, account.address, other, plain)


def test_signable_messages_are_accepted_by_the_deployed_account(
    w3: Web3, passkey_account: Erc4337Account
) -> None:
    account = passkey_account
    assert account.send(RECIPIENT, 1).success
    hexstr = encode_defunct(hexstr="0x" + bytes(range(40)).hex())
    typed = encode_typed_data(full_message=TYPED)
    for message in (encode_defunct(text="hello"), hexstr, typed):
        signed = account.sign_message(message)
        assert signed.message_hash == _hash_eip191_message(message)
        assert account.is_valid_signature(signed.message_hash, signed)
        assert is_valid_signature(w3, account.address, message, signed)
    # eth-account's spelling of typed data: the three parts, or full_message; and the earlier positional form.
    for signed in (
        account.sign_typed_data(TYPED["domain"], _types(), TYPED["message"]),
        account.sign_typed_data(full_message=TYPED),
        account.sign_typed_data(TYPED),
    ):
        assert signed.message_hash == _hash_eip191_message(typed)
        assert is_valid_signature(w3, account.address, typed, signed)
        assert not is_valid_signature(w3, account.address, encode_defunct(text="hello"), signed)
    early = encode_typed_data(full_message=TYPED_EARLY)
    signed = account.sign_typed_data(full_message=TYPED_EARLY)
    assert is_valid_signature(w3, account.address, early, signed)
    assert not is_valid_signature(w3, account.address, typed, signed)
    # The raw hash signature is not an ERC-1271 signature of that hash (no ERC-7739 binding).
    raw = account.unsafe_sign_hash(keccak(b"raw"))
    assert isinstance(raw, PasskeySignedMessage)
    assert raw.message_hash == keccak(b"raw")
    assert not is_valid_signature(w3, account.address, raw.message_hash, raw)


async def test_async_account_signs_and_async_web3_verifies(stack: LocalErc4337Stack) -> None:
    assert stack.node is not None
    async_w3 = AsyncWeb3(AsyncHTTPProvider(stack.node.url))
    message = encode_defunct(text="async")
    async with AsyncEthClient(stack.node.url) as eth, AsyncBundlerClient(stack.bundler_url) as bundler:
        account = await AsyncErc4337Account.counterfactual(
            deployment=stack.deployment,
            eth=eth,
            bundler=bundler,
            credential=_passkey(),
            salt=account_salt(None),
        )
        signed = await account.sign_message(message)
        typed = await account.sign_typed_data(TYPED["domain"], _types(), TYPED["message"])
    assert signed.erc6492
    assert typed.erc6492
    assert await is_valid_signature(async_w3, account.address, message, signed)
    assert await is_valid_signature(async_w3, account.address, encode_typed_data(full_message=TYPED), typed)
    assert not await is_valid_signature(async_w3, account.address, encode_defunct(text="other"), signed)


def test_signed_message_survives_pickle_and_copy() -> None:
    signed = PasskeySignedMessage(b"\x01\x02", bytes(32), erc6492=True)
    pickled = pickle.loads(pickle.dumps(signed))  # noqa: S301 - our own bytes
    for clone in (pickled, copy.deepcopy(signed)):
        assert clone == signed
        assert isinstance(clone, PasskeySignedMessage)
        assert clone.message_hash == bytes(32)
        assert clone.erc6492


def test_signed_message_parts_are_hexbytes_as_eth_accounts() -> None:
    # eth-account's SignedMessage holds HexBytes (the hash typed Hash32): printed as 0x-hex, equal to bytes.
    eoa_signed = Account.create().sign_message(encode_defunct(text="shape"))
    signed = PasskeySignedMessage(b"\x01\x02", bytes(eoa_signed.message_hash))
    assert type(signed.message_hash) is type(eoa_signed.message_hash) is HexBytes
    assert type(signed.signature) is type(eoa_signed.signature) is HexBytes
    assert repr(signed.signature) == "HexBytes('0x0102')"
    assert signed.signature == b"\x01\x02" == bytes(signed)
    assert signed.message_hash == eoa_signed.message_hash
    shown = f"message_hash=0x{eoa_signed.message_hash.hex()}, signature=0x0102, erc6492=False"
    assert repr(signed) == f"PasskeySignedMessage({shown})"  # unchanged


def test_eoa_signatures_are_checked_by_ecrecover(w3: Web3) -> None:
    eoa: LocalAccount = Account.create()
    message = encode_defunct(text="from an EOA")
    signed = eoa.sign_message(message)
    assert is_valid_signature(w3, eoa.address, message, signed.signature)
    assert not is_valid_signature(w3, Account.create().address, message, signed.signature)
    assert not is_valid_signature(w3, eoa.address, encode_defunct(text="other"), signed.signature)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    twin = signed.r.to_bytes(32, "big") + (n - signed.s).to_bytes(32, "big") + bytes([55 - signed.v])
    assert not is_valid_signature(w3, eoa.address, message, twin)  # the malleable twin is refused


def test_bad_arguments_are_refused_before_any_request(w3: Web3) -> None:
    eoa = Account.create().address
    with raises_rule(ErrorCode.CHALLENGE_LENGTH):
        is_valid_signature(w3, eoa, b"short", b"")
    with raises_rule(ErrorCode.INVALID_ENCODING):
        is_valid_signature(w3, eoa, bytes(32), "not hex")
    with raises_rule(ErrorCode.INVALID_ADDRESS):
        is_valid_signature(w3, "0x1234", bytes(32), b"")


def test_era_signatures_are_accepted_by_the_era_validator(stack: LocalErc4337Stack, w3: Web3) -> None:
    assert stack.node is not None
    artifact = load_artifact("WebAuthValidator")
    validator, _ = stack.node.eth.deploy_contract(stack.deployer, artifact.deploy_data())
    # The Era validator keys passkeys by msg.sender: a funded EOA stands in for the account.
    owner: LocalAccount = Account.create()
    stack.fund(owner.address, 10**17)
    passkey = _passkey()
    register = artifact.encode_call(
        "addValidationKey",
        passkey.credential_id,
        [passkey.public_key.x_bytes, passkey.public_key.y_bytes],
        passkey.origin,
    )
    assert stack.node.eth.send_transaction(owner, validator, register).status == 1
    network = EraNetwork(name="local", chain_id=w3.eth.chain_id, passkey_validator=validator)
    # Signing asks only the passkey: the chain is reached by web3.py's eth_call below, not by the account.
    account = EraAccount(EthClient("http://127.0.0.1:9"), network, owner.address, passkey)

    def validates(digest: bytes, blob: bytes) -> bool:
        fat = decode_era_custom_signature(blob).fat_signature
        data = artifact.encode_call("validateSignature", digest, fat.encode())
        (valid,) = abi_decode(["bool"], w3.eth.call({"from": owner.address, "to": validator, "data": data}))
        return bool(valid)

    domain = account.signer.domain
    for message in (encode_defunct(text="era hello"), encode_typed_data(full_message=TYPED)):
        signed = account.sign_message(message)
        assert not signed.erc6492
        assert signed.message_hash == _hash_eip191_message(message)
        assert validates(personal_sign_digest(signed.message_hash, domain), signed)
        assert not validates(personal_sign_digest(keccak(b"other"), domain), signed)
    typed = account.sign_typed_data(full_message=TYPED)
    envelope = typed[: len(typed) - _erc7739_suffix_length(TYPED)]
    assert validates(typed_data_sign_hash(TYPED, domain), envelope)


def _erc7739_suffix_length(typed: dict[str, Any]) -> int:
    from eth_account._utils.encode_typed_data.encoding_and_hashing import encode_type

    return 32 + 32 + len(encode_type(typed["primaryType"], _types()).encode()) + 2


class _FaultyProvider(BaseProvider):
    """Injects one fixed JSON-RPC answer (a fault), whatever the request."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__()
        self.answer = answer

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_chainId":
            return {"jsonrpc": "2.0", "id": 1, "result": "0x7a69"}
        return {"jsonrpc": "2.0", "id": 1, **self.answer}


def test_node_failures_become_sdk_errors() -> None:
    eoa = Account.create().address
    refused = Web3(_FaultyProvider({"error": {"code": -32603, "message": "internal error"}}))
    with raises_rule(ErrorCode.RPC_ERROR) as caught:
        is_valid_signature(refused, eoa, bytes(32), b"")
    assert caught.value.code == -32603
    odd = Web3(_FaultyProvider({"result": "0x1234"}))
    with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
        is_valid_signature(odd, eoa, bytes(32), b"")
    unreachable = Web3(HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 5}))
    with raises_rule(ErrorCode.RPC_CONNECTION):
        is_valid_signature(unreachable, eoa, bytes(32), b"")
    # A hostile node's answers that web3.py's own result formatter chokes on (TypeError, binascii.Error).
    for result in HOSTILE_CALL_RESULTS:
        with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
            is_valid_signature(Web3(_FaultyProvider({"result": result})), eoa, bytes(32), b"")


HOSTILE_CALL_RESULTS: list[Any] = [{"a": 1}, [1], None, "0xzz", "zz", 1.5]


class _AsyncFaultyProvider(AsyncBaseProvider):
    """The async twin of :class:`_FaultyProvider`."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__()
        self.answer = answer

    async def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_chainId":
            return {"jsonrpc": "2.0", "id": 1, "result": "0x7a69"}
        return {"jsonrpc": "2.0", "id": 1, **self.answer}


async def test_hostile_answers_become_sdk_errors_async() -> None:
    eoa = Account.create().address
    for result in HOSTILE_CALL_RESULTS:
        with raises_rule(ErrorCode.MALFORMED_RPC_RESPONSE):
            await is_valid_signature(AsyncWeb3(_AsyncFaultyProvider({"result": result})), eoa, bytes(32), b"")


async def test_unreachable_node_async() -> None:
    unreachable = AsyncWeb3(AsyncHTTPProvider("http://127.0.0.1:9"))
    with raises_rule(ErrorCode.RPC_CONNECTION):
        await is_valid_signature(unreachable, Account.create().address, bytes(32), b"")


class _SdkErrorProvider(BaseProvider):
    """A provider (or a user's middleware) that raises one of the SDK's own errors, a ``ValueError``."""

    def make_request(self, method: Any, params: Any) -> Any:
        raise InvalidInputError("refused by the caller's middleware")


class _AsyncSdkErrorProvider(AsyncBaseProvider):
    """The async twin of :class:`_SdkErrorProvider`."""

    async def make_request(self, method: Any, params: Any) -> Any:
        raise InvalidInputError("refused by the caller's middleware")


async def test_an_sdk_error_from_the_provider_is_raised_as_it_is() -> None:
    """An SDK error is a ``ValueError`` too: it comes out unchanged, not as the node's malformed answer."""
    eoa = Account.create().address
    with raises_rule(ErrorCode.INVALID_INPUT, match="caller's middleware"):
        is_valid_signature(Web3(_SdkErrorProvider()), eoa, bytes(32), b"")
    with raises_rule(ErrorCode.INVALID_INPUT, match="caller's middleware"):
        await is_valid_signature(AsyncWeb3(_AsyncSdkErrorProvider()), eoa, bytes(32), b"")
