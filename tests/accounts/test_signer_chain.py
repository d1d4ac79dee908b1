"""The signer's output checked by the Era WebAuthValidator deployed on a real anvil chain (P-256 at 0x100).

The validator is the project's official-compatible build (``contracts/src/era``); the account is a fresh EOA
that registers the passkey for itself, since the validator keys passkeys by ``msg.sender``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from sso_signer._artifacts import load_artifact
from sso_signer._codec import b64url_decode
from sso_signer.accounts import AssertionRequest, EraAccount, EraNetwork, JsonAssertionProvider
from sso_signer.exceptions import ErrorCode
from sso_signer.node import AnvilNode
from sso_signer.rpc import EthClient
from sso_signer.sso import FatSignature, personal_sign_hash, preflight, typed_data_sign_hash
from sso_signer.sso._signature import decode_era_custom_signature
from sso_signer.webauthn import Assertion, HeadlessPasskey
from sso_signer.zksync import Eip712Transaction
from tests.errors import raises_rule
from tests.needs import require_artifacts, started_anvil

pytestmark = pytest.mark.chain


def _selector(signature: str) -> bytes:
    return bytes(keccak(signature.encode()))[:4]


class _Chain:
    def __init__(self, node: AnvilNode) -> None:
        self.node = node
        self.eth: EthClient = node.eth
        deployer = self.new_account()
        artifact = load_artifact("WebAuthValidator")
        receipt = self.eth.send_transaction(deployer, data=artifact.bytecode)
        assert receipt.status == 1
        assert receipt.contract_address is not None
        self.validator: str = receipt.contract_address

    def new_account(self) -> LocalAccount:
        account: LocalAccount = Account.create()
        self.node.set_balance(account.address, 10**18)
        return account

    def register(self, account: LocalAccount, passkey: HeadlessPasskey) -> None:
        data = _selector("addValidationKey(bytes,bytes32[2],string)") + abi_encode(
            ["bytes", "bytes32[2]", "string"],
            [passkey.credential_id, [passkey.public_key.x_bytes, passkey.public_key.y_bytes], passkey.origin],
        )
        assert self.eth.send_transaction(account, to=self.validator, data=data).status == 1

    def validate(self, account: str, signed_hash: bytes, fat: FatSignature) -> bool:
        data = _selector("validateSignature(bytes32,bytes)") + abi_encode(
            ["bytes32", "bytes"], [signed_hash, fat.encode()]
        )
        out = self.eth.call({"from": account, "to": self.validator, "data": data})
        (ok,) = abi_decode(["bool"], out)
        return bool(ok)


@pytest.fixture(scope="module")
def chain() -> Iterator[_Chain]:
    require_artifacts("WebAuthValidator")
    with started_anvil(hardfork="osaka") as node:
        yield _Chain(node)


@pytest.fixture(scope="module")
def owner(chain: _Chain) -> tuple[LocalAccount, HeadlessPasskey]:
    account = chain.new_account()
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
    chain.register(account, passkey)
    return account, passkey


def _tx(account: str, nonce: int) -> Eip712Transaction:
    return Eip712Transaction(
        chain_id=300,
        nonce=nonce,
        from_address=account,
        to="0x2222222222222222222222222222222222222222",
        value=nonce,
        gas_limit=10_000_000,
        max_fee_per_gas=25_000_000,
        max_priority_fee_per_gas=1,
    )


def _era(address: str, credential: Any, validator: str, **options: Any) -> EraAccount:
    # Signing asks only the passkey: the chain is reached by the test's own eth_call, not by the account.
    network = EraNetwork(name="local", chain_id=300, passkey_validator=validator)
    return EraAccount(EthClient("http://127.0.0.1:9"), network, address, credential, **options)


def test_signed_transactions_are_accepted(chain: _Chain, owner: tuple[LocalAccount, HeadlessPasskey]) -> None:
    account, passkey = owner
    signer = _era(account.address, passkey, chain.validator)
    for nonce in range(8):  # ~half the raw signatures are high-s: the normalised ones must pass on-chain
        tx = _tx(account.address, nonce)
        custom = decode_era_custom_signature(signer.sign_transaction(tx).custom_signature)
        assert custom.validator == chain.validator
        assert chain.validate(account.address, tx.signed_hash(), custom.fat_signature)
        # The same signature is worthless for another hash and for another account.
        assert not chain.validate(
            account.address, _tx(account.address, nonce + 100).signed_hash(), custom.fat_signature
        )
        assert not chain.validate(chain.new_account().address, tx.signed_hash(), custom.fat_signature)


def test_erc1271_digests_are_accepted(chain: _Chain, owner: tuple[LocalAccount, HeadlessPasskey]) -> None:
    account, passkey = owner
    signer = _era(account.address, passkey, chain.validator)
    blob = signer.sign_message("log in to example.com")
    fat = decode_era_custom_signature(blob).fat_signature
    assert chain.validate(
        account.address, personal_sign_hash("log in to example.com", signer.signer.domain), fat
    )
    typed: dict[str, Any] = {
        "domain": {"name": "App", "version": "1", "chainId": 300},
        "types": {"Order": [{"name": "id", "type": "uint256"}]},
        "primaryType": "Order",
        "message": {"id": 7},
    }
    wrapped = signer.sign_typed_data(typed)
    inner = decode_era_custom_signature(wrapped[: len(blob)]).fat_signature
    assert chain.validate(account.address, typed_data_sign_hash(typed, signer.signer.domain), inner)


def test_browser_round_trip_output_is_accepted(
    chain: _Chain, owner: tuple[LocalAccount, HeadlessPasskey]
) -> None:
    account, passkey = owner

    def browser(options: dict[str, Any]) -> str:
        import json

        return json.dumps(passkey.sign(b64url_decode(options["challenge"])).to_json())

    signer = _era(
        account.address,
        passkey.credential,
        chain.validator,
        provider=JsonAssertionProvider(browser),
    )
    tx = _tx(account.address, 1000)
    custom = decode_era_custom_signature(signer.sign_transaction(tx).custom_signature)
    assert chain.validate(account.address, tx.signed_hash(), custom.fat_signature)


def test_preflight_and_chain_agree_on_a_uv_less_assertion(
    chain: _Chain, owner: tuple[LocalAccount, HeadlessPasskey]
) -> None:
    account, passkey = owner

    class NoUv:
        def get_assertion(self, request: AssertionRequest) -> Assertion:
            return passkey.sign(request.challenge, user_verified=False)

    signer = _era(
        account.address,
        passkey.credential,
        chain.validator,
        provider=NoUv(),
        run_preflight=False,
    )
    tx = _tx(account.address, 2000)
    fat = decode_era_custom_signature(signer.sign_transaction(tx).custom_signature)
    assert not chain.validate(account.address, tx.signed_hash(), fat.fat_signature)
    with raises_rule(ErrorCode.FLAGS_UP_UV) as info:
        preflight("era", tx.signed_hash(), fat, passkey.credential)
    assert info.value.outcome == "return false"  # and the chain indeed returned false rather than reverting
