"""The passkey account signer: one object per (account, passkey), for both SSO generations.

The interface follows eth-account's ``BaseAccount`` in spirit (``address``, ``sign_transaction``,
``sign_message``, ``sign_typed_data``, ``unsafe_sign_hash``) and returns the exact bytes the contracts accept.
Where the WebAuthn assertion comes from is pluggable (:class:`AssertionProvider`): a headless passkey, a
browser round trip driven by the backend (request options JSON out, assertion JSON back), or an async callback
that waits for a user. Every signature is preflighted against the validator's rules before it is returned.
"""

from __future__ import annotations

import abc
import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sso_signer._codec import b64url_encode
from sso_signer.exceptions import (
    AssertionRejected,
    ConfigurationError,
    ErrorCode,
    InvalidEncoding,
    StateError,
    VerificationError,
)
from sso_signer.sso._erc7739 import (
    AccountDomain,
    personal_sign_hash,
    typed_data_sign_hash,
    wrap_typed_data_signature,
)
from sso_signer.sso._owner import PasskeyOwner
from sso_signer.sso._preflight import PreflightResult, Validator, preflight
from sso_signer.sso._signature import (
    FatSignature,
    checksum_address,
    era_custom_signature,
    erc4337_passkey_signature,
)
from sso_signer.webauthn import Assertion

if TYPE_CHECKING:
    from sso_signer.erc4337 import UserOperation
    from sso_signer.zksync import Eip712Transaction

__all__ = [
    "AssertionProvider",
    "AssertionRequest",
    "AsyncAssertionProvider",
    "AsyncJsonAssertionProvider",
    "BaseSsoAccount",
    "EraPasskeyAccount",
    "Erc4337PasskeyAccount",
    "HeadlessAssertionProvider",
    "JsonAssertionProvider",
    "PasskeyAccount",
    "PasskeyCredentialLike",
    "PasskeySigner",
]

USER_VERIFICATION = "required"  # both validators demand UV; asking for less only produces unusable assertions


@dataclass(frozen=True, slots=True)
class AssertionRequest:
    """What the signer asks of an authenticator: sign ``challenge`` with one credential, with UV.

    Attributes:
        challenge: The 32 bytes the validator will compare with the clientDataJSON challenge.
        rp_id: The relying party id the credential is scoped to.
        credential_id: The only credential allowed to answer.
        origin: The origin the key is registered under (for a provider that builds clientDataJSON itself).
        purpose: ``"transaction"``, ``"user_operation"``, ``"message"``, ``"typed_data"`` or ``"hash"``,
            so a UI can say what the user approves.
        timeout_ms: Suggested ceremony timeout.
    """

    challenge: bytes
    rp_id: str
    credential_id: bytes
    origin: str
    purpose: str = "hash"
    timeout_ms: int = 120_000

    def to_options_json(self) -> dict[str, Any]:
        """The ``PublicKeyCredentialRequestOptionsJSON`` for ``navigator.credentials.get`` in a browser.

        Returns:
            ``{"challenge", "rpId", "allowCredentials", "userVerification": "required", "timeout"}`` with
            base64url (unpadded) binary members.
        """
        return {
            "challenge": b64url_encode(self.challenge),
            "rpId": self.rp_id,
            "allowCredentials": [{"type": "public-key", "id": b64url_encode(self.credential_id)}],
            "userVerification": USER_VERIFICATION,
            "timeout": self.timeout_ms,
        }


@runtime_checkable
class AssertionProvider(Protocol):
    """Answers an :class:`AssertionRequest` synchronously with a WebAuthn assertion."""

    def get_assertion(self, request: AssertionRequest) -> Assertion:
        """Return the assertion over ``request.challenge``."""
        ...


@runtime_checkable
class AsyncAssertionProvider(Protocol):
    """Answers an :class:`AssertionRequest` asynchronously (e.g. waits for a user in a browser)."""

    async def aget_assertion(self, request: AssertionRequest) -> Assertion:
        """Return the assertion over ``request.challenge``."""
        ...


