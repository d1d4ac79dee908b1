"""The Era WebAuthValidator on anvil (osaka, P-256 precompile at 0x100): official vectors, headless passkeys,
SDK-built transactions, every rejection rule, and key registration."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from sso_signer._codec import b64url_decode
from sso_signer.exceptions import ErrorCode, ExecutionReverted
from sso_signer.node import AnvilNode
from sso_signer.sso import FatSignature, era_custom_signature
from sso_signer.webauthn import HeadlessPasskey, P256PublicKey
from sso_signer.zksync import Eip712Transaction, PaymasterParams
from sso_signer.zksync._paymaster import general_paymaster_input
from tests.contracts.era_cases import ORIGIN, RP_ID, Keys, build_cases, register_keys
from tests.contracts.era_chain import REVERTING_RULES, EraValidator, Rule, new_account, transaction_struct
from tests.errors import raises_rule

pytestmark = pytest.mark.chain

PASSKEY_CREATED_TOPIC = bytes.fromhex("3c6e30f99b4a1e8aae9cdcfbc2d6683bf8347bb160ae280eb95513567c07b473")


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def _revert_error(validator: EraValidator, exc: ExecutionReverted) -> str:
    assert exc.revert is not None, "the node sent no revert data"
    decoded = validator.artifact.decode_error(exc.revert.raw)
    assert decoded is not None, f"unknown revert data {exc.revert.raw.hex()}"
    return decoded[0]


@pytest.fixture(scope="module")
def keys(anvil: AnvilNode, era_validator: EraValidator) -> Keys:
    return register_keys(anvil, era_validator)


# --- the official vectors ----------------------------------------------------------------------------------


def test_vector1_real_authenticator_accepted_when_normalised(
    anvil: AnvilNode, era_vectors: dict[str, Any]
) -> None:
    era_validator = EraValidator.deploy(anvil, new_account(anvil))  # vector1's credential may be claimed once
    vector = era_vectors["vector1_clave_signed_challenge"]
    derived, response = vector["derived"], vector["verbatim"]["response"]
    account = new_account(anvil)
    # Install with the exact onInstall bytes the published SDK produced.
    era_validator.transact(
        account, "onInstall", _hex(derived["initData_onInstall_abi(bytes,bytes32[2],string)"])
    )
    credential_id = _hex(derived["credentialIdHex"])
    assert era_validator.account_key(derived["originKey"], credential_id, account.address) == (
        _hex(derived["pubKeyX"]),
        _hex(derived["pubKeyY"]),
    )
    assert era_validator.registered_address(derived["originKey"], credential_id) == account.address

    parts = response["response"]
    raw = FatSignature.from_der(
        authenticator_data=b64url_decode(parts["authenticatorData"]),
        client_data_json=b64url_decode(parts["clientDataJSON"]),
        der_signature=b64url_decode(parts["signature"]),
        credential_id=b64url_decode(response["rawId"]),
        normalize=False,
    )
    fat = FatSignature.from_der(
        authenticator_data=raw.authenticator_data,
        client_data_json=raw.client_data_json,
        der_signature=b64url_decode(parts["signature"]),
        credential_id=raw.credential_id,
    )
    assert fat.s == int(derived["s_normalized_low"], 16)
    challenge = _hex(derived["challengeBytes32"])
    assert era_validator.check(account.address, challenge, fat.encode()) is Rule.VALID
    assert era_validator.validate_signature(account.address, challenge, fat.encode()) is True
    # As the authenticator sent it (high s), the validator refuses it: normalisation is the client's job.
    assert era_validator.check(account.address, challenge, raw.encode()) is Rule.HIGH_S
    assert era_validator.validate_signature(account.address, challenge, raw.encode()) is False


def test_published_sdk_transaction_bytes_pass_validate_transaction(
    anvil: AnvilNode, era_vectors: dict[str, Any]
) -> None:
    era_validator = EraValidator.deploy(anvil, new_account(anvil))
    # vector6 is a 0x71 transaction serialised by the published zksync-sso SDK around vector1's assertion.
    derived = era_vectors["vector1_clave_signed_challenge"]["derived"]
    serialized = _hex(era_vectors["vector6_sdk_run_derived"]["serialized_with_vector1_customSignature"])
    account = new_account(anvil)
    era_validator.transact(
        account, "onInstall", _hex(derived["initData_onInstall_abi(bytes,bytes32[2],string)"])
    )
    tx = Eip712Transaction.parse(serialized)
    sdk_signature = _hex(derived["fullCustomSignature_validator_0x006ecc2D79242F1986b7cb5F636d6E3f499f1026"])
    assert tx.custom_signature == sdk_signature
    # The validator trusts the hash its account hands it; the assertion signed vector1's challenge.
    challenge = _hex(derived["challengeBytes32"])
    assert era_validator.validate_transaction(account.address, challenge, transaction_struct(tx)) is True
    assert (
        era_validator.validate_transaction(account.address, keccak(challenge), transaction_struct(tx))
        is False
    )
    other = new_account(anvil)
    assert era_validator.validate_transaction(other.address, challenge, transaction_struct(tx)) is False


# --- headless passkey + SDK-built transactions -------------------------------------------------------------


def test_headless_passkey_signs_sdk_transactions_low_and_high_s(
    anvil: AnvilNode, era_validator: EraValidator
) -> None:
    account = new_account(anvil)
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
    receipt = era_validator.add_key(account, passkey.credential_id, passkey.public_key, passkey.origin)
    assert receipt.logs[0].topics[0] == PASSKEY_CREATED_TOPIC

    seen_raw_s: set[str] = set()
    nonce = 0
    while seen_raw_s != {"low", "high"}:
        assert nonce < 64, "64 signatures without both a low-s and a high-s one"
        tx = Eip712Transaction(
            chain_id=anvil.chain_id,
            nonce=nonce,
            from_address=account.address,
            to="0x000000000000000000000000000000000000dEaD",
            value=nonce * 1000,
            data=bytes([nonce]) * 3,
            gas_limit=10_000_000,
            max_fee_per_gas=250_000_000,
            max_priority_fee_per_gas=1_000,
        )
        nonce += 1
        signed_hash = tx.signed_hash()
        assertion = passkey.sign(signed_hash)
        seen_raw_s.add("low" if assertion.ecdsa_signature.is_low_s else "high")
        fat = FatSignature.from_assertion(assertion)
        # The wire round trip: what a node would receive and hand to the account.
        wire = Eip712Transaction.parse(
            tx.replace(custom_signature=era_custom_signature(fat, era_validator.address)).serialize()
        )
        assert (
            era_validator.validate_transaction(account.address, signed_hash, transaction_struct(wire)) is True
        )
        plain = tx.replace(
            custom_signature=era_custom_signature(fat, era_validator.address, validator_data=b"")
        )
        assert (
            era_validator.validate_transaction(account.address, signed_hash, transaction_struct(plain))
            is True
        )
        assert era_validator.validate_signature(account.address, signed_hash, fat.encode()) is True
        # The same signature for a transaction whose fields changed after signing.
        bumped = wire.replace(gas_limit=wire.gas_limit + 1)
        assert (
            era_validator.validate_transaction(
                account.address, bumped.signed_hash(), transaction_struct(bumped)
            )
            is False
        )


# --- every rule ------------------------------------------------------------------------------------------


def test_every_rule_on_chain(era_validator: EraValidator, keys: Keys) -> None:
    cases = build_cases(keys)
    assert {case.expected for case in cases} == set(Rule), "a rule has no case"
    failures = []
    for case in cases:
        rule = era_validator.check(case.account, case.signed_hash, case.fat)
        verdict = era_validator.verdict(case.account, case.signed_hash, case.fat)
        expected_verdict = None if case.expected in REVERTING_RULES else case.expected is Rule.VALID
        if rule is not case.expected or verdict is not expected_verdict:
            got = f"rule {rule.name} verdict {verdict}"
            failures.append(f"{case.name}: {got} (expected {case.expected.name} {expected_verdict})")
    assert failures == []


def test_validate_transaction_agrees_with_validate_signature(era_validator: EraValidator, keys: Keys) -> None:
    for case in build_cases(keys):
        if case.expected is Rule.MALFORMED:
            continue  # the envelope needs a fat signature to wrap
        tx = Eip712Transaction(
            chain_id=1,
            nonce=0,
            from_address=case.account,
            to=None,
            gas_limit=1,
            max_fee_per_gas=1,
            max_priority_fee_per_gas=0,
            custom_signature=era_custom_signature(case.fat, era_validator.address),
        )
        try:
            verdict: bool | None = era_validator.validate_transaction(
                case.account, case.signed_hash, transaction_struct(tx)
            )
        except ExecutionReverted:
            verdict = None
        assert verdict is era_validator.verdict(case.account, case.signed_hash, case.fat), case.name


# --- registration ----------------------------------------------------------------------------------------


def test_off_curve_key_is_refused_at_registration(anvil: AnvilNode, era_validator: EraValidator) -> None:
    account = new_account(anvil)
    key = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN).public_key
    bad_y = (key.y ^ 1).to_bytes(32, "big")
    with pytest.raises(ExecutionReverted) as caught:
        era_validator.transact(account, "addValidationKey", b"\x07" * 16, [key.x_bytes, bad_y], ORIGIN)
    assert _revert_error(era_validator, caught.value) == "WEBAUTHN_KEY_NOT_ON_CURVE()"
    # The SDK's key type refuses the same point before anything is sent.
    with raises_rule(ErrorCode.POINT_NOT_ON_CURVE):
        P256PublicKey(key.x, key.y ^ 1)
    assert (
        era_validator.registered_address(ORIGIN, b"\x07" * 16) == "0x0000000000000000000000000000000000000000"
    )


@pytest.mark.parametrize(
    ("credential_id", "origin", "error"),
    [
        (b"\x01" * 15, ORIGIN, "WEBAUTHN_BAD_CREDENTIAL_ID_LENGTH()"),
        (b"\x01" * 16, "", "WEBAUTHN_BAD_DOMAIN_LENGTH()"),
        (b"\x01" * 16, "h" * 254, "WEBAUTHN_BAD_DOMAIN_LENGTH()"),
    ],
)
def test_registration_limits(
    anvil: AnvilNode, era_validator: EraValidator, credential_id: bytes, origin: str, error: str
) -> None:
    account = new_account(anvil)
    key = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN).public_key
    with pytest.raises(ExecutionReverted) as caught:
        era_validator.add_key(account, credential_id, key, origin)
    assert _revert_error(era_validator, caught.value) == error


def test_one_account_per_credential_and_removal(anvil: AnvilNode, era_validator: EraValidator) -> None:
    first, second = new_account(anvil), new_account(anvil)
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    credential_id, key = passkey.credential_id, passkey.public_key
    era_validator.add_key(first, credential_id, key, ORIGIN)
    with pytest.raises(ExecutionReverted) as caught:
        era_validator.add_key(first, credential_id, key, ORIGIN)
    assert _revert_error(era_validator, caught.value) == "WEBAUTHN_KEY_EXISTS()"
    with pytest.raises(ExecutionReverted) as caught:
        era_validator.add_key(second, credential_id, key, ORIGIN)
    assert _revert_error(era_validator, caught.value) == "WEBAUTHN_ACCOUNT_EXISTS()"
    with pytest.raises(ExecutionReverted) as caught:
        era_validator.transact(second, "removeValidationKey", credential_id, ORIGIN)
    assert _revert_error(era_validator, caught.value) == "WEBAUTHN_NOT_KEY_OWNER(address)"

    receipt = era_validator.transact(first, "removeValidationKey", credential_id, ORIGIN)
    assert receipt.logs[0].topics[0] == keccak(text="PasskeyRemoved(address,string,bytes)")
    assert era_validator.account_key(ORIGIN, credential_id, first.address) == (bytes(32), bytes(32))
    signed_hash = keccak(b"after removal")
    fat = FatSignature.from_assertion(passkey.sign(signed_hash)).encode()
    assert era_validator.check(first.address, signed_hash, fat) is Rule.UNKNOWN_KEY
    # The credential is free again: the second account may claim it and use it.
    era_validator.add_key(second, credential_id, key, ORIGIN)
    assert era_validator.validate_signature(second.address, signed_hash, fat) is True


def test_erc165_and_event_topics(era_validator: EraValidator) -> None:
    artifact = era_validator.artifact
    for interface_id, expected in (
        (b"\x01\xff\xc9\xa7", True),
        (b"\x8c\x2a\x9c\x6b", True),
        (b"\xe7\xf0\x4e\x93", True),
        (b"\xff" * 4, False),
    ):
        data = artifact.encode_call("supportsInterface", interface_id)
        (supported,) = artifact.decode_output(
            "supportsInterface", era_validator.eth.call({"to": era_validator.address, "data": data})
        )
        assert supported is expected, interface_id.hex()
    events = {e["name"]: e for e in artifact.abi if e.get("type") == "event"}
    assert keccak(text="PasskeyCreated(address,string,bytes)") == PASSKEY_CREATED_TOPIC
    assert set(events) == {"PasskeyCreated", "PasskeyRemoved"}
    assert all(e["inputs"][0]["indexed"] for e in events.values())


def test_init_data_from_p256_key_object_matches_vector(era_vectors: dict[str, Any]) -> None:
    # The key words the chain stores are the point's coordinates; the vector's initData carries them verbatim.
    derived = era_vectors["vector1_clave_signed_challenge"]["derived"]
    key = P256PublicKey(int(derived["pubKeyX"], 16), int(derived["pubKeyY"], 16))
    init = abi_encode(
        ["bytes", "bytes32[2]", "string"],
        [_hex(derived["credentialIdHex"]), [key.x_bytes, key.y_bytes], derived["originKey"]],
    )
    assert init == _hex(derived["initData_onInstall_abi(bytes,bytes32[2],string)"])


def test_sponsored_deploying_transaction(anvil: AnvilNode, era_validator: EraValidator) -> None:
    # All dynamic Transaction fields filled (calldata, factory deps, paymaster input): the validator still
    # finds the custom signature and the challenge is the hash over all of them.
    account = new_account(anvil)
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    era_validator.add_key(account, passkey.credential_id, passkey.public_key, ORIGIN)
    tx = Eip712Transaction(
        chain_id=anvil.chain_id,
        nonce=3,
        from_address=account.address,
        to=None,
        data=bytes.fromhex("3cda3351") + bytes(96),
        gas_limit=30_000_000,
        max_fee_per_gas=250_000_000,
        max_priority_fee_per_gas=250_000_000,
        factory_deps=(bytes(range(32)) * 3,),
        paymaster_params=PaymasterParams(
            "0x173acECF12b50D805Df78125d90CABC6Bf81A291", general_paymaster_input()
        ),
    )
    signed_hash = tx.signed_hash()
    fat = FatSignature.from_assertion(passkey.sign(signed_hash))
    wire = Eip712Transaction.parse(
        tx.replace(custom_signature=era_custom_signature(fat, era_validator.address)).serialize()
    )
    struct = transaction_struct(wire)
    assert struct[13] == [wire.factory_dep_hashes[0]]
    assert struct[14] == general_paymaster_input()
    assert era_validator.validate_transaction(account.address, signed_hash, struct) is True
    unsponsored = wire.replace(paymaster_params=None)
    assert (
        era_validator.validate_transaction(
            account.address, unsponsored.signed_hash(), transaction_struct(unsponsored)
        )
        is False
    )
