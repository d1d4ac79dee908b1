"""The relying-party ceremonies run with a headless passkey, exactly as a browser round trip would go.

Registration: the relying party issues options, the passkey answers them like
``navigator.credentials.create``, the relying party verifies the response with py_webauthn and stores the
credential.

Signing goes through the SDK's :class:`~sso_signer.accounts.CeremonyAssertionProvider`: the hash to sign is
issued as the user's single-use challenge, and the relying party verifies the answer before the signer uses
it. :func:`headless_browser` is its browser round trip here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sso_signer._codec import b64url_decode

if TYPE_CHECKING:
    from sso_signer.webauthn import HeadlessPasskey, PasskeyCredential, RelyingParty

__all__ = ["headless_browser", "register_passkey"]


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


def headless_browser(passkey: HeadlessPasskey) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The browser round trip of a :class:`~sso_signer.accounts.CeremonyAssertionProvider`, answered by a
    headless passkey the way ``navigator.credentials.get`` would answer the options (user verified)."""

    def answer(options: dict[str, Any]) -> dict[str, Any]:
        # The authenticator only sees the options, like a browser would hand them over.
        challenge = b64url_decode(str(options["challenge"]), field="options.challenge")
        return passkey.sign(challenge, user_verified=True).to_json()

    return answer
