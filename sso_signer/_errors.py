"""Root of the sso-signer exception tree.

Every error the SDK raises derives from :class:`SsoSignerError`. Each room of the package (``webauthn``,
``zksync``, ``erc4337``, ``rpc``, ``sso``, ``node``) defines its concrete errors in its own ``_errors``
module, derived from one of the categories below; :mod:`sso_signer.exceptions` re-exports the whole tree
and documents it.

Concrete classes are named after the check that failed (``OriginMismatch``, ``HighSSignature``), so an
``except`` clause, a log line or an HTTP error mapping can name the cause without parsing messages.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "InvalidInputError",
    "RemoteError",
    "SsoSignerError",
    "StateError",
    "VerificationError",
]


class SsoSignerError(Exception):
    """Base class of every error raised by sso-signer."""


class InvalidInputError(SsoSignerError, ValueError):
    """Input bytes, text or values are malformed: they could not be decoded, parsed or are out of range."""


class VerificationError(SsoSignerError):
    """Well-formed input failed a check (a signature, a challenge, an origin, a validator rule)."""


class StateError(SsoSignerError):
    """The operation conflicts with stored or on-chain state (duplicate credential, used challenge, ...)."""


class RemoteError(SsoSignerError):
    """A node, bundler or other remote service failed or answered with an error."""


class ConfigurationError(SsoSignerError):
    """The SDK or a tool it drives is not set up for the request (missing binary, unknown network, ...)."""
