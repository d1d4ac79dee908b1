"""``addValidationKey`` calldata: one encoder for both generations (the Era account's, the ERC-4337 account's
and the CLI's explanation), with each validator's origin limit."""

from __future__ import annotations

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from sso_signer.accounts._era import add_passkey_calldata
from sso_signer.exceptions import ErrorCode
from sso_signer.sso._owner import ERA_MAX_ORIGIN_LENGTH, ERC4337_MAX_ORIGIN_LENGTH
from sso_signer.webauthn import HeadlessPasskey
from tests.errors import raises_rule


def test_one_encoder_with_each_validators_origin_limit() -> None:
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
    key = passkey.public_key
    data = add_passkey_calldata(passkey.credential_id, key, passkey.origin)
    assert data[:4] == keccak(text="addValidationKey(bytes,bytes32[2],string)")[:4]
    credential_id, coordinates, origin = abi_decode(["bytes", "bytes32[2]", "string"], data[4:])
    assert (credential_id, origin) == (passkey.credential_id, passkey.origin)
    assert [int.from_bytes(c, "big") for c in coordinates] == [key.x, key.y]
    assert ERA_MAX_ORIGIN_LENGTH < ERC4337_MAX_ORIGIN_LENGTH
    longest = "h" * ERC4337_MAX_ORIGIN_LENGTH
    with raises_rule(ErrorCode.BAD_DOMAIN_LENGTH):  # the Era validator's limit is the default
        add_passkey_calldata(passkey.credential_id, key, longest)
    erc4337 = add_passkey_calldata(
        passkey.credential_id, key, longest, max_origin_length=ERC4337_MAX_ORIGIN_LENGTH
    )
    assert abi_decode(["bytes", "bytes32[2]", "string"], erc4337[4:])[2] == longest
