"""Messages and signatures in eth-account's shapes, for both passkey account generations.

eth-account signs a ``SignableMessage`` (``encode_defunct``, ``encode_typed_data``) with a key and returns
a ``SignedMessage``. A passkey account cannot sign the message hash itself: its ``isValidSignature`` only
accepts ERC-7739 signatures bound to the account's own EIP-712 domain. So:

* ``sign_message(signable)``: whatever the ``SignableMessage`` (EIP-191 version ``E``, ``0x01`` structured
  data, ``0x00`` intended validator), the passkey signs the ERC-7739 PersonalSign digest of its EIP-191 hash,
  the hash a verifier hands to ``isValidSignature``. A ``SignableMessage`` from ``encode_typed_data`` keeps
  only the two hashes, not the types, so it takes this path too (the account accepts it for that digest);
  :meth:`MessageMethods.sign_typed_data` with the types signs the ERC-7739 TypedDataSign form instead.
* The result is a :class:`PasskeySignedMessage`: the signature bytes themselves (as the accounts returned
  before), with ``message_hash`` and ``signature`` attributes. It has no ``r``/``s``/``v``: the blob holds a
  P-256 WebAuthn signature that no ``ecrecover`` can check, and exposing fake secp256k1 parts would invite
  ``Account.recover_message`` on it. Verify it with ``isValidSignature`` (:func:`is_valid_signature`).
* While an ERC-4337 account is counterfactual, its message signatures are ERC-6492-wrapped (see
  :class:`Erc4337MessageMethods`), so anyone can verify them before the account exists.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_account.messages import SignableMessage, _hash_eip191_message, encode_typed_data
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from sso_signer._shell import flow_method
from sso_signer.accounts._deployment import MsaDeployment
from sso_signer.accounts._signer import PasskeySigner
from sso_signer.accounts._verify import message_hash, wrap_erc6492
from sso_signer.erc4337 import UserOperation
from sso_signer.exceptions import ErrorCode, SsoEncodingError
from sso_signer.rpc._eth import ETH_FLOWS, _EthMethods
from sso_signer.sso._erc7739 import PERSONAL_SIGN_TYPEHASH, AccountDomain
from sso_signer.sso._signature import abi_call

__all__ = ["Erc4337MessageMethods", "MessageMethods", "PasskeySignedMessage"]

_PACKED_OPS: Final = "(address,uint256,bytes,bytes,bytes32,uint256,bytes32,bytes,bytes)[]"
# Gas for the deployment op's validation (account creation + one passkey check; a whole ERC-6492 verification
# call measures ~0.23M, docs/web3.md): at fee 0 a generous limit costs nothing, and a verifier's eth_call has
# the node's call gas cap to spend.
_DEPLOY_VERIFICATION_GAS: Final = 2_000_000
# EntryPoint pays the (zero) fees to the beneficiary with a plain call: the conventional burn address, which
# has no code (a call to it succeeds) and no one's key.
_BENEFICIARY: Final = "0x000000000000000000000000000000000000dEaD"


class PasskeySignedMessage(bytes):
    """A passkey account's message signature, shaped like eth-account's ``SignedMessage``.

    The object *is* the signature bytes (pass it wherever a signature goes); its attributes name the parts as
    eth-account does. There are no ``r``/``s``/``v``: the signature is an ERC-1271 blob around a P-256
    WebAuthn assertion, checked by the account's ``isValidSignature``, never by ``ecrecover``.

    Attributes:
        message_hash: The 32-byte hash a verifier passes to ``isValidSignature`` (the EIP-191 hash of the
            message, or the EIP-712 digest of typed data; the hash itself for ``unsafe_sign_hash``).
        erc6492: Whether the signature is ERC-6492-wrapped (the account was not deployed when it signed).
    """

    # A HexBytes, as eth-account's, but declared ``bytes``: eth-account declares it ``Hash32``, a NewType
    # that mypy's strict equality holds disjoint from HexBytes (neither subclasses the other), so declaring
    # HexBytes makes ``signed.message_hash == _hash_eip191_message(m)`` an error; ``bytes`` overlaps both.
    message_hash: bytes
    erc6492: bool

    def __new__(cls, signature: bytes, message_hash: bytes, *, erc6492: bool = False) -> PasskeySignedMessage:
        self = super().__new__(cls, bytes(signature))
        self.message_hash = HexBytes(message_hash)
        self.erc6492 = erc6492
        return self

    def __getnewargs_ex__(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        # bytes would rebuild from the bytes alone; the hash and the flag go along (pickle, copy).
        return (bytes(self), self.message_hash), {"erc6492": self.erc6492}

    @property
    def signature(self) -> HexBytes:
        """The signature for ``isValidSignature``: the object's bytes, a ``HexBytes`` as eth-account's."""
        return HexBytes(self)

    def __repr__(self) -> str:
        return (
            f"PasskeySignedMessage(message_hash=0x{self.message_hash.hex()}, "
            f"signature=0x{bytes(self).hex()}, erc6492={self.erc6492})"
        )


def personal_sign_digest(hash_: bytes, domain: AccountDomain) -> bytes:
    """The challenge a passkey signs so that the account accepts the signature for ``hash_`` (ERC-7739
    PersonalSign: ``hashTypedData(accountDomain, PersonalSign(hash_))``)."""
    inner = keccak(abi_encode(["bytes32", "bytes32"], [PERSONAL_SIGN_TYPEHASH, hash_]))
    return bytes(keccak(b"\x19\x01" + domain.separator() + inner))


def _primary_type(types: Mapping[str, Any]) -> str:
    """The one struct no other struct refers to (how eth-account finds the primary type)."""
    referenced = {
        str(field.get("type", "")).split("[")[0]
        for name, fields in types.items()
        if name != "EIP712Domain"
        for field in fields
        if isinstance(field, Mapping)
    }
    roots = [name for name in types if name != "EIP712Domain" and name not in referenced]
    if len(roots) != 1:
        raise SsoEncodingError(
            f"typed data: expected one primary type, found {sorted(roots)}", rule=ErrorCode.INVALID_TYPED_DATA
        )
    return roots[0]


def full_typed_data(
    domain_data: Mapping[str, Any] | None,
    message_types: Mapping[str, Any] | None,
    message_data: Mapping[str, Any] | None,
    full_message: Mapping[str, Any] | None,
) -> Mapping[str, Any]:
    """eth-account's ``sign_typed_data`` arguments as one ``eth_signTypedData_v4`` document.

    A full document passed as the first argument (the accounts' earlier ``sign_typed_data(typed_data)``) is
    taken as ``full_message``.

    Raises:
        SsoEncodingError (``INVALID_TYPED_DATA``): If both or neither forms are given, or the types have no
            single primary type.
    """
    if (
        full_message is None
        and message_types is None
        and message_data is None
        and isinstance(domain_data, Mapping)
        and {"types", "primaryType", "message"} <= set(domain_data)
    ):
        full_message, domain_data = domain_data, None
    parts = (domain_data, message_types, message_data)
    if full_message is not None:
        if any(part is not None for part in parts):
            raise SsoEncodingError(
                "typed data: pass full_message alone, or domain_data, message_types and message_data",
                rule=ErrorCode.INVALID_TYPED_DATA,
            )
        return full_message
    if not all(isinstance(part, Mapping) for part in parts):
        raise SsoEncodingError(
            "typed data: domain_data, message_types and message_data must be mappings",
            rule=ErrorCode.INVALID_TYPED_DATA,
        )
    assert message_types is not None  # checked above; for mypy
    return {
        "types": dict(message_types),
        "primaryType": _primary_type(message_types),
        "domain": domain_data,
        "message": message_data,
    }


def typed_data_hash(typed_data: Mapping[str, Any]) -> bytes:
    """The EIP-712 digest of ``typed_data`` (what a dapp hands to ``isValidSignature``), by eth-account.

    Raises:
        SsoEncodingError (``INVALID_TYPED_DATA``): If eth-account cannot encode it.
    """
    try:
        return bytes(_hash_eip191_message(encode_typed_data(full_message=dict(typed_data))))
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError) as exc:
        raise SsoEncodingError(f"typed data: {exc}", rule=ErrorCode.INVALID_TYPED_DATA) from exc


class MessageMethods:
    """``sign_message``, ``sign_typed_data`` and ``unsafe_sign_hash`` as eth-account spells them, written
    once as flows for both generations (the account's shell asks the passkey)."""

    signer: PasskeySigner

    def _erc6492_factory_flow(self) -> Generator[Any, Any, tuple[str, bytes] | None]:
        """``(factory, factoryCalldata)`` to wrap signatures with while the account does not exist yet."""
        return None
        yield  # a flow that asks nothing

    def _finish(self, blob: bytes, hash_: bytes, factory: tuple[str, bytes] | None) -> PasskeySignedMessage:
        if factory is None:
            return PasskeySignedMessage(blob, hash_)
        return PasskeySignedMessage(wrap_erc6492(factory[0], factory[1], blob), hash_, erc6492=True)

    @flow_method
    def sign_message(
        self, signable_message: SignableMessage | bytes | str
    ) -> Generator[Any, Any, PasskeySignedMessage]:
        """Sign a message for the account's ERC-1271 ``isValidSignature`` (ERC-7739 PersonalSign).

        Args:
            signable_message: An eth-account ``SignableMessage`` (``encode_defunct(text=...)``,
                ``encode_defunct(hexstr=...)``, ``encode_typed_data(...)``), or the message itself as bytes or
                UTF-8 text (``personal_sign``).

        Returns:
            The signature, with ``message_hash`` (the hash ``isValidSignature`` is asked about); ERC-6492-
            wrapped while an ERC-4337 account is counterfactual.

        Raises:
            SsoEncodingError (``INVALID_TYPED_DATA``): If the message is none of these.
            AssertionRejected: If the passkey's assertion would fail the validator's rules.
        """
        hash_ = message_hash(signable_message)
        factory = yield from self._erc6492_factory_flow()
        signer = self.signer
        fat = yield from signer.sign_digest(personal_sign_digest(hash_, signer.domain), purpose="message")
        return self._finish(signer.envelope(fat), hash_, factory)

    @flow_method
    def sign_typed_data(
        self,
        domain_data: Mapping[str, Any] | None = None,
        message_types: Mapping[str, Any] | None = None,
        message_data: Mapping[str, Any] | None = None,
        full_message: Mapping[str, Any] | None = None,
    ) -> Generator[Any, Any, PasskeySignedMessage]:
        """Sign EIP-712 typed data for ``isValidSignature`` (ERC-7739 TypedDataSign), as eth-account's
        ``sign_typed_data``: ``(domain_data, message_types, message_data)`` or ``full_message=`` (the
        ``eth_signTypedData_v4`` document, also accepted as the only positional argument).

        Returns:
            The signature (the account signature followed by the ERC-7739 suffix), with ``message_hash`` = the
            EIP-712 digest of the typed data; ERC-6492-wrapped while an ERC-4337 account is counterfactual.

        Raises:
            SsoEncodingError (``INVALID_TYPED_DATA``): If the typed data is malformed.
        """
        typed_data = full_typed_data(domain_data, message_types, message_data, full_message)
        hash_ = typed_data_hash(typed_data)
        factory = yield from self._erc6492_factory_flow()
        blob = yield from self.signer.sign_typed_data(typed_data)
        return self._finish(blob, hash_, factory)

    @flow_method
    def unsafe_sign_hash(self, message_hash: bytes) -> Generator[Any, Any, PasskeySignedMessage]:
        """The account-level signature of a raw 32-byte hash, with no ERC-7739 binding: only for hashes the
        validator itself receives, never for ERC-1271 messages a dapp chose (the account refuses those).

        Raises:
            InvalidEncoding (``CHALLENGE_LENGTH``): If ``message_hash`` is not 32 bytes.
        """
        # The signer checks the length before it asks the passkey.
        return PasskeySignedMessage((yield from self.signer.unsafe_sign_hash(message_hash)), message_hash)


class Erc4337MessageMethods(MessageMethods):
    """ERC-6492 for a counterfactual ERC-4337 account: its message signatures carry how to create it.

    The account's address is ``CREATE2`` with the EntryPoint's SenderCreator as the factory's caller, and
    only the EntryPoint may call the SenderCreator: the one call that creates the account at that address is
    ``EntryPoint.handleOps`` with a UserOperation the passkey signed. So the ERC-6492 factory is the
    EntryPoint and its calldata ``handleOps([deployOp], 0x…dEaD)``, where ``deployOp`` only creates the
    account (nonce 0, no call, fees 0: whoever runs it pays nothing to anyone, and it creates exactly the
    account the user's first UserOperation would). Signing it costs one more passkey prompt, once per account
    object.
    """

    deployment: MsaDeployment
    factory_data: bytes | None
    _deployed: bool | None
    _erc6492_factory: tuple[str, bytes] | None = None  # set once the deployment op is signed

    def _erc6492_factory_flow(self) -> Generator[Any, Any, tuple[str, bytes] | None]:
        if not self.factory_data or self._deployed:
            return None
        if (yield from _EthMethods.get_code.flow(ETH_FLOWS, self.signer.address)):
            return None
        if self._erc6492_factory is None:
            deployment = self.deployment
            op = UserOperation(
                sender=self.signer.address,
                nonce=0,
                verification_gas_limit=_DEPLOY_VERIFICATION_GAS,
                factory=deployment.factory,
                factory_data=self.factory_data,
            )
            signature = yield from self.signer.sign_user_operation(op, entry_point=deployment.entry_point)
            packed = op.replace(signature=signature).packed()
            calldata = abi_call("handleOps", [_PACKED_OPS, "address"], [[packed], _BENEFICIARY])
            self._erc6492_factory = (deployment.entry_point, calldata)
        return self._erc6492_factory
