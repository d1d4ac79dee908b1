"""Passkey-signed operations checked by the relying party: the ceremony as an assertion provider.

An account asks its provider for an assertion over an operation's hash (a userOpHash, a transaction's
signed hash, an ERC-7739 digest). :class:`CeremonyAssertionProvider` answers through the relying party and
its store: the hash is issued as a single-use challenge bound to one user and the account's credential, the
browser's answer comes back through a callback, and the relying party verifies it (signature, origin, rpId,
UP/UV, the credential is the user's, counter compare-and-set, challenge consumed once) before the account
sees it. The ceremony is written once, as a flow of the relying party's own store steps plus one browser
step, and runs with blocking I/O (a :class:`~sso_signer.webauthn.RelyingParty`) or awaited (an
:class:`~sso_signer.webauthn.AsyncRelyingParty`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any

from sso_signer._shell import AsyncShell, SyncShell, drive, drive_async
from sso_signer.accounts._signer import AssertionRequest, _parse_assertion, awaited_call, blocking_result
from sso_signer.exceptions import ConfigurationError, ErrorCode, InvalidEncoding
from sso_signer.webauthn import Assertion, AsyncRelyingParty, RelyingParty
from sso_signer.webauthn._assertion import MAX_USER_HANDLE
from sso_signer.webauthn._relying_party import AuthenticationResult, _RelyingPartyMethods

__all__ = ["CeremonyAssertionProvider"]

#: The browser round trip: request options JSON in, the browser's answer (or a coroutine of it) out.
BrowserCallback = Callable[[dict[str, Any]], object | Awaitable[object]]


@dataclass(frozen=True, slots=True)
class _BrowserStep:
    """The ceremony's one step outside the store: hand ``options`` to the user's browser."""

    options: dict[str, Any]


def _ceremony(
    rp: _RelyingPartyMethods[Any], user_handle: bytes, request: AssertionRequest
) -> Generator[Any, Any, AuthenticationResult]:
    """Issue the request's hash as the user's challenge, ask the browser, verify its answer."""
    options = yield from _RelyingPartyMethods.authentication_options.flow(
        rp,
        request.challenge,
        user_handle=user_handle,
        # Only the account's own passkey may answer, and it must be this user's (checked at issue).
        credential_ids=[request.credential_id],
        timeout_ms=request.timeout_ms,
    )
    answer = yield _BrowserStep(options)
    assertion = _parse_assertion(answer)
    result: AuthenticationResult = yield from _RelyingPartyMethods.verify_authentication.flow(
        rp, assertion, expected_challenge=request.challenge, user_handle=user_handle
    )
    return result


class CeremonyAssertionProvider:
    """An assertion provider that runs each signature through the relying party's authentication ceremony.

    Give it to an account (``provider=``) when the backend keeps its users' passkeys in a store: every
    passkey-signed operation (``send``, ``create_session``, ``add_passkey``, ...) then goes through the same
    checks as a login. For each :class:`AssertionRequest`, the provider

    1. issues the operation's hash as an authentication challenge in the store, bound to ``user_handle`` and
       to the account's credential (which must be that user's), expiring after the relying party's
       ``challenge_ttl``;
    2. hands the request options JSON to ``callback`` (the browser round trip: ``navigator.credentials.get``)
       and parses its answer;
    3. has the relying party verify the answer against the stored passkey (signature, origin, rpId, user
       presence and verification, the credential is the user's, the counter moves forward, compare-and-set
       in the store) and consume the challenge, exactly once;

    and only then returns the assertion to the account, which checks it once more against the validator's
    rules before it signs anything.

    A hash is issued once: asking again for the same operation (a retry with an identical hash) raises
    ``AlreadyExists`` (``CHALLENGE_ALREADY_ISSUED``) until the challenge has expired and the store's
    ``purge_challenges`` has removed it.

    Args:
        relying_party: A :class:`~sso_signer.webauthn.RelyingParty` (blocking store) or an
            :class:`~sso_signer.webauthn.AsyncRelyingParty` (awaited store; then use the ``Async`` account).
        user_handle: The user whose passkey signs (the caller's session user, never read from the answer).
        callback: Receives the ``PublicKeyCredentialRequestOptionsJSON`` and returns the browser's
            ``AuthenticationResponseJSON`` (a mapping or its text) or an ``Assertion``; it may be a coroutine
            function when the provider is awaited.

    Raises:
        InvalidEncoding (``FIELD_TOO_LARGE``): If ``user_handle`` is not 1..64 bytes.
        ConfigurationError (``SIGNER_CONFIGURATION``): If ``relying_party`` is neither kind of relying party.
    """

    __slots__ = ("callback", "relying_party", "user_handle")

    def __init__(
        self,
        relying_party: RelyingParty | AsyncRelyingParty,
        *,
        user_handle: bytes,
        callback: BrowserCallback,
    ) -> None:
        if not isinstance(relying_party, RelyingParty | AsyncRelyingParty):
            raise ConfigurationError(
                "relying_party must be a RelyingParty or an AsyncRelyingParty, "
                f"got {type(relying_party).__name__}",
                rule=ErrorCode.SIGNER_CONFIGURATION,
            )
        if not isinstance(user_handle, bytes | bytearray) or not 1 <= len(user_handle) <= MAX_USER_HANDLE:
            raise InvalidEncoding(
                f"user_handle must be 1..{MAX_USER_HANDLE} bytes", rule=ErrorCode.FIELD_TOO_LARGE
            )
        self.relying_party = relying_party
        self.user_handle = bytes(user_handle)
        self.callback = callback

    def __repr__(self) -> str:
        return f"CeremonyAssertionProvider({self.relying_party!r}, user_handle={self.user_handle.hex()})"

    def get_assertion(self, request: AssertionRequest) -> Assertion:
        """Run the ceremony with blocking I/O (a sync relying party and a blocking callback).

        Returns:
            The assertion the relying party verified.

        Raises:
            ConfigurationError (``SIGNER_CONFIGURATION``): If the relying party is async, or the callback
                returns an awaitable (await the provider instead: the ``Async`` account does).
            AlreadyExists (``CHALLENGE_ALREADY_ISSUED``): If this hash was already issued.
            NotFound (``CREDENTIAL_NOT_FOUND``): If the account's credential is not in the store, or the
                answer is from a credential the store does not know.
            AssertionRejected (``CREDENTIAL_NOT_ALLOWED``): If the account's credential is not
                ``user_handle``'s, or the answer is from another credential.
            AssertionRejected (``CHALLENGE_MISMATCH``, ``COUNTER_REGRESSION``, ``ORIGIN_MISMATCH``,
                ``USER_HANDLE_MISMATCH``, ...): As ``RelyingParty.verify_authentication``.
            ChallengeInvalid: If the challenge expired or was consumed meanwhile.
            VerificationError (``ASSERTION_PROVIDER``): If the answer is not an assertion.
        """
        rp = self.relying_party
        if not isinstance(rp, SyncShell):
            raise ConfigurationError(
                "an AsyncRelyingParty is awaited: use the Async account class (AsyncErc4337Account, "
                "AsyncEraAccount)",
                rule=ErrorCode.SIGNER_CONFIGURATION,
            )

        def handle(step: Any) -> Any:
            if not isinstance(step, _BrowserStep):
                return rp.answer(step)
            message = "the browser callback is asynchronous: use the Async account class"
            return blocking_result(self.callback(step.options), message)

        return drive(_ceremony(rp, self.user_handle, request), handle).assertion

    async def aget_assertion(self, request: AssertionRequest) -> Assertion:
        """Run the ceremony with asyncio: an async relying party's store calls and an async callback are
        awaited; a sync relying party's store calls and a blocking callback run in a worker thread.

        Returns:
            The assertion the relying party verified.

        Raises:
            As :meth:`get_assertion`, without the configuration errors.
        """
        rp = self.relying_party

        async def handle(step: Any) -> Any:
            if isinstance(step, _BrowserStep):
                return await awaited_call(self.callback, step.options)
            if isinstance(rp, AsyncShell):
                return await rp.answer(step)
            return await asyncio.to_thread(rp.answer, step)

        return (await drive_async(_ceremony(rp, self.user_handle, request), handle)).assertion
