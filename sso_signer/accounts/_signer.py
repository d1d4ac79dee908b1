"""The passkey signer: one object per (account, passkey, generation), and where its assertions come from.

The signer does no I/O. Each signing method is a flow: it yields one :class:`AssertionRequest` (the challenge
and the credential allowed to answer) and receives the WebAuthn assertion, then returns the exact bytes the
generation's contracts accept, preflighted against the validator's rules. An account runs these flows with
its shell: the sync account asks an :class:`AssertionProvider`, the async one awaits an
:class:`AsyncAssertionProvider` (a headless passkey, a browser round trip driven by the backend, or a
callback that waits for a user).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from sso_signer._codec import b64url_encode
from sso_signer._shell import drive
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
    "HeadlessAssertionProvider",
    "JsonAssertionProvider",
    "PasskeyCredentialLike",
    "PasskeySigner",
    "SignFlow",
]

T = TypeVar("T")
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


#: A signing flow: yields :class:`AssertionRequest` steps, receives assertions, returns ``T``.
SignFlow = Generator[AssertionRequest, Any, T]


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
    a :class:`~sso_signer.sso.PasskeyOwner` that also knows its relying party."""

    @property
    def rp_id(self) -> str: ...


class HeadlessAssertionProvider:
    """Signs with an in-process :class:`~sso_signer.webauthn.HeadlessPasskey` (tests, scripts, backends).

    Args:
        passkey: A ``HeadlessPasskey``.
    """

    def __init__(self, passkey: Any) -> None:
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

    Args:
        callback: Blocking function that receives the request options (see
            :meth:`AssertionRequest.to_options_json`) and returns the browser's ``AuthenticationResponseJSON``
            (a mapping or its text), or an ``Assertion``.
    """

    def __init__(self, callback: Callable[[dict[str, Any]], object]) -> None:
        self.callback = callback

    def get_assertion(self, request: AssertionRequest) -> Assertion:
        """Run the round trip and parse the answer (webauthn room errors name malformed members)."""
        return _parse_assertion(self.callback(request.to_options_json()))


class AsyncJsonAssertionProvider:
    """Async browser round trip: ``await callback(options_json)`` returns the assertion JSON.

    Suits a web backend that pushes the options to a waiting page (websocket, SSE, a queue) and awaits the
    answer without blocking its event loop.

    Args:
        callback: Coroutine function that delivers the options and returns the browser's answer.
    """

    def __init__(self, callback: Callable[[dict[str, Any]], Awaitable[object]]) -> None:
        self.callback = callback

    async def aget_assertion(self, request: AssertionRequest) -> Assertion:
        """Run the round trip and parse the answer."""
        return _parse_assertion(await self.callback(request.to_options_json()))


AnyProvider = AssertionProvider | AsyncAssertionProvider


def assertion_provider(credential: object, provider: object | None) -> AnyProvider | None:
    """The provider an account asks: ``provider``, else the credential itself when it can sign (anything
    with ``sign()``, such as a ``HeadlessPasskey``, is wrapped in a :class:`HeadlessAssertionProvider`), else
    ``None``: the account can read and verify, and refuses to sign.

    Raises:
        ConfigurationError (``SIGNER_CONFIGURATION``): If ``provider`` is given but is neither a sync nor an
            async assertion provider.
    """
    chosen = credential if provider is None else provider
    if hasattr(chosen, "sign") and not isinstance(chosen, AssertionProvider | AsyncAssertionProvider):
        chosen = HeadlessAssertionProvider(chosen)
    if isinstance(chosen, AssertionProvider | AsyncAssertionProvider):
        return chosen
    if provider is None:
        return None
    raise ConfigurationError(
        "provider must implement get_assertion() or aget_assertion()", rule=ErrorCode.SIGNER_CONFIGURATION
    )


def blocking_result(result: object, message: str) -> Any:
    """A callback's answer on the blocking path: an awaitable is refused (a coroutine closed unawaited).

    Raises:
        ConfigurationError (``SIGNER_CONFIGURATION``): If ``result`` is awaitable (``message`` says why).
    """
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()  # never awaited: close it rather than leak a warning
        raise ConfigurationError(message, rule=ErrorCode.SIGNER_CONFIGURATION)
    return result


async def awaited_call(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` on the async path: a coroutine function is awaited, a blocking one runs in a
    worker thread (and an awaitable it returns is awaited)."""
    if inspect.iscoroutinefunction(function):
        return await function(*args)
    result = await asyncio.to_thread(function, *args)
    return await result if inspect.isawaitable(result) else result


def _require(provider: AnyProvider | None) -> AnyProvider:
    if provider is None:
        raise ConfigurationError(
            "this account has no assertion provider (its credential cannot sign): pass provider=...",
            rule=ErrorCode.SIGNER_CONFIGURATION,
        )
    return provider


