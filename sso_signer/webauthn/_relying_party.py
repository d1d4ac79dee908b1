"""The relying party: options for the browser, verification of its answers, and the store behind them.

Each ceremony is written once, as a flow (:func:`~sso_signer._shell.flow_method`) whose store calls are
yielded steps (:class:`_StoreCall`): :class:`RelyingParty` answers them with a :class:`PasskeyStore`,
:class:`AsyncRelyingParty` awaits them on an :class:`AsyncPasskeyStore`, and the checks between them are the
same code.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar

from webauthn import generate_authentication_options, generate_registration_options
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.options_to_json import options_to_json
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialRequestOptions,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from sso_signer._shell import AsyncShell, SyncShell, flow_method
from sso_signer.exceptions import AssertionRejected, ErrorCode, InvalidEncoding, InvalidWebAuthnData, NotFound
from sso_signer.webauthn._assertion import MAX_USER_HANDLE, Assertion
from sso_signer.webauthn._attestation import load_trust_roots
from sso_signer.webauthn._authentication import verify_assertion
from sso_signer.webauthn._credential import PasskeyCredential
from sso_signer.webauthn._origin import check_origins
from sso_signer.webauthn._registration import RegistrationResponse, verify_registration_response
from sso_signer.webauthn._store import AsyncPasskeyStore, ChallengePurpose, PasskeyStore, PendingChallenge

__all__ = ["MAX_USER_NAME", "AsyncRelyingParty", "AuthenticationResult", "RelyingParty"]

Attestation = Literal["none", "direct"]

#: Longest user or display name accepted, in bytes of UTF-8: an e-mail address fits (254), and the name is
#: stored with every challenge and credential (authenticators keep 64 bytes at least, WebAuthn 6.4.1).
MAX_USER_NAME = 256
_KNOWN_TRANSPORTS = {t.value for t in AuthenticatorTransport}

T = TypeVar("T")
St = TypeVar("St", PasskeyStore, AsyncPasskeyStore)


@dataclass(frozen=True, slots=True)
class _StoreCall:
    """A step of a ceremony flow: call the store's method ``name`` (one transaction), receive its result."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


#: A ceremony flow: yields store calls, receives their results, returns ``T``.
Flow = Generator[_StoreCall, Any, T]


def _store(name: str, *args: Any, **kwargs: Any) -> Flow[Any]:
    """Call the store's method ``name`` from inside a flow (``x = yield from _store(...)``)."""
    return (yield _StoreCall(name, args, kwargs))


@dataclass(frozen=True, slots=True)
class AuthenticationResult:
    """A verified assertion and the credential it came from (with the updated counter).

    Attributes:
        credential: The stored passkey, sign count updated.
        assertion: The verified assertion (its signature is untouched: normalise for the validator).
        challenge: The challenge the assertion answers.
    """

    credential: PasskeyCredential
    assertion: Assertion
    challenge: bytes