class PasskeyCredentialLike(PasskeyOwner, Protocol):
    """A registered passkey as the signer needs it (``PasskeyCredential`` and ``HeadlessPasskey`` fit):
    a :class:`PasskeyOwner` that also knows its relying party."""

    @property
    def rp_id(self) -> str: ...


class HeadlessAssertionProvider:
    """Signs with an in-process :class:`~sso_signer.webauthn.HeadlessPasskey` (tests, scripts, backends)."""

    def __init__(self, passkey: Any) -> None:
        """Args:
        passkey: A ``HeadlessPasskey``.
        """
        self.passkey = passkey

    def get_assertion(self, request: AssertionRequest) -> Assertion:
        """Sign the challenge with UV set, reporting the registered origin."""
        assertion: Assertion = self.passkey.sign(request.challenge, origin=request.origin, user_verified=True)
        return assertion

    async def aget_assertion(self, request: AssertionRequest) -> Assertion:
        """Async variant of :meth:`get_assertion` (signing is local and fast)."""
        return self.get_assertion(request)


def _parse_assertion(answer: object) -> Assertion:
    if isinstance(answer, Assertion):
        return answer
    if isinstance(answer, Mapping | str | bytes):
        return Assertion.from_json(answer)
    raise VerificationError(
        f"assertion provider returned {type(answer).__name__}; expected an Assertion or its browser JSON",
        rule=ErrorCode.ASSERTION_PROVIDER,
    )


class JsonAssertionProvider:
    """A browser round trip driven by the backend: options JSON out, ``PublicKeyCredential`` JSON back.

    ``callback`` receives the request options (see :meth:`AssertionRequest.to_options_json`) and returns the
    browser's ``AuthenticationResponseJSON`` (a mapping or its text), or an ``Assertion``.
    """

    def __init__(self, callback: Callable[[dict[str, Any]], object]) -> None:
        """Args:
        callback: Blocking function that gets the options to the user and returns their answer.
        """
        self.callback = callback

    def get_assertion(self, request: AssertionRequest) -> Assertion:
        """Run the round trip and parse the answer (webauthn room errors name malformed members)."""
        return _parse_assertion(self.callback(request.to_options_json()))


class AsyncJsonAssertionProvider:
    """Async browser round trip: ``await callback(options_json)`` returns the assertion JSON.

    Suits a web backend that pushes the options to a waiting page (websocket, SSE, a queue) and awaits the
    answer without blocking its event loop.
    """

    def __init__(self, callback: Callable[[dict[str, Any]], Awaitable[object]]) -> None:
        """Args:
        callback: Coroutine function that delivers the options and returns the browser's answer.
        """
        self.callback = callback

    async def aget_assertion(self, request: AssertionRequest) -> Assertion:
        """Run the round trip and parse the answer."""
        return _parse_assertion(await self.callback(request.to_options_json()))


