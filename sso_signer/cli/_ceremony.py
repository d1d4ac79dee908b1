"""The relying-party ceremonies run with a headless passkey, exactly as a browser round trip would go.

Registration: the relying party issues options, the passkey answers them like
``navigator.credentials.create``, the relying party verifies the response with py_webauthn and stores the
credential.

Signing: the hash to sign (a transaction hash, a userOpHash, an ERC-7739 digest) becomes the challenge of
authentication options; the passkey answers them like ``navigator.credentials.get``; the relying party
verifies the assertion (signature, origin, rpId, UV, counter, single-use challenge) before the signer uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sso_signer._codec import b64url_decode

if TYPE_CHECKING:
    from sso_signer.accounts import AssertionRequest
    from sso_signer.webauthn import Assertion, HeadlessPasskey, PasskeyCredential, RelyingParty

__all__ = ["RelyingPartyAssertionProvider", "register_passkey"]


def register_passkey(
    rp: RelyingParty, passkey: HeadlessPasskey, *, user_name: str, user_handle: bytes | None = None
) -> tuple[PasskeyCredential, dict[str, Any]]:
    """Run the registration ceremony: options → the passkey's answer → verified and stored by ``rp``.

    Args:
        rp: The relying party (its store receives the credential).
        passkey: The headless passkey that answers like a browser.
        user_name: The user name in the options.
        user_handle: The user id; the passkey's own user handle by default.

    Returns:
        ``(stored credential, the registration options that were issued)``.

    Raises:
        The relying party's verification errors (origin, rpId, UV, attestation, duplicate credential...).
    """
    handle = user_handle if user_handle is not None else (passkey.user_handle or None)
    options = rp.registration_options(user_name=user_name, user_handle=handle)
    response = passkey.register_from_options(options)
    # The user this ceremony was issued for, as a session would remember it.
    issued_for = b64url_decode(str(options["user"]["id"]), field="options.user.id")
    return rp.verify_registration(response, user_handle=issued_for), options


class RelyingPartyAssertionProvider:
    """An ``sso_signer.sso.AssertionProvider`` that runs the full authentication ceremony for each signature.

    Args:
        rp: The relying party holding the registered credential.
        passkey: The headless passkey answering the options.

    Attributes:
        verified: How many assertions the relying party has verified through this provider.
    """

    def __init__(self, rp: RelyingParty, passkey: HeadlessPasskey) -> None:
        self.rp = rp
        self.passkey = passkey
        self.verified = 0

    def get_assertion(self, request: AssertionRequest) -> Assertion:
        """Issue options over ``request.challenge``, answer them with the passkey, verify, return it.

        Raises:
            The relying party's errors: ``AlreadyExists`` (``ErrorCode.CHALLENGE_ALREADY_ISSUED``) (a hash is
            signed once),
            ``NotFound`` (``ErrorCode.CREDENTIAL_NOT_FOUND``), ``AssertionRejected``
            (``ErrorCode.SIGNATURE_INVALID``), ``AssertionRejected`` (``ErrorCode.ORIGIN_MISMATCH``), ...
        """
        options = self.rp.authentication_options(request.challenge, credential_ids=[request.credential_id])
        # The authenticator only sees the options, like a browser would hand them over.
        challenge = b64url_decode(str(options["challenge"]), field="options.challenge")
        assertion = self.passkey.sign(challenge, user_verified=True)
        result = self.rp.verify_authentication(assertion.to_json(), expected_challenge=request.challenge)
        self.verified += 1
        return result.assertion