def _check_name(what: str, name: str) -> None:
    """Refuse a name that is too long or not Unicode text (a lone surrogate has no UTF-8 form)."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidWebAuthnData(
            f"{what} is not Unicode text (a lone surrogate)", rule=ErrorCode.INVALID_CREDENTIAL_JSON
        ) from None
    if size > MAX_USER_NAME:
        raise InvalidEncoding(
            f"{what} is {size} bytes of UTF-8; the limit is {MAX_USER_NAME}", rule=ErrorCode.FIELD_TOO_LARGE
        )


class _RelyingPartyMethods(Generic[St]):
    """The relying party's configuration and ceremonies, each a flow written once for both shells."""

    def __init__(
        self,
        *,
        rp_id: str,
        rp_name: str,
        origins: str | Sequence[str],
        store: St,
        challenge_ttl: float = 600.0,
        attestation: Attestation | None = None,
        attestation_roots: Mapping[str, Sequence[bytes]] | None = None,
        clock: Callable[[], float] = time.time,
        require_registered_origin: bool = True,
    ) -> None:
        self.rp_id = rp_id
        self.rp_name = rp_name
        self.origins: tuple[str, ...] = check_origins(rp_id, origins)
        self.attestation_roots = None if attestation_roots is None else load_trust_roots(attestation_roots)
        if attestation is None:
            attestation = "none" if attestation_roots is None else "direct"
        self.attestation: Attestation = self._conveyance(attestation)
        self.store: St = store
        if not (0 < challenge_ttl < math.inf):  # also refuses NaN: SQLite would store it as NULL
            raise InvalidWebAuthnData(
                f"challenge_ttl must be a positive finite number of seconds, got {challenge_ttl}",
                rule=ErrorCode.INVALID_CREDENTIAL_JSON,
            )
        self.challenge_ttl = float(challenge_ttl)
        self._clock = clock
        self.require_registered_origin = require_registered_origin

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rp_id={self.rp_id!r}, origins={self.origins!r})"

    def _conveyance(self, attestation: str) -> Attestation:
        if attestation not in ("none", "direct"):
            raise InvalidWebAuthnData(
                f"attestation must be 'none' or 'direct', got {attestation!r}",
                rule=ErrorCode.INVALID_CREDENTIAL_JSON,
            )
        if attestation == "none" and self.attestation_roots is not None:
            # Every answer would be refused as untrusted: say so before a user is sent to the browser.
            raise InvalidWebAuthnData(
                "attestation 'none' cannot satisfy attestation_roots; ask 'direct'",
                rule=ErrorCode.INVALID_CREDENTIAL_JSON,
            )
        return "direct" if attestation == "direct" else "none"

    @staticmethod
    def _descriptors(credentials: Iterable[PasskeyCredential]) -> list[PublicKeyCredentialDescriptor]:
        return [
            PublicKeyCredentialDescriptor(
                id=c.credential_id,
                transports=[AuthenticatorTransport(t) for t in c.transports if t in _KNOWN_TRANSPORTS]
                or None,
            )
            for c in credentials
        ]

    @staticmethod
    def _allowed(
        user_handle: bytes | None, credential_ids: Sequence[bytes] | None
    ) -> Flow[list[PasskeyCredential]]:
        """The credentials an authentication challenge allows, each checked to exist and be the user's."""
        if user_handle is None:
            found: list[PasskeyCredential] = []
            for cred_id in credential_ids or ():
                found.append((yield from _store("get_credential", cred_id)))
            return found
        owned: list[PasskeyCredential] = yield from _store("credentials_for_user", bytes(user_handle))
        if credential_ids is None:
            return owned
        by_id = {c.credential_id: c for c in owned}
        allowed = []
        for cred_id in credential_ids:
            if bytes(cred_id) not in by_id:
                yield from _store("get_credential", cred_id)  # CredentialNotFound if it is nobody's
                raise AssertionRejected(
                    "a credential of credential_ids is not user_handle's",
                    rule=ErrorCode.CREDENTIAL_NOT_ALLOWED,
                )
            allowed.append(by_id[bytes(cred_id)])
        return allowed

    def _issue(
        self,
        options: PublicKeyCredentialCreationOptions | PublicKeyCredentialRequestOptions,
        purpose: ChallengePurpose,
        **binding: Any,
    ) -> Flow[dict[str, Any]]:
        """Store the options' challenge (purpose, expiry, ``binding``) and return the options as JSON."""
        expires_at = self._clock() + self.challenge_ttl
        pending = PendingChallenge(options.challenge, purpose, expires_at, **binding)
        yield from _store("add_challenge", pending)
        # Through text and back: plain JSON values (py_webauthn's dict form keeps enum members).
        json_options: dict[str, Any] = json.loads(options_to_json(options))
        return json_options

    # -- registration ---------------------------------------------------------------------------------------

    @flow_method
    def registration_options(
        self,
        *,
        user_name: str,
        user_handle: bytes | None = None,
        display_name: str | None = None,
        attestation: Attestation | None = None,
        timeout_ms: int = 300_000,
    ) -> Flow[dict[str, Any]]:
        """Create options for ``navigator.credentials.create()`` and remember their challenge.

        Args:
            user_name: The user's name (e.g. an e-mail address).
            user_handle: The user's stable id (<= 64 bytes); 32 random bytes for a new user if None.
            display_name: Display name; ``user_name`` if None.
            attestation: ``"none"`` or ``"direct"``; the relying party's default if None.
            timeout_ms: Browser timeout.

        Returns:
            The options as a JSON-ready dict (base64url); ``excludeCredentials`` lists the user's passkeys.

        Raises:
            InvalidEncoding (``FIELD_TOO_LARGE``): If the user handle exceeds 64 bytes, or a name exceeds
                ``MAX_USER_NAME`` (256) bytes of UTF-8.
            InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If the attestation preference is unknown, or a
                name is not Unicode text (a lone surrogate cannot be sent to the browser, nor stored).
            AlreadyExists (``CHALLENGE_ALREADY_ISSUED``): Practically never (a 32-byte random collision).
        """
        handle = user_handle if user_handle is not None else secrets.token_bytes(32)
        if not handle or len(handle) > MAX_USER_HANDLE:
            raise InvalidEncoding(
                f"user handle must be 1..{MAX_USER_HANDLE} bytes", rule=ErrorCode.FIELD_TOO_LARGE
            )
        _check_name("user_name", user_name)
        if display_name is not None:
            _check_name("display_name", display_name)
        conveyance = self._conveyance(attestation or self.attestation)
        challenge = secrets.token_bytes(32)
        existing: list[PasskeyCredential] = yield from _store("credentials_for_user", handle)
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self.rp_name,
            user_name=user_name,
            user_id=handle,
            user_display_name=display_name if display_name is not None else user_name,
            challenge=challenge,
            timeout=timeout_ms,
            attestation=AttestationConveyancePreference(conveyance),
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                require_resident_key=True,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=self._descriptors(existing),
            supported_pub_key_algs=[COSEAlgorithmIdentifier.ECDSA_SHA_256],
        )
        return (yield from self._issue(options, "registration", user_handle=handle, user_name=user_name))

    @flow_method
    def verify_registration(
        self, response: Mapping[str, Any] | str | bytes, *, user_handle: bytes
    ) -> Flow[PasskeyCredential]:
        """Verify the browser's registration response and store the new passkey for the session's user.

        The challenge is looked up by the value inside clientDataJSON. It is consumed and the credential
        stored in one transaction, only after every check passed, and only if the challenge was issued for
        ``user_handle``: a challenge issued for one user and completed by another's session is refused.

        Args:
            response: The RegistrationResponseJSON (object or text).
            user_handle: The user whose session completes the ceremony (the ``user_handle`` the options were
                issued for, kept in the caller's session, never read from the response).

        Returns:
            The stored passkey record.

        Raises:
            AssertionRejected (``USER_HANDLE_MISMATCH``): The challenge was issued for another user. Nothing
                is stored and the challenge is burnt (it reached the wrong session; issue new options).
            ChallengeInvalid: The challenge is unknown, expired, already used or for the other ceremony.
            AlreadyExists (``DUPLICATE_CREDENTIAL``): The credential id is already registered.
            VerificationError / InvalidInputError subclasses: As :func:`verify_registration_response`.
        """
        parsed = RegistrationResponse.from_json(response)
        now = self._clock()
        pending: PendingChallenge = yield from _store(
            "get_challenge", parsed.client_data.challenge, purpose="registration", now=now
        )
        credential = verify_registration_response(
            parsed,
            expected_challenge=pending.challenge,
            rp_id=self.rp_id,
            origins=self.origins,
            user_handle=pending.user_handle or b"",
            user_name=pending.user_name,
            attestation_roots=self.attestation_roots,
        )
        yield from _store(
            "complete_registration", pending.challenge, credential, now=now, user_handle=bytes(user_handle)
        )
        return credential

    # -- authentication -------------------------------------------------------------------------------------

    @flow_method
    def authentication_options(
        self,
        challenge: bytes,
        *,
        user_handle: bytes | None = None,
        credential_ids: Sequence[bytes] | None = None,
        discoverable: bool = False,
        timeout_ms: int = 300_000,
    ) -> Flow[dict[str, Any]]:
        """Create options for ``navigator.credentials.get()`` over a caller-supplied 32-byte hash.

        The challenge is bound to whom it names: with ``user_handle`` only that user's credentials may answer
        it, with ``credential_ids`` only those (checked against the stored owner when it is answered). An
        empty allow-list is issued only for a usernameless login (``discoverable=True``), never by accident.

        Args:
            challenge: Exactly 32 bytes: the transaction or message hash the SSO validator will compare.
            user_handle: Allow the passkeys of this user (all of them, or those of ``credential_ids``).
            credential_ids: Allow these credentials; with ``user_handle``, each must be that user's.
            discoverable: A usernameless login: an empty allow-list, any registered passkey may answer (bind
                the answer to a user with ``verify_authentication(..., user_handle=...)`` if needed).
            timeout_ms: Browser timeout.

        Returns:
            The options as a JSON-ready dict, ``userVerification: "required"``.

        Raises:
            InvalidEncoding (``CHALLENGE_LENGTH``): If ``challenge`` is not 32 bytes.
            NotFound (``CREDENTIAL_NOT_FOUND``): If a given credential id is not registered, or the allow-list
                would be empty without ``discoverable`` (no user and no credential given, or a user without
                passkeys).
            AssertionRejected (``CREDENTIAL_NOT_ALLOWED``): If a credential of ``credential_ids`` is not
                ``user_handle``'s.
            InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If ``discoverable`` is combined with
                ``user_handle`` or ``credential_ids``.
            AlreadyExists (``CHALLENGE_ALREADY_ISSUED``): If this hash was already issued (a signing request
                is answered once).
        """
        challenge = bytes(challenge)
        if len(challenge) != 32:
            raise InvalidEncoding(
                f"a signing challenge must be a 32-byte hash, got {len(challenge)} bytes",
                rule=ErrorCode.CHALLENGE_LENGTH,
            )
        if discoverable and (user_handle is not None or credential_ids is not None):
            raise InvalidWebAuthnData(
                "a discoverable (usernameless) login names no user_handle and no credential_ids",
                rule=ErrorCode.INVALID_CREDENTIAL_JSON,
            )
        allowed = yield from self._allowed(user_handle, credential_ids)
        if not allowed and not discoverable:
            raise NotFound(
                "no passkey to allow: the user has none, or no user_handle / credential_ids was given "
                "(pass discoverable=True for a usernameless login)",
                rule=ErrorCode.CREDENTIAL_NOT_FOUND,
            )
        options = generate_authentication_options(
            rp_id=self.rp_id,
            challenge=challenge,
            timeout=timeout_ms,
            allow_credentials=self._descriptors(allowed),
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return (
            yield from self._issue(
                options,
                "authentication",
                user_handle=None if user_handle is None else bytes(user_handle),
                credential_ids=tuple(dict.fromkeys(c.credential_id for c in allowed)),
                discoverable=discoverable,
            )
        )

    @flow_method
    def verify_authentication(
        self,
        response: Assertion | Mapping[str, Any] | str | bytes,
        *,
        expected_challenge: bytes | None = None,
        user_handle: bytes | None = None,
    ) -> Flow[AuthenticationResult]:
        """Verify an assertion against the stored passkey, consume its challenge and record the counter.

        The binding of the challenge (its user, its allow-list), ``user_handle`` and the counter are checked
        against the stored credential in the transaction that consumes the challenge, so two processes
        verifying assertions of one credential at once never both pass a stale counter.

        Args:
            response: The assertion or AuthenticationResponseJSON.
            expected_challenge: If given, the assertion must answer exactly this challenge (e.g. the tx hash
                the caller is about to submit).
            user_handle: If given, the credential's stored owner must be this user (the session's).

        Returns:
            The verified result.

        Raises:
            AssertionRejected (``CHALLENGE_MISMATCH``): The assertion answers another challenge than
                ``expected_challenge``.
            ChallengeInvalid: The challenge is unknown, expired, already used or for the other ceremony.
            NotFound (``CREDENTIAL_NOT_FOUND``): The credential is not registered.
            AssertionRejected (``CREDENTIAL_NOT_ALLOWED``): The challenge was issued for another user or other
                credentials.
            AssertionRejected (``USER_HANDLE_MISMATCH``): The credential is not ``user_handle``'s (or the
                assertion names another user), or the assertion answers a discoverable login without a
                userHandle.
            AssertionRejected (``COUNTER_REGRESSION``): The counter did not move forward, checked again
                against the stored value when the challenge is consumed (a racing or cloned assertion).
            AssertionRejected (``BACKUP_FLAGS_INVALID``, ``SIGNATURE_INVALID``, ...): As
                :func:`verify_assertion`.
        """
        assertion = response if isinstance(response, Assertion) else Assertion.from_json(response)
        challenge = (
            assertion.client_data.challenge if expected_challenge is None else bytes(expected_challenge)
        )
        now = self._clock()
        credential: PasskeyCredential = yield from _store("get_credential", assertion.credential_id)
        new_count = verify_assertion(
            assertion,
            credential,
            expected_challenge=challenge,
            rp_id=self.rp_id,
            origins=self.origins,
            require_registered_origin=self.require_registered_origin,
        )
        if assertion.user_handle is None:
            # WebAuthn L3 7.2 step 6: a usernameless login identifies its user by the userHandle: it must be
            # there (the discoverable mark never changes: reading it before the transaction is safe).
            pending: PendingChallenge = yield from _store(
                "get_challenge", challenge, purpose="authentication", now=now
            )
            if pending.discoverable:
                raise AssertionRejected(
                    "a usernameless (discoverable) login's assertion must carry its userHandle",
                    rule=ErrorCode.USER_HANDLE_MISMATCH,
                )
        backup_state = assertion.authenticator_data.backup_state
        yield from _store(
            "complete_authentication",
            challenge,
            credential.credential_id,
            new_count,
            backup_state=backup_state,
            now=now,
            user_handle=None if user_handle is None else bytes(user_handle),
        )
        updated = replace(credential, sign_count=new_count, backup_state=backup_state)
        return AuthenticationResult(credential=updated, assertion=assertion, challenge=challenge)


class RelyingParty(_RelyingPartyMethods[PasskeyStore], SyncShell):
    """A WebAuthn relying party whose defaults are what the SSO passkey validator accepts.

    ES256 only, resident keys required, user verification required, attestation ``none`` unless asked,
    challenges random (registration) or the caller's 32-byte hash (signing), stored, single-use and expiring.

    Args:
        rp_id: The relying party id (a registrable domain, e.g. ``"example.com"`` or ``"localhost"``).
        rp_name: Human-readable name shown by the browser.
        origins: Allowed origins: web origins (``https://app.example.com``) and Android app origins
            (``android:apk-key-hash:...``). Kept as exact strings: the SSO validator keys passkeys by origin.
            A web origin must be written as the browser sends it (``https://host[:port]``, lower case, no
            default port, nothing after the port; ``http`` only on ``localhost``) for a host that is
            ``rp_id`` or a subdomain of it, else no ceremony could ever match it.
        store: Where credentials and challenges live (e.g. :class:`SQLiteStore`).
        challenge_ttl: Seconds a challenge stays valid (10 minutes by default).
        attestation: Default attestation conveyance, ``"none"`` or ``"direct"``; None means ``"direct"``
            with ``attestation_roots`` and ``"none"`` without.
        attestation_roots: Trust policy: attestation format (``"packed"``, ...) to PEM root certificates.
            When given, a registration is accepted only if its attestation certificate chains to one of
            the roots of its format (see :func:`verify_registration_response`).
        clock: Time source (tests pass a fake one).
        require_registered_origin: Refuse assertions whose origin differs from the one the passkey was
            registered with (the SSO validator looks the key up by that exact string).

    Raises:
        ConfigurationError (``RELYING_PARTY_ORIGIN``): If no origin is given, ``rp_id`` is not a lower-case
            domain, or a web origin is not as described above (the message names the browser's form).
        InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If ``challenge_ttl`` is not a positive finite
            number, the attestation preference is unknown, or it is ``"none"`` with ``attestation_roots``.
        InvalidKey (``INVALID_TRUST_ROOT``): If a root in ``attestation_roots`` is not a PEM X.509
            certificate.
    """

    def answer(self, step: Any) -> Any:
        """Run one store call of a ceremony on the store (one transaction) and return its result.

        Raises:
            SsoSignerError: What the store raised (thrown into the ceremony at its step).
        """
        call: _StoreCall = step
        return getattr(self.store, call.name)(*call.args, **call.kwargs)


class AsyncRelyingParty(_RelyingPartyMethods[AsyncPasskeyStore], AsyncShell):
    """:class:`RelyingParty` for asyncio, on an :class:`AsyncPasskeyStore`: the same arguments, checks and
    errors; each ceremony method is a coroutine (``await rp.verify_authentication(...)``).

    The ceremonies are the same code as :class:`RelyingParty`'s; only the store calls are awaited, so the
    event loop is free while the database works (:class:`AsyncPostgresStore`) or a worker thread does
    (:class:`AsyncSQLiteStore`). The store stays the caller's to close.
    """

    async def answer(self, step: Any) -> Any:
        """Await one store call of a ceremony on the async store and return its result.

        Raises:
            SsoSignerError: What the store raised (thrown into the ceremony at its step).
        """
        call: _StoreCall = step
        return await getattr(self.store, call.name)(*call.args, **call.kwargs)