class PasskeySigner(abc.ABC):
    """Common base of the two SSO account generations, signing with one passkey for one account.

    Args:
        address: The smart account address.
        credential: The registered passkey (credential id, public key, origin, rp id).
        validator: The WebAuthn validator module address installed on the account.
        chain_id: The chain the account lives on (for the ERC-7739 domain and checks).
        provider: Where assertions come from; a :class:`~sso_signer.webauthn.HeadlessPasskey` is wrapped
            automatically.
        run_preflight: Check every signature against the validator's rules before returning it (default).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``address`` or ``validator`` is not an address.
        ConfigurationError (``SIGNER_CONFIGURATION``): If ``provider`` is neither a sync nor an async
            assertion provider.
    """

    generation: Validator

    def __init__(
        self,
        *,
        address: str,
        credential: PasskeyCredentialLike,
        validator: str,
        chain_id: int,
        provider: AssertionProvider | AsyncAssertionProvider | Any | None = None,
        run_preflight: bool = True,
    ) -> None:
        self._address = checksum_address(address, field="address")
        self._validator = checksum_address(validator, field="validator")
        if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
            raise ConfigurationError(
                f"chain_id must be a positive integer, got {chain_id!r}", rule=ErrorCode.SIGNER_CONFIGURATION
            )
        self._chain_id = chain_id
        self._credential = credential
        # Read once: the credential's identity is fixed, and every signature's request carries it.
        self._identity = (str(credential.rp_id), bytes(credential.credential_id), str(credential.origin))
        if provider is None:
            provider = credential  # a HeadlessPasskey is its own provider
        if hasattr(provider, "sign") and not isinstance(provider, AssertionProvider | AsyncAssertionProvider):
            provider = HeadlessAssertionProvider(provider)
        if not isinstance(provider, AssertionProvider | AsyncAssertionProvider):
            raise ConfigurationError(
                "provider must implement get_assertion() or aget_assertion()",
                rule=ErrorCode.SIGNER_CONFIGURATION,
            )
        self._provider = provider
        # Checked once: a runtime Protocol isinstance check costs more than the rest of the signer's own work.
        self._sync_provider = isinstance(provider, AssertionProvider)
        self.run_preflight = run_preflight

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(address={self._address}, "
            f"credential_id={b64url_encode(bytes(self._credential.credential_id))}, "
            f"chain_id={self._chain_id})"
        )

    @property
    def address(self) -> str:
        """The smart account address (checksummed)."""
        return self._address

    @property
    def validator(self) -> str:
        """The WebAuthn validator module address."""
        return self._validator

    @property
    def chain_id(self) -> int:
        """The chain id."""
        return self._chain_id

    @property
    def credential(self) -> PasskeyCredentialLike:
        """The passkey this signer uses."""
        return self._credential

    @property
    @abc.abstractmethod
    def domain(self) -> AccountDomain:
        """The account's ERC-1271 / ERC-7739 EIP-712 domain."""

    @abc.abstractmethod
    def envelope(self, fat: FatSignature) -> bytes:
        """Wrap a fat signature into the account-level signature blob of this generation."""

    # --- the signing core ------------------------------------------------------------------------------

    def _request(self, digest: bytes, purpose: str) -> AssertionRequest:
        if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
            raise InvalidEncoding("the hash to sign must be 32 bytes", rule=ErrorCode.CHALLENGE_LENGTH)
        rp_id, credential_id, origin = self._identity
        return AssertionRequest(bytes(digest), rp_id, credential_id, origin, purpose)

    def _finish(self, request: AssertionRequest, assertion: object) -> FatSignature:
        if not isinstance(assertion, Assertion):
            raise VerificationError(
                f"assertion provider returned {type(assertion).__name__}", rule=ErrorCode.ASSERTION_PROVIDER
            )
        if bytes(assertion.credential_id) != request.credential_id:
            raise AssertionRejected(
                f"assertion is for credential {b64url_encode(bytes(assertion.credential_id))}, "
                f"expected {b64url_encode(request.credential_id)}",
                rule=ErrorCode.CREDENTIAL_MISMATCH,
            )
        fat = FatSignature.from_assertion(assertion)
        if self.run_preflight:
            self.preflight(request.challenge, fat)
        return fat

    def preflight(self, digest: bytes, fat: FatSignature) -> PreflightResult:
        """Apply this generation's validator rules to ``fat`` for ``digest`` with this signer's key.

        Raises:
            AssertionRejected: The subclass naming the first failing rule.
        """
        key = {
            (str(self._credential.origin), bytes(self._credential.credential_id)): self._credential.public_key
        }
        return preflight(self.generation, digest, fat, key)

    def sign_digest(self, digest: bytes, *, purpose: str = "hash") -> FatSignature:
        """Have the passkey sign ``digest`` (the WebAuthn challenge) and return the low-s fat signature.

        Args:
            digest: The 32-byte hash the validator will check.
            purpose: Shown to the provider/UI (see :class:`AssertionRequest`).

        Returns:
            The fat signature (preflighted unless ``run_preflight`` is off).

        Raises:
            ConfigurationError (``SIGNER_CONFIGURATION``): If the provider is async-only (use the ``asign_*``
                methods).
            AssertionRejected (``CREDENTIAL_MISMATCH``): If the assertion is for another credential.
            AssertionRejected: If the signature would fail on-chain.
        """
        request = self._request(digest, purpose)
        if not self._sync_provider:
            raise ConfigurationError(
                "this assertion provider is async-only: use the asign_* methods",
                rule=ErrorCode.SIGNER_CONFIGURATION,
            )
        return self._finish(request, self._provider.get_assertion(request))  # type: ignore[union-attr]

    async def asign_digest(self, digest: bytes, *, purpose: str = "hash") -> FatSignature:
        """Async variant of :meth:`sign_digest`; a sync-only provider runs in a worker thread."""
        request = self._request(digest, purpose)
        provider = self._provider
        if isinstance(provider, AsyncAssertionProvider):
            answer = provider.aget_assertion(request)
            assertion = await answer if inspect.isawaitable(answer) else answer
        else:
            assertion = await asyncio.to_thread(provider.get_assertion, request)
        return self._finish(request, assertion)

    # --- eth-account style API -------------------------------------------------------------------------

    def unsafe_sign_hash(self, message_hash: bytes) -> bytes:
        """Sign a raw 32-byte hash and return the account-level blob (no ERC-7739 binding: only for hashes
        the validator itself receives, never for ERC-1271 messages a dapp chose).

        Raises:
            InvalidEncoding (``CHALLENGE_LENGTH``): If ``message_hash`` is not 32 bytes.
            AssertionRejected: If the signature would fail on-chain.
        """
        return self.envelope(self.sign_digest(message_hash, purpose="hash"))

    async def aunsafe_sign_hash(self, message_hash: bytes) -> bytes:
        """Async variant of :meth:`unsafe_sign_hash`."""
        return self.envelope(await self.asign_digest(message_hash, purpose="hash"))

    def sign_message(self, message: bytes | str) -> bytes:
        """ERC-1271 signature of an EIP-191 message through ERC-7739 PersonalSign.

        Args:
            message: The message bytes, or text (UTF-8).

        Returns:
            The blob to pass to the account's ``isValidSignature(eip191Hash(message), blob)``.
        """
        return self.envelope(self.sign_digest(personal_sign_hash(message, self.domain), purpose="message"))

    async def asign_message(self, message: bytes | str) -> bytes:
        """Async variant of :meth:`sign_message`."""
        digest = personal_sign_hash(message, self.domain)
        return self.envelope(await self.asign_digest(digest, purpose="message"))

    def sign_typed_data(self, typed_data: Mapping[str, Any]) -> bytes:
        """ERC-1271 signature of EIP-712 typed data through ERC-7739 TypedDataSign.

        Args:
            typed_data: ``{"types", "primaryType", "domain", "message"}`` as for ``eth_signTypedData_v4``.

        Returns:
            The blob to pass to ``isValidSignature(hashTypedData(typed_data), blob)``: the account signature
            followed by the ERC-7739 suffix.

        Raises:
            SsoEncodingError (``INVALID_TYPED_DATA``): If the typed data is malformed.
        """
        digest = typed_data_sign_hash(typed_data, self.domain)
        return wrap_typed_data_signature(
            self.envelope(self.sign_digest(digest, purpose="typed_data")), typed_data
        )

    async def asign_typed_data(self, typed_data: Mapping[str, Any]) -> bytes:
        """Async variant of :meth:`sign_typed_data`."""
        digest = typed_data_sign_hash(typed_data, self.domain)
        fat = await self.asign_digest(digest, purpose="typed_data")
        return wrap_typed_data_signature(self.envelope(fat), typed_data)


