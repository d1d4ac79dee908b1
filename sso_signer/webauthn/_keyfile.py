"""Passkey key files: a PKCS#8 PEM block (optionally passphrase-encrypted) with JSON metadata before it.

RFC 7468 lets explanatory text precede the PEM boundary, so ``openssl pkey -in FILE`` still reads the key.
Files are created with mode 0600 and replaced atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sso_signer._json import JsonLimits, parse_json
from sso_signer.exceptions import AlreadyExists, ErrorCode, InvalidEncoding, InvalidKey, WrongPassphrase

__all__ = ["read_key_file", "write_key_file", "write_private_file"]

_META_PREFIX = "sso-signer-passkey: "
_BEGIN = "-----BEGIN "
_MAX_FILE = 64 * 1024
# The metadata is one flat object of short strings, booleans and a 32-bit counter.
_META_LIMITS = JsonLimits(max_bytes=_MAX_FILE, max_depth=8, max_int_digits=32)
# OpenSSL's PEM password buffer: cryptography refuses longer passphrases with a bare ValueError.
_MAX_PASSPHRASE = 1023


def _passphrase_bytes(passphrase: bytes | str) -> bytes:
    """The passphrase's bytes: a str as UTF-8, surrogate-escaped (os.environ's form of non-UTF-8 bytes),
    so a passphrase read from a variable is the variable's bytes, as the CLI reads it."""
    if not isinstance(passphrase, str):
        return bytes(passphrase)
    try:
        return passphrase.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise InvalidEncoding(
            "the passphrase is not Unicode text (a lone surrogate)", rule=ErrorCode.INVALID_ENCODING
        ) from None


