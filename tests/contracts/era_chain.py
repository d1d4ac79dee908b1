"""The Era WebAuthValidator on a real anvil chain, driven from Python for the integration tests.

Everything goes through the SDK's own parts: the artifact from ``scripts/build-contracts.sh``
(:func:`sso_signer._artifacts.load_artifact`), :class:`sso_signer.rpc.EthClient` for calls and transactions,
and :class:`sso_signer.node.AnvilNode` for the chain. Accounts are fresh secp256k1 keys funded with
``anvil_setBalance``, so each test owns its keys and nothing depends on test order.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from sso_signer._artifacts import Artifact, load_artifact
from sso_signer.exceptions import ExecutionReverted
from sso_signer.node import AnvilNode
from sso_signer.rpc import EthClient, Receipt
from sso_signer.sso import FatSignature
from sso_signer.webauthn import AuthenticatorData, P256PublicKey
from sso_signer.webauthn._authenticator_data import AuthenticatorFlags
from sso_signer.webauthn._client_data import CollectedClientData
from sso_signer.webauthn._p256 import P256_N, EcdsaSignature
from sso_signer.zksync import Eip712Transaction

ONE_ETHER = 10**18


class Rule(enum.IntEnum):
    """``IEraWebAuthValidator.Rule``: the first check a signature fails, in the validator's order."""

    VALID = 0
    SIGNATURE_OUT_OF_RANGE = 1
    HIGH_S = 2
    AUTH_DATA_TOO_SHORT = 3
    MISSING_USER_FLAGS = 4
    CLIENT_DATA_NOT_JSON = 5
    CHALLENGE_MISSING = 6
    CHALLENGE_LENGTH = 7
    CHALLENGE_MISMATCH = 8
    WRONG_TYPE = 9
    UNKNOWN_KEY = 10
    CROSS_ORIGIN = 11
    BAD_SIGNATURE = 12
    MALFORMED = 13


# Rules for which the official-compatible entry points revert instead of returning false.
REVERTING_RULES = frozenset(
    {Rule.AUTH_DATA_TOO_SHORT, Rule.CLIENT_DATA_NOT_JSON, Rule.CHALLENGE_MISSING, Rule.MALFORMED}
)


def new_account(node: AnvilNode) -> LocalAccount:
    """A fresh secp256k1 account with 1 ether on the node."""
    account: LocalAccount = Account.create()
    node.set_balance(account.address, ONE_ETHER)
    return account


@dataclass(frozen=True, slots=True)
class EraValidator:
    """A deployed WebAuthValidator and the calls the tests make on it.

    Attributes:
        eth: Client of the chain.
        artifact: The validator's ABI and bytecode.
        address: Where it is deployed.
    """

    eth: EthClient
    artifact: Artifact
    address: str

    @classmethod
    def deploy(cls, node: AnvilNode, deployer: LocalAccount) -> EraValidator:
        """Deploy a new validator from ``deployer``."""
        artifact = load_artifact("WebAuthValidator")
        address, _ = node.eth.deploy_contract(deployer, artifact.deploy_data())
        return cls(node.eth, artifact, address)

    def _call(self, sender: str, function: str, *args: Any) -> tuple[Any, ...]:
        data = self.artifact.encode_call(function, *args)
        return self.artifact.decode_output(
            function, self.eth.call({"from": sender, "to": self.address, "data": data})
        )

    def transact(self, account: LocalAccount, function: str, *args: Any) -> Receipt:
        """Send ``function(*args)`` from ``account`` and return the successful receipt."""
        return self.eth.send_transaction(account, self.address, self.artifact.encode_call(function, *args))

    def add_key(
        self, account: LocalAccount, credential_id: bytes, key: P256PublicKey, origin: str
    ) -> Receipt:
        """``addValidationKey(credentialId, [x, y], origin)`` from ``account``."""
        return self.transact(account, "addValidationKey", credential_id, [key.x_bytes, key.y_bytes], origin)

    def account_key(self, origin: str, credential_id: bytes, account: str) -> tuple[bytes, bytes]:
        """``getAccountKey(origin, credentialId, account)`` as (x, y) words."""
        (key,) = self._call(account, "getAccountKey", origin, credential_id, account)
        return bytes(key[0]), bytes(key[1])

    def registered_address(self, origin: str, credential_id: bytes) -> str:
        """``registeredAddress(origin, credentialId)``."""
        (owner,) = self._call(self.address, "registeredAddress", origin, credential_id)
        return str(to_checksum_address(owner))

    def validate_signature(self, account: str, signed_hash: bytes, fat: bytes) -> bool:
        """``validateSignature(hash, fat)`` called by ``account`` (eth_call with ``from``).

        Raises:
            ExecutionReverted: Where the validator reverts (undecodable signature).
        """
        (valid,) = self._call(account, "validateSignature", signed_hash, fat)
        return bool(valid)

    def validate_transaction(self, account: str, signed_hash: bytes, transaction: tuple[Any, ...]) -> bool:
        """``validateTransaction(signedHash, transaction)`` called by ``account``.

        Raises:
            ExecutionReverted: Where the validator reverts (undecodable signature).
        """
        (valid,) = self._call(account, "validateTransaction", signed_hash, transaction)
        return bool(valid)

    def check(self, account: str, signed_hash: bytes, fat: bytes) -> Rule:
        """The validator's own diagnosis: ``checkSignature(hash, fat, account)``."""
        (rule,) = self._call(account, "checkSignature", signed_hash, fat, account)
        return Rule(rule)

    def verdict(self, account: str, signed_hash: bytes, fat: bytes) -> bool | None:
        """What ``validateSignature`` does: ``True``/``False``, or ``None`` when it reverts."""
        try:
            return self.validate_signature(account, signed_hash, fat)
        except ExecutionReverted:
            return None


