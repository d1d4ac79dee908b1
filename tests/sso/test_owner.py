"""Owner encodings: validator init data, deployProxySsoAccount calldata, uniqueId schemes, account address."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from sso_signer._codec import b64url_decode, b64url_encode, hex_decode
from sso_signer.exceptions import ErrorCode
from sso_signer.sso import UniqueIdScheme, deploy_passkey_account_calldata, validator_init_data
from sso_signer.sso._owner import (
    DEPLOY_PROXY_SSO_ACCOUNT_SELECTOR,
    PasskeyInitData,
    deploy_proxy_sso_account_calldata,
    legacy_account_unique_id,
    modular_account_unique_id,
    sso_account_address,
    unique_account_id,
    validator_module_entry,
)
from sso_signer.webauthn import P256PublicKey
from tests.errors import raises_rule

PASSKEY = "0x006ecc2D79242F1986b7cb5F636d6E3f499f1026"
SESSION = "0x64Fa4b6fCF655024e6d540E0dFcA4142107D4fBC"
RECOVERY = "0x6AA83E35439D71F28273Df396BC7768dbaA9849D"
OWNER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


class _Owner:
    """A registered passkey as the vectors describe it (credential id, key, origin)."""

    def __init__(self, v1: dict[str, Any]) -> None:
        derived = v1["derived"]
        self.credential_id = b64url_decode(v1["verbatim"]["response"]["rawId"])
        self.public_key = P256PublicKey(int(derived["pubKeyX"], 16), int(derived["pubKeyY"], 16))
        self.origin: str = derived["originKey"]


@pytest.fixture
def owner(era_vectors: dict[str, Any]) -> _Owner:
    return _Owner(era_vectors["vector1_clave_signed_challenge"])


def test_vector1_init_data_and_module_entry(era_vectors: dict[str, Any], owner: _Owner) -> None:
    derived = era_vectors["vector1_clave_signed_challenge"]["derived"]
    init = validator_init_data(owner.credential_id, owner.public_key, owner.origin)
    assert init == hex_decode(derived["initData_onInstall_abi(bytes,bytes32[2],string)"])
    assert (
        validator_init_data(owner.credential_id, (owner.public_key.x, owner.public_key.y), owner.origin)
        == init
    )
    assert PasskeyInitData.decode(init) == PasskeyInitData(
        owner.credential_id, owner.public_key.x, owner.public_key.y, owner.origin
    )
    entry = validator_module_entry(PASSKEY, init)
    assert entry == hex_decode(derived["initialValidatorEntry_abi(address,bytes)_validator_0x006ecc2D"])


def test_vector6_unique_id_schemes(era_vectors: dict[str, Any], owner: _Owner) -> None:
    v6 = era_vectors["vector6_sdk_run_derived"]
    cred_b64u = b64url_encode(owner.credential_id)
    modular = modular_account_unique_id(
        unique_account_id=cred_b64u, owners=[OWNER], credential_id=owner.credential_id
    )
    assert modular == hex_decode(v6[f"deployModularAccount_salt_for_uniqueAccountId=credId,owner={OWNER}"])
    # Owners are hashed as checksummed text: a lower-case input must give the same salt.
    assert modular == modular_account_unique_id(
        unique_account_id=cred_b64u, owners=[OWNER.lower()], credential_id=owner.credential_id
    )
    assert legacy_account_unique_id(cred_b64u) == hex_decode(
        v6["deployAccount_salt_keccak(utf8(credIdB64u))"]
    )


def test_vector6_deploy_calldata(era_vectors: dict[str, Any], owner: _Owner) -> None:
    v6 = era_vectors["vector6_sdk_run_derived"]
    expected = hex_decode(v6["deployProxySsoAccount_calldata_(session,passkey,recovery modules; owner)"])
    unique_id, calldata = deploy_passkey_account_calldata(
        owner,
        passkey_validator=PASSKEY,
        session_validator=SESSION,
        no_data_modules=[RECOVERY],
        k1_owners=[OWNER],
    )
    assert calldata == expected
    assert (
        calldata[:4]
        == DEPLOY_PROXY_SSO_ACCOUNT_SELECTOR
        == keccak(b"deployProxySsoAccount(bytes32,bytes[],address[])")[:4]
    )
    assert unique_id == expected[4:36]
    # The low-level builder gives the same bytes from explicit parts.
    init = validator_init_data(owner.credential_id, owner.public_key, owner.origin)
    modules = [
        validator_module_entry(SESSION),
        validator_module_entry(PASSKEY, init),
        validator_module_entry(RECOVERY),
    ]
    assert deploy_proxy_sso_account_calldata(unique_id, modules, [OWNER]) == expected


def test_legacy_scheme_changes_only_the_salt(owner: _Owner) -> None:
    modular_id, modular = deploy_passkey_account_calldata(owner, passkey_validator=PASSKEY)
    legacy_id, legacy = deploy_passkey_account_calldata(
        owner, passkey_validator=PASSKEY, scheme=UniqueIdScheme.LEGACY
    )
    assert legacy_id == legacy_account_unique_id(b64url_encode(owner.credential_id))
    assert modular_id != legacy_id
    assert modular[36:] == legacy[36:]


def test_account_address_follows_the_era_create2_formula(owner: _Owner) -> None:
    factory = "0x7230ae6D4a2C367ff8493a76c15F8832c62f9fE9"
    beacon = "0x1111111111111111111111111111111111111111"
    bytecode_hash = bytes.fromhex("0100") + (77).to_bytes(2, "big") + bytes(range(28))
    unique_id, _ = deploy_passkey_account_calldata(owner, passkey_validator=PASSKEY)
    got = sso_account_address(
        factory=factory,
        deployer=OWNER,
        unique_id=unique_id,
        beacon_proxy_bytecode_hash=bytecode_hash,
        beacon=beacon,
    )
    # sso-era.md §2.2 spelled out by hand.
    salt = keccak(unique_id + bytes.fromhex(OWNER[2:]))
    assert unique_account_id(unique_id, OWNER) == salt
    preimage = (
        keccak(b"zksyncCreate2")
        + bytes(12)
        + bytes.fromhex(factory[2:])
        + salt
        + bytecode_hash
        + keccak(abi_encode(["address"], [beacon]))
    )
    assert got == to_checksum_address(keccak(preimage)[12:])


# --- bad input -------------------------------------------------------------------------------------------


def test_short_credential_id_is_rejected(owner: _Owner) -> None:
    with raises_rule(ErrorCode.BAD_CREDENTIAL_ID_LENGTH):
        validator_init_data(b"\x01" * 15, owner.public_key, owner.origin)


@pytest.mark.parametrize("origin", ["", "https://" + "a" * 246])
def test_bad_origin_length_is_rejected(owner: _Owner, origin: str) -> None:
    with raises_rule(ErrorCode.BAD_DOMAIN_LENGTH):
        validator_init_data(owner.credential_id, owner.public_key, origin)


def test_origin_length_limit_is_per_validator(owner: _Owner) -> None:
    origin = "https://" + "a" * 246  # 254 bytes: too long for Era (253), fine for ERC-4337 (255)
    assert (
        PasskeyInitData.decode(
            validator_init_data(owner.credential_id, owner.public_key, origin, max_origin_length=255)
        ).origin
        == origin
    )


def test_empty_key_is_rejected(owner: _Owner) -> None:
    with raises_rule(ErrorCode.EMPTY_PUBLIC_KEY):
        validator_init_data(owner.credential_id, (0, 0), owner.origin)


def test_bad_unique_id_is_rejected() -> None:
    with raises_rule(ErrorCode.INVALID_UNIQUE_ID):
        deploy_proxy_sso_account_calldata(b"\x00" * 31, [validator_module_entry(PASSKEY)])


def test_account_without_keys_is_rejected() -> None:
    with raises_rule(ErrorCode.SSO_ENCODING):
        deploy_proxy_sso_account_calldata(b"\x00" * 32, [], [])


def test_undecodable_init_data_is_rejected(owner: _Owner) -> None:
    init = validator_init_data(owner.credential_id, owner.public_key, owner.origin)
    for bad in (b"", init[:-32], init + b"\x00"):
        with raises_rule(ErrorCode.INVALID_INIT_DATA):
            PasskeyInitData.decode(bad)


@settings(max_examples=100, deadline=None)
@given(
    cred=st.binary(min_size=16, max_size=100),
    x=st.integers(min_value=1, max_value=(1 << 256) - 1),
    y=st.integers(min_value=0, max_value=(1 << 256) - 1),
    origin=st.text(min_size=1, max_size=60),
)
def test_init_data_round_trip(cred: bytes, x: int, y: int, origin: str) -> None:
    init = validator_init_data(cred, (x, y), origin)
    assert PasskeyInitData.decode(init) == PasskeyInitData(cred, x, y, origin)