def ask(provider: AnyProvider | None, request: AssertionRequest) -> Assertion:
    """Answer a signing step with blocking I/O (what a sync account's shell does).

    Raises:
        ConfigurationError (``SIGNER_CONFIGURATION``): If there is no provider, or it is async-only (use the
            ``Async`` account class).
    """
    provider = _require(provider)
    if not isinstance(provider, AssertionProvider):
        raise ConfigurationError(
            "this assertion provider is async-only: use the Async account class (AsyncEraAccount, "
            "AsyncErc4337Account)",
            rule=ErrorCode.SIGNER_CONFIGURATION,
        )
    return provider.get_assertion(request)


async def ask_async(provider: AnyProvider | None, request: AssertionRequest) -> Assertion:
    """Answer a signing step with asyncio; a sync-only provider runs in a worker thread.

    Raises:
        ConfigurationError (``SIGNER_CONFIGURATION``): If there is no provider.
    """
    provider = _require(provider)
    if isinstance(provider, AsyncAssertionProvider):
        return await provider.aget_assertion(request)
    return await asyncio.to_thread(provider.get_assertion, request)


class PasskeySigner:
    """Signs for one SSO account with one passkey, as the account's generation requires; does no I/O.

    Every signing method returns a flow (see the module docstring) that an account runs; to run one
    without an account, use :meth:`run`: ``signer.run(signer.sign_message("hi"), provider)``.

    Args:
        generation: ``"era"`` (``WebAuthValidator`` on a native-AA ``SsoAccount``: signatures are
            ``abi.encode(bytes fat, address validator, bytes[] [""])``) or ``"erc4337"``
            (``WebAuthnValidator`` on a ``ModularSmartAccount``: ``validator ‖ fat``).
        address: The smart account address.
        credential: The registered passkey (credential id, public key, origin, rp id).
        validator: The WebAuthn validator module address installed on the account.
        chain_id: The chain the account lives on (for the ERC-7739 domain and checks).
        run_preflight: Check every signature against the validator's rules before returning it (default).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``address`` or ``validator`` is not an address.
        ConfigurationError (``SIGNER_CONFIGURATION``): If ``chain_id`` is not a positive integer or
            ``generation`` is unknown.
    """

    __slots__ = (
        "_address",
        "_chain_id",
        "_credential",
        "_identity",
        "_validator",
        "generation",
        "run_preflight",
    )

    def __init__(
        self,
        *,
        generation: Validator,
        address: str,
        credential: PasskeyCredentialLike,
        validator: str,
        chain_id: int,
        run_preflight: bool = True,
    ) -> None:
        if generation not in ("era", "erc4337"):
            raise ConfigurationError(
                f"generation must be 'era' or 'erc4337', got {generation!r}",
                rule=ErrorCode.SIGNER_CONFIGURATION,
            )
        self.generation: Validator = generation
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
        self.run_preflight = run_preflight

    def __repr__(self) -> str:
        return (
            f"PasskeySigner({self.generation}, address={self._address}, "
            f"credential_id={b64url_encode(self._identity[1])}, chain_id={self._chain_id})"
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
    def domain(self) -> AccountDomain:
        """The account's ERC-1271 / ERC-7739 EIP-712 domain (``SSO1271`` or ``zksync-sso-1271``)."""
        if self.generation == "era":
            return AccountDomain.era(self._address, self._chain_id)
        return AccountDomain.erc4337(self._address, self._chain_id)

    def envelope(self, fat: FatSignature) -> bytes:
        """Wrap a fat signature into this generation's account-level signature blob."""
        if self.generation == "era":
            return era_custom_signature(fat, self._validator)
        return erc4337_passkey_signature(self._validator, fat)

    def preflight(self, digest: bytes, fat: FatSignature) -> PreflightResult:
        """Apply this generation's validator rules to ``fat`` for ``digest`` with this signer's key.

        Raises:
            AssertionRejected: The subclass naming the first failing rule.
        """
        key = {
            (str(self._credential.origin), bytes(self._credential.credential_id)): self._credential.public_key
        }
        return preflight(self.generation, digest, fat, key)

    # --- flows -----------------------------------------------------------------------------------------

    def sign_digest(self, digest: bytes, *, purpose: str = "hash") -> SignFlow[FatSignature]:
        """Have the passkey sign ``digest`` (the WebAuthn challenge): the low-s fat signature.

        Args:
            digest: The 32-byte hash the validator will check.
            purpose: Shown to the provider/UI (see :class:`AssertionRequest`).

        Returns:
            The fat signature (preflighted unless ``run_preflight`` is off).

        Raises:
            InvalidEncoding (``CHALLENGE_LENGTH``): If ``digest`` is not 32 bytes.
            VerificationError (``ASSERTION_PROVIDER``): If the answer is not an assertion.
            AssertionRejected (``CREDENTIAL_MISMATCH``): If the assertion is for another credential.
            AssertionRejected: If the signature would fail on-chain.
        """
        if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
            raise InvalidEncoding("the hash to sign must be 32 bytes", rule=ErrorCode.CHALLENGE_LENGTH)
        rp_id, credential_id, origin = self._identity
        request = AssertionRequest(bytes(digest), rp_id, credential_id, origin, purpose)
        assertion = yield request
        if not isinstance(assertion, Assertion):
            raise VerificationError(
                f"assertion provider returned {type(assertion).__name__}", rule=ErrorCode.ASSERTION_PROVIDER
            )
        if bytes(assertion.credential_id) != credential_id:
            raise AssertionRejected(
                f"assertion is for credential {b64url_encode(bytes(assertion.credential_id))}, "
                f"expected {b64url_encode(credential_id)}",
                rule=ErrorCode.CREDENTIAL_MISMATCH,
            )
        fat = FatSignature.from_assertion(assertion)
        if self.run_preflight:
            self.preflight(request.challenge, fat)
        return fat

    def unsafe_sign_hash(self, message_hash: bytes) -> SignFlow[bytes]:
        """Sign a raw 32-byte hash: the account-level blob, with no ERC-7739 binding (only for hashes the
        validator itself receives, never for ERC-1271 messages a dapp chose)."""
        return self.envelope((yield from self.sign_digest(message_hash, purpose="hash")))

    def sign_message(self, message: bytes | str) -> SignFlow[bytes]:
        """ERC-1271 signature of an EIP-191 message (bytes, or UTF-8 text) through ERC-7739 PersonalSign: the
        blob for the account's ``isValidSignature(eip191Hash(message), blob)``."""
        digest = personal_sign_hash(message, self.domain)
        return self.envelope((yield from self.sign_digest(digest, purpose="message")))

    def sign_typed_data(self, typed_data: Mapping[str, Any]) -> SignFlow[bytes]:
        """ERC-1271 signature of EIP-712 typed data (``{"types", "primaryType", "domain", "message"}``)
        through ERC-7739 TypedDataSign: the account signature followed by the ERC-7739 suffix.

        Raises:
            SsoEncodingError (``INVALID_TYPED_DATA``): If the typed data is malformed.
        """
        digest = typed_data_sign_hash(typed_data, self.domain)
        fat = yield from self.sign_digest(digest, purpose="typed_data")
        return wrap_typed_data_signature(self.envelope(fat), typed_data)

    def sign_transaction(self, tx: Eip712Transaction) -> SignFlow[bytes]:
        """Sign an Era 0x71 transaction from this account: ``0x71 ‖ RLP(...)`` with the passkey
        ``customSignature``, ready for ``eth_sendRawTransaction``.

        Raises:
            StateError (``ACCOUNT_MISMATCH``): If this is not an Era signer, or ``tx`` is from another account
                or chain.
            AssertionRejected: If the signature would fail validation on-chain.
        """
        self._check("era", tx.from_address, tx.chain_id, "transaction")
        fat = yield from self.sign_digest(tx.signed_hash(), purpose="transaction")
        return tx.serialize(custom_signature=self.envelope(fat))

    def sign_user_operation(self, op: UserOperation, *, entry_point: str | None = None) -> SignFlow[bytes]:
        """Sign a v0.8 UserOperation over its userOpHash: the ``userOp.signature`` (``validator ‖ fat``).

        Args:
            op: The operation (its signature field is ignored).
            entry_point: The EntryPoint; the canonical v0.8 address by default.

        Raises:
            StateError (``ACCOUNT_MISMATCH``): If this is not an ERC-4337 signer, or ``op.sender`` is another
                account.
            AssertionRejected: If the signature would fail validation on-chain.
        """
        from sso_signer.erc4337 import ENTRY_POINT_V08, user_operation_hash

        self._check("erc4337", op.sender, self._chain_id, "user operation")
        digest = user_operation_hash(op, entry_point=entry_point or ENTRY_POINT_V08, chain_id=self._chain_id)
        return self.envelope((yield from self.sign_digest(digest, purpose="user_operation")))

    def run(self, flow: SignFlow[T], provider: AssertionProvider) -> T:
        """Run one of this signer's flows to its end, asking ``provider`` for the assertion (blocking).

        An account does this itself; this is for signing without one. An async-only provider signs through
        an ``Async`` account.

        Args:
            flow: What a signing method returned (``signer.sign_message("hi")``, ...).
            provider: Answers the flow's :class:`AssertionRequest`.

        Returns:
            What the flow returns: the signature blob, or the signed transaction or user operation bytes.

        Raises:
            ConfigurationError (``SIGNER_CONFIGURATION``): If the provider is async-only.
            SsoSignerError: What the signing method raises (see each method).
        """
        return drive(flow, lambda request: ask(provider, request))

    def _check(self, generation: str, sender: str, chain_id: int, what: str) -> None:
        if self.generation != generation:
            raise StateError(
                f"a {self.generation} signer cannot sign a {generation} {what}",
                rule=ErrorCode.ACCOUNT_MISMATCH,
            )
        if sender.lower() != self._address.lower():
            raise StateError(
                f"{what} is from {sender}, this signer is {self._address}", rule=ErrorCode.ACCOUNT_MISMATCH
            )
        if chain_id != self._chain_id:
            raise StateError(
                f"{what} is for chain {chain_id}, this signer for {self._chain_id}",
                rule=ErrorCode.ACCOUNT_MISMATCH,
            )