def transaction_struct(tx: Eip712Transaction) -> tuple[Any, ...]:
    """The ``Transaction`` struct (zksync-contracts ``TransactionHelper``) the bootloader hands an account.

    Written apart from the SDK's ``era_transaction_struct`` on purpose: the chain accepting this one is the
    witness test_era_struct.py holds the SDK's against.
    """
    paymaster = tx.paymaster_params
    return (
        113,
        int(tx.from_address, 16),
        int(tx.to, 16) if tx.to is not None else 0,
        tx.gas_limit,
        tx.gas_per_pubdata,
        tx.max_fee_per_gas,
        tx.max_priority_fee_per_gas,
        int(paymaster.paymaster, 16) if paymaster is not None else 0,
        tx.nonce,
        tx.value,
        [0, 0, 0, 0],
        tx.data,
        tx.custom_signature,
        list(tx.factory_dep_hashes),
        paymaster.paymaster_input if paymaster is not None else b"",
        b"",
    )


class CraftingSigner:
    """A P-256 key that signs any authenticatorData / clientDataJSON bytes, to build rule-breaking assertions
    a well-behaved authenticator would never emit (wrong type, odd JSON)."""

    def __init__(self, credential_id: bytes, origin: str, rp_id: str) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.public_key = P256PublicKey.from_cryptography(self._key.public_key())
        self.credential_id = credential_id
        self.origin = origin
        self.rp_id = rp_id

    def auth_data(self, flags: int = AuthenticatorFlags.UP | AuthenticatorFlags.UV) -> bytes:
        """authenticatorData for this rpId with ``flags`` and counter 0."""
        return bytes(AuthenticatorData.create(rp_id=self.rp_id, flags=AuthenticatorFlags(flags)))

    def client_data(
        self, challenge: bytes, *, type_: str = "webauthn.get", origin: str | None = None
    ) -> bytes:
        """Browser-shaped clientDataJSON (``crossOrigin: false``)."""
        return bytes(
            CollectedClientData.create(
                type=type_, challenge=challenge, origin=self.origin if origin is None else origin
            )
        )

    def signature(self, auth_data: bytes, client_data: bytes) -> EcdsaSignature:
        """Low-s ECDSA over ``sha256(authData || sha256(clientDataJSON))``, as the validator expects."""
        message = auth_data + hashlib.sha256(client_data).digest()
        return EcdsaSignature.from_der(self._key.sign(message, ec.ECDSA(hashes.SHA256()))).normalized()

    def fat(
        self, auth_data: bytes, client_data: bytes, *, r: int | None = None, s: int | None = None
    ) -> bytes:
        """The encoded fat signature over these bytes; ``r``/``s`` override the real values."""
        signature = self.signature(auth_data, client_data)
        return FatSignature(
            auth_data,
            client_data,
            signature.r if r is None else r,
            signature.s if s is None else s,
            self.credential_id,
        ).encode()


def high_s(s: int) -> int:
    """The other, high-s twin of a low-s value (what an unnormalised authenticator signature carries)."""
    return P256_N - s