class EraPasskeyAccount(PasskeySigner):
    """An Era native-AA ``SsoAccount`` driven by a passkey through the ``WebAuthValidator``.

    Signatures are ``abi.encode(bytes fat, address validator, bytes[] [""])`` (byte-identical to the official
    SDK); transactions come back as raw ``0x71`` bytes ready for ``eth_sendRawTransaction``.
    """

    generation: Validator = "era"

    @property
    def domain(self) -> AccountDomain:
        """``("SSO1271", "1.0.0", chain_id, account)``."""
        return AccountDomain.era(self.address, self.chain_id)

    def envelope(self, fat: FatSignature) -> bytes:
        """``abi.encode(bytes fat, address validator, bytes[] [""])``."""
        return era_custom_signature(fat, self.validator)

    def _check_tx(self, tx: Eip712Transaction) -> None:
        if tx.from_address.lower() != self.address.lower():
            raise StateError(
                f"transaction is from {tx.from_address}, this signer is {self.address}",
                rule=ErrorCode.ACCOUNT_MISMATCH,
            )
        if tx.chain_id != self.chain_id:
            raise StateError(
                f"transaction is for chain {tx.chain_id}, this signer for {self.chain_id}",
                rule=ErrorCode.ACCOUNT_MISMATCH,
            )

    def sign_transaction(self, tx: Eip712Transaction) -> bytes:
        """Sign an EIP-712 (0x71) transaction from this account.

        Args:
            tx: The transaction (its ``custom_signature`` is replaced).

        Returns:
            ``0x71 ‖ RLP(...)`` with the passkey ``customSignature``, ready for ``eth_sendRawTransaction``.

        Raises:
            StateError (``ACCOUNT_MISMATCH``): If ``tx.from_address`` or ``tx.chain_id`` is not this
                account's.
            AssertionRejected: If the signature would fail validation on-chain.
        """
        self._check_tx(tx)
        fat = self.sign_digest(tx.signed_hash(), purpose="transaction")
        return tx.serialize(custom_signature=self.envelope(fat))

    async def asign_transaction(self, tx: Eip712Transaction) -> bytes:
        """Async variant of :meth:`sign_transaction`."""
        self._check_tx(tx)
        fat = await self.asign_digest(tx.signed_hash(), purpose="transaction")
        return tx.serialize(custom_signature=self.envelope(fat))