def write_key_file(
    path: str | os.PathLike[str],
    key: ec.EllipticCurvePrivateKey,
    metadata: dict[str, Any],
    *,
    passphrase: bytes | str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``key`` and ``metadata`` to ``path`` with mode 0600.

    Args:
        path: Destination file.
        key: The P-256 private key.
        metadata: JSON-serialisable public data (credential id, rpId, origin, ...). Never the key.
        passphrase: If given, the PEM is encrypted (PKCS#8 with the best available cipher).
        overwrite: Replace an existing file (atomically).

    Returns:
        The path written.

    Raises:
        AlreadyExists (``KEY_FILE_EXISTS``): If the file exists and ``overwrite`` is False.
        InvalidEncoding (``INVALID_ENCODING``): If the passphrase is empty or not Unicode text.
        InvalidEncoding (``FIELD_TOO_LARGE``): If the passphrase exceeds 1023 bytes.
        InvalidKey (``KEY_FILE_NOT_WRITABLE``): If the file cannot be written there (missing directory, no
            permission, disk full); nothing is left at ``path``.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise AlreadyExists(
            f"{target} exists; pass overwrite=True to replace it", rule=ErrorCode.KEY_FILE_EXISTS
        )
    if passphrase is not None:
        secret = _passphrase_bytes(passphrase)
        if not secret:
            raise InvalidEncoding(
                "an empty passphrase encrypts nothing; give none for an unencrypted key file",
                rule=ErrorCode.INVALID_ENCODING,
            )
        if len(secret) > _MAX_PASSPHRASE:
            raise InvalidEncoding(
                f"the passphrase is {len(secret)} bytes; the limit is {_MAX_PASSPHRASE}",
                rule=ErrorCode.FIELD_TOO_LARGE,
            )
        encryption: serialization.KeySerializationEncryption = serialization.BestAvailableEncryption(secret)
    else:
        encryption = serialization.NoEncryption()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    text = (
        _META_PREFIX
        + json.dumps(metadata, sort_keys=True, separators=(",", ":"))
        + "\n"
        + pem.decode("ascii")
    )
    try:
        write_private_file(target, text, overwrite=overwrite)
    except OSError as exc:  # a missing directory, no permission, a full disk, ...
        raise InvalidKey(
            f"cannot write key file {target}: {exc.strerror or type(exc).__name__}",
            rule=ErrorCode.KEY_FILE_NOT_WRITABLE,
        ) from exc
    return target


def write_private_file(target: Path, text: str, *, overwrite: bool) -> None:
    """Write ``text`` (ASCII) whole to ``target`` through a 0600 temporary file in its directory, fsynced,
    then put in place: a failed write leaves the previous file as it was and no partial secret behind.

    Raises:
        AlreadyExists (``KEY_FILE_EXISTS``): If ``overwrite`` is false and ``target`` exists by then.
        OSError: If the file cannot be written there.
    """
    # mkstemp creates the file 0600 from the start: the key is never readable by others, even briefly.
    fd, tmp = tempfile.mkstemp(prefix=".passkey-", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        if overwrite:
            os.replace(tmp, target)
        else:
            # link() fails if the target appeared meanwhile, so two writers cannot clobber each other.
            try:
                os.link(tmp, target)
            except FileExistsError as exc:
                raise AlreadyExists(
                    f"{target} exists; pass overwrite=True to replace it", rule=ErrorCode.KEY_FILE_EXISTS
                ) from exc
            os.unlink(tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def read_key_file(
    path: str | os.PathLike[str], *, passphrase: bytes | str | None = None
) -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    """Read a key file written by :func:`write_key_file`.

    Args:
        path: The key file.
        passphrase: The passphrase if the key is encrypted.

    Returns:
        The private key and the metadata.

    Raises:
        InvalidKey (``INVALID_KEY_FILE``): If the file is not a key file of this SDK or the key is not P-256.
        WrongPassphrase: If the passphrase is wrong, missing for an encrypted key, or given for a plain one.
    """
    target = Path(path)
    try:
        # Read at most one byte past the bound (stat() says 0 for a device such as /dev/zero).
        with target.open("rb") as handle:
            raw = handle.read(_MAX_FILE + 1)
        if len(raw) > _MAX_FILE:
            raise InvalidKey(f"{target} is too large to be a key file", rule=ErrorCode.INVALID_KEY_FILE)
        text = raw.decode("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidKey(
            f"cannot read key file {target}: {type(exc).__name__}", rule=ErrorCode.INVALID_KEY_FILE
        ) from exc
    # The metadata is the first line (JSON escapes every newline), the PEM block all that follows: a value
    # in the metadata (a user name from the relying party) may itself contain "-----BEGIN ".
    head, newline, body = text.partition("\n")
    if not newline or not head.startswith(_META_PREFIX) or not body.startswith(_BEGIN):
        raise InvalidKey(
            f"{target} is not an sso-signer passkey file (metadata line or PEM block missing)",
            rule=ErrorCode.INVALID_KEY_FILE,
        )
    metadata = parse_json(
        head[len(_META_PREFIX) :],
        limits=_META_LIMITS,
        error=lambda message: InvalidKey(f"{target}: {message}", rule=ErrorCode.INVALID_KEY_FILE),
        what="metadata",
    )
    if not isinstance(metadata, dict):
        raise InvalidKey(f"{target}: metadata must be a JSON object", rule=ErrorCode.INVALID_KEY_FILE)
    pem = body.encode("ascii")
    encrypted = pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    if encrypted and passphrase is None:
        raise WrongPassphrase(f"{target} is encrypted; a passphrase is required")
    if not encrypted and passphrase is not None:
        raise WrongPassphrase(f"{target} is not encrypted but a passphrase was given")
    try:
        secret = None if passphrase is None else _passphrase_bytes(passphrase)
    except InvalidEncoding:
        raise WrongPassphrase(f"{target}: the passphrase is not Unicode text, so not this file's") from None
    if secret is not None and not 0 < len(secret) <= _MAX_PASSPHRASE:
        raise WrongPassphrase(f"{target}: wrong passphrase or corrupt key")  # no file is written with it
    try:
        key = serialization.load_pem_private_key(pem, password=secret)
    except (ValueError, TypeError) as exc:
        # A wrong passphrase and a corrupt body raise alike; only an encrypted key can be the former.
        if encrypted:
            raise WrongPassphrase(f"{target}: wrong passphrase or corrupt key") from None
        raise InvalidKey(
            f"{target}: PEM body is not a PKCS#8 private key", rule=ErrorCode.INVALID_KEY_FILE
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidKey(f"{target}: key is not P-256", rule=ErrorCode.INVALID_KEY_FILE)
    return key, metadata
