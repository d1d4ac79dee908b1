"""Errors of the command line itself (the rooms' errors pass through unchanged)."""

from __future__ import annotations

from sso_signer._errors import RemoteError, VerificationError

__all__ = ["NodeExited", "SignatureNotValid"]


class SignatureNotValid(VerificationError):
    """The account's ``isValidSignature`` did not return the ERC-1271 magic value for the signature."""


class NodeExited(RemoteError):
    """The node started by ``node start`` stopped without being asked to."""