PasskeyAccount = EraPasskeyAccount
BaseSsoAccount = PasskeySigner


class Erc4337PasskeyAccount(PasskeySigner):
    """An ERC-4337 ``ModularSmartAccount`` driven by a passkey through the ``WebAuthnValidator`` module.

    Signatures are ``validator(20 bytes) ‖ fat``; user operations are signed over their v0.8 userOpHash.
    """

    generation: Validator = "erc4337"

    @property
    def domain(self) -> AccountDomain:
        """``("zksync-sso-1271", "1.0.0", chain_id, account)``."""
        return AccountDomain.erc4337(self.address, self.chain_id)

    def envelope(self, fat: FatSignature) -> bytes:
        """``validator ‖ abi.encode(bytes, bytes, bytes32[2], bytes)``."""
        return erc4337_passkey_signature(self.validator, fat)

    def _op_hash(self, op: UserOperation, entry_point: str | None, chain_id: int | None) -> bytes:
        from sso_signer.erc4337 import ENTRY_POINT_V08, user_operation_hash

        if op.sender.lower() != self.address.lower():
            raise StateError(
                f"user operation sender is {op.sender}, this signer is {self.address}",
                rule=ErrorCode.ACCOUNT_MISMATCH,
            )
        chain = self.chain_id if chain_id is None else chain_id
        if chain != self.chain_id:
            raise StateError(
                f"user operation is for chain {chain}, this signer for {self.chain_id}",
                rule=ErrorCode.ACCOUNT_MISMATCH,
            )
        return user_operation_hash(op, entry_point=entry_point or ENTRY_POINT_V08, chain_id=chain)

    def sign_user_operation(
        self, op: UserOperation, *, entry_point: str | None = None, chain_id: int | None = None
    ) -> bytes:
        """Sign a v0.8 UserOperation.

        Args:
            op: The operation (its signature field is ignored).
            entry_point: The EntryPoint; the canonical v0.8 address by default.
            chain_id: Must equal the signer's chain id when given.

        Returns:
            The ``userOp.signature`` bytes: ``validator ‖ fat``.

        Raises:
            StateError (``ACCOUNT_MISMATCH``): If ``op.sender`` or the chain is not this account's.
            AssertionRejected: If the signature would fail validation on-chain.
        """
        digest = self._op_hash(op, entry_point, chain_id)
        return self.envelope(self.sign_digest(digest, purpose="user_operation"))

    async def asign_user_operation(
        self, op: UserOperation, *, entry_point: str | None = None, chain_id: int | None = None
    ) -> bytes:
        """Async variant of :meth:`sign_user_operation`."""
        digest = self._op_hash(op, entry_point, chain_id)
        return self.envelope(await self.asign_digest(digest, purpose="user_operation"))
