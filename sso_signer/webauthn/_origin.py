"""A relying party's rp id and origins, checked once for the relying party and the CLI's ``passkey create``.

The browser writes ``clientDataJSON.origin`` in one serialised form, and the relying party and the SSO
validators compare it as an exact string: an origin configured in another spelling never matches, and every
ceremony would fail as if attacked. So the configuration is refused instead, naming the browser's form.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from sso_signer.exceptions import ConfigurationError, ErrorCode

__all__ = ["ANDROID_ORIGIN_PREFIX", "check_origin", "check_origins", "check_rp_id"]

#: Android apps (Credential Manager) report this origin, not a web one; it is kept as an exact string.
ANDROID_ORIGIN_PREFIX = "android:apk-key-hash:"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _refused(message: str) -> ConfigurationError:
    return ConfigurationError(message, rule=ErrorCode.RELYING_PARTY_ORIGIN)


def check_rp_id(rp_id: str) -> None:
    """Check that ``rp_id`` is written as a domain (lower case, no scheme, port or path).

    Raises:
        ConfigurationError (``RELYING_PARTY_ORIGIN``): If it is empty or not such a domain.
    """
    if not rp_id or rp_id != rp_id.strip().lower() or "/" in rp_id or ":" in rp_id:
        raise _refused(f"rp id {rp_id!r}: expected a lower-case domain such as localhost or example.org")


def check_origin(rp_id: str, origin: str) -> None:
    """Check that the web ``origin`` is one a browser sends for ``rp_id`` (WebAuthn §5.1.4.1, §13.4.9).

    Args:
        rp_id: The relying party id (already checked by :func:`check_rp_id`).
        origin: ``https://host[:port]`` (``http`` only for ``localhost``), as the browser serialises it.

    Raises:
        ConfigurationError (``RELYING_PARTY_ORIGIN``): If the origin is not ``scheme://host[:port]`` in the
            browser's form (lower case, no default port, no path, query, fragment or userinfo, an ASCII
            host), is ``http`` for a host other than ``localhost``, or its host is not ``rp_id`` nor a
            subdomain of it. The message names the form the browser sends where there is one.
    """
    try:
        parts = urlsplit(origin)
        host = parts.hostname or ""
        port = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise _refused(f"origin {origin!r} is not an origin ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise _refused(f"origin {origin!r}: expected https://host[:port], e.g. https://app.example")
    if not host.isascii():
        raise _refused(f"origin {origin!r}: a browser sends an internationalised host in punycode (xn--...)")
    shown_port = "" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}"
    serialised = f"{scheme}://{f'[{host}]' if ':' in host else host}{shown_port}"
    if origin != serialised:
        raise _refused(
            f"origin {origin!r} is not written as a browser sends it in clientDataJSON "
            f"(scheme://host[:port]: lower case, no default port, nothing after the port); "
            f"the browser sends {serialised!r}"
        )
    if scheme == "http" and host != "localhost" and not host.endswith(".localhost"):
        raise _refused(f"origin {origin!r}: browsers offer passkeys over http only on localhost; use https")
    if host != rp_id and not host.endswith("." + rp_id):
        raise _refused(
            f"rp id {rp_id!r} does not cover origin {origin!r}: the rp id must be the origin's host or a "
            "parent domain of it"
        )


def check_origins(rp_id: str, origins: str | Sequence[str]) -> tuple[str, ...]:
    """Check a relying party's rp id and allowed origins; Android app origins are taken as given.

    Returns:
        The origins as a tuple.

    Raises:
        ConfigurationError (``RELYING_PARTY_ORIGIN``): If there is no origin, or as :func:`check_rp_id` and
            :func:`check_origin`.
    """
    allowed = (origins,) if isinstance(origins, str) else tuple(origins)
    if not allowed:
        raise _refused("a relying party needs at least one allowed origin, e.g. https://app.example")
    check_rp_id(rp_id)
    for origin in allowed:
        if not origin.startswith(ANDROID_ORIGIN_PREFIX):
            check_origin(rp_id, origin)
    return allowed
