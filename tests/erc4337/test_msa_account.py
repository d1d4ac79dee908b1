"""ERC-4337 account lifecycle encodings, no chain: init data, factory calldata, salt, estimation stub."""

from __future__ import annotations

import hashlib
import json

import pytest
from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from sso_signer.accounts import MsaDeployment
from sso_signer.exceptions import ErrorCode
from sso_signer.sso import FatSignature, validator_init_data
from sso_signer.sso._msa_calldata import (
    DEPLOY_ACCOUNT_SELECTOR,
    INITIALIZE_ACCOUNT_SELECTOR,
    account_salt,
    deploy_account_calldata,
    initialize_account_calldata,
    passkey_account_init_data,
    passkey_stub_signature,
)
from sso_signer.sso._signature import decode_erc4337_passkey_signature
from sso_signer.webauthn import AuthenticatorData, HeadlessPasskey
from sso_signer.webauthn._client_data import CollectedClientData
from sso_signer.webauthn._p256 import P256_N, EcdsaSignature
from tests.errors import raises_rule

VALIDATOR = "0x" + "11" * 20
EXECUTOR = "0x" + "22" * 20
ORIGIN = "https://app.example.org"


@pytest.fixture(scope="module")
def passkey() -> HeadlessPasskey:
    return HeadlessPasskey.generate(rp_id="app.example.org", origin=ORIGIN)


def test_selectors_are_the_official_ones() -> None:
    assert INITIALIZE_ACCOUNT_SELECTOR.hex() == "f0efd465"
    assert DEPLOY_ACCOUNT_SELECTOR.hex() == "574caef3"


def test_init_data_installs_the_validator_first(passkey: HeadlessPasskey) -> None:
    init = passkey_account_init_data(
        passkey, webauthn_validator=VALIDATOR, extra_modules=[(EXECUTOR, b"\x01")]
    )
    assert init[:4] == INITIALIZE_ACCOUNT_SELECTOR
    modules, data = abi_decode(["address[]", "bytes[]"], init[4:])
    assert [m.lower() for m in modules] == [VALIDATOR, EXECUTOR]
    assert data[0] == validator_init_data(passkey.credential_id, passkey.public_key, ORIGIN)
    credential_id, key, origin = abi_decode(["bytes", "bytes32[2]", "string"], data[0])
    assert credential_id == passkey.credential_id
    assert [int.from_bytes(k, "big") for k in key] == [passkey.public_key.x, passkey.public_key.y]
    assert origin == ORIGIN
    assert data[1] == b"\x01"


def test_init_data_enforces_validator_rules(passkey: HeadlessPasskey) -> None:
    short = HeadlessPasskey.generate(rp_id="a.example", origin=ORIGIN, credential_id=b"\x01" * 15)
    with raises_rule(ErrorCode.BAD_CREDENTIAL_ID_LENGTH):
        passkey_account_init_data(short, webauthn_validator=VALIDATOR)
    long_origin = HeadlessPasskey.generate(rp_id="a.example", origin="https://" + "a" * 250)
    with raises_rule(ErrorCode.BAD_DOMAIN_LENGTH):
        passkey_account_init_data(long_origin, webauthn_validator=VALIDATOR)
    with raises_rule(ErrorCode.INVALID_INIT_DATA):
        initialize_account_calldata([VALIDATOR], [])
    with raises_rule(ErrorCode.INVALID_ADDRESS):
        initialize_account_calldata(["0x1234"], [b""])


def test_deploy_calldata_layout() -> None:
    salt = bytes(range(32))
    calldata = deploy_account_calldata(salt, b"\xaa\xbb")
    assert calldata[:4] == DEPLOY_ACCOUNT_SELECTOR
    assert abi_decode(["bytes32", "bytes"], calldata[4:]) == (salt, b"\xaa\xbb")
    with raises_rule(ErrorCode.INVALID_INIT_DATA):
        deploy_account_calldata(b"\x00" * 31, b"")


def test_account_salt_matches_the_sdk_derivation() -> None:
    # generate_account_id: keccak256 of the lower-case hex *text* of the UTF-8 user id.
    assert account_salt("alice") == keccak(b"616c696365")
    assert account_salt("é") == keccak(b"c3a9")
    random_salts = {account_salt() for _ in range(4)}
    assert len(random_salts) == 4
    assert all(len(s) == 32 for s in random_salts)


def test_stub_is_well_formed_and_matches_the_real_signature_shape(passkey: HeadlessPasskey) -> None:
    stub = passkey_stub_signature(VALIDATOR, passkey, rp_id=passkey.rp_id)
    validator, fat = decode_erc4337_passkey_signature(stub)
    assert validator.lower() == VALIDATOR
    assert fat.credential_id == passkey.credential_id
    auth = AuthenticatorData(fat.authenticator_data)
    assert auth.flags & 0x05 == 0x05
    assert auth.rp_id_hash == hashlib.sha256(b"app.example.org").digest()
    client = CollectedClientData(fat.client_data_json)
    assert client.type == "webauthn.get"
    assert client.challenge == bytes(32)
    assert client.origin == ORIGIN
    assert client.cross_origin is False
    assert fat.s <= P256_N // 2
    # Not the real key: the validator will return failure (estimation) rather than accept it.
    assert not passkey.public_key.verify(
        EcdsaSignature(fat.r, fat.s),
        fat.authenticator_data + hashlib.sha256(fat.client_data_json).digest(),
    )
    real = passkey.sign(b"\x42" * 32)
    real_length = 20 + len(FatSignature.from_assertion(real).encode())
    # Padded to cover a browser's longer clientDataJSON; without padding exactly the headless length.
    assert len(stub) >= real_length + 96
    assert len(passkey_stub_signature(VALIDATOR, passkey, rp_id=passkey.rp_id, client_data_padding=0)) == (
        real_length
    )


def test_deployment_json_round_trip() -> None:
    deployment = MsaDeployment(
        chain_id=31337,
        entry_point="0x4337084d9e255ff0702461cf8895ce9e3b5ff108",
        factory="0x" + "aa" * 20,
        beacon="0x" + "bb" * 20,
        account_implementation="0x" + "cc" * 20,
        webauthn_validator=VALIDATOR,
    )
    assert deployment.entry_point == "0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108"
    data = deployment.to_json()
    assert "testToken" not in data
    assert MsaDeployment.from_json(json.dumps(data)) == deployment
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
        MsaDeployment.from_json({"chainId": 1})
    with raises_rule(ErrorCode.SIGNER_CONFIGURATION):
        MsaDeployment.from_json("{not json")


def test_call_data_modes() -> None:
    from sso_signer.accounts._erc4337 import _call_data
    from sso_signer.erc4337._execute import CallType, decode_execute

    one = [(EXECUTOR, 1, b"")]
    two = [(EXECUTOR, 1, b""), (VALIDATOR, 2, b"\x01")]
    assert _call_data([], None) == b""
    assert decode_execute(_call_data(one, None)).call_type is CallType.SINGLE
    assert decode_execute(_call_data(one, True)).call_type is CallType.BATCH
    assert decode_execute(_call_data(two, None)).call_type is CallType.BATCH
    assert decode_execute(_call_data(one, False)).call_type is CallType.SINGLE
    with raises_rule(ErrorCode.INVALID_EXECUTE_CALLDATA):
        _call_data(two, False)
