"""Bounded JSON parsing for every document that comes from outside the process.

The standard parser recurses once per nesting level in C: with a high recursion limit (py_ecc raises it to
100000 on import) a document nested 100,000 deep overruns the C stack and kills the process before Python can
raise ``RecursionError``. Numbers of thousands of digits raise a bare ``ValueError`` (or, with the digit limit
switched off, cost quadratic time). So each outside document goes through :func:`parse_json`, which checks
the size, the nesting depth (before the C parser runs) and the digits of every integer, and raises the typed
error its caller names.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sso_signer.exceptions import SsoSignerError

__all__ = ["ARTIFACT_LIMITS", "CONFIG_FILE_LIMITS", "JsonLimits", "parse_json", "read_json_file"]


@dataclass(frozen=True, slots=True)
class JsonLimits:
    """Bounds an outside JSON document must stay within.

    Attributes:
        max_bytes: Largest accepted document (bytes, or characters for text).
        max_depth: Deepest accepted nesting of arrays and objects (``[]`` is depth 1).
        max_int_digits: Most digits accepted in one integer (uint256 needs 78).
    """

    max_bytes: int
    max_depth: int
    max_int_digits: int


#: Deployment files and other configuration the SDK writes and reads back: a few addresses and numbers.
CONFIG_FILE_LIMITS = JsonLimits(max_bytes=1024 * 1024, max_depth=32, max_int_digits=32)

#: Compiled contract artifacts (ABI, bytecode, metadata): megabytes of hex, ABI tuples nest a few levels.
ARTIFACT_LIMITS = JsonLimits(max_bytes=64 * 1024 * 1024, max_depth=128, max_int_digits=100)

ErrorFactory = Callable[[str], SsoSignerError]

# Everything but the four brackets and the quote is deleted before the depth scan (C speed).
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
# In the skeleton of brackets and quotes (escapes removed first) a string is a quote pair.
_STRING = re.compile(rb'"[^"]*"')
# Opening brackets become +1 and closing ones -1 as signed bytes: the running sum is the nesting depth.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def _nesting_depth(raw: bytes, limit: int) -> int:
    """The deepest nesting of arrays and objects outside strings, or 0 if it cannot exceed ``limit``.

    Exact for valid JSON; for invalid JSON it is never less than the depth the standard parser reaches
    before it fails (it tokenises strings the same way up to that point), so the check stays safe.
    """
    if len(raw) <= limit:
        return 0
    skeleton = raw.translate(None, _NOT_STRUCTURE)
    if skeleton.count(b"[") + skeleton.count(b"{") <= limit:
        return 0  # the usual case: fewer brackets in all than the limit allows in depth
    if b"\\" in raw:
        # Escapes change where strings end: redo the skeleton without them. Escaped backslashes go first,
        # so that in ``\\"`` the quote still ends the string.
        skeleton = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    if b'"' in skeleton:
        # Two adjacent quotes enclose no structural bracket (an empty-content string, or the end of one
        # string and the start of the next): dropping them is cheap and keeps the pairing of the rest.
        skeleton = skeleton.replace(b'""', b"")
        if b'"' in skeleton:
            skeleton = _STRING.sub(b"", skeleton)
    steps = skeleton.translate(_STEPS, b'"')
    return max(itertools.accumulate(memoryview(steps).cast("b")), default=0)


class _TooManyDigits(Exception):
    """Raised inside the C parser by the integer hook; turned into the caller's typed error outside it."""


class _NotJsonConstant(Exception):
    """``NaN``/``Infinity`` met by the default constant hook."""


def _refuse_constant(name: str) -> Any:
    raise _NotJsonConstant(name)


@functools.lru_cache(maxsize=64)
def _decoder(
    max_int_digits: int,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None,
    parse_constant: Callable[[str], Any] | None,
) -> json.JSONDecoder:
    # One decoder per configuration: building one costs more than parsing a short answer.
    def parse_int(text: str) -> int:
        if len(text) > max_int_digits + (text[0] == "-"):
            raise _TooManyDigits(len(text.lstrip("-")))
        return int(text)

    return json.JSONDecoder(
        parse_int=parse_int,
        parse_constant=parse_constant or _refuse_constant,
        object_pairs_hook=object_pairs_hook,
    )


def parse_json(
    data: str | bytes,
    *,
    limits: JsonLimits,
    error: ErrorFactory,
    what: str,
    too_large: ErrorFactory | None = None,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    parse_constant: Callable[[str], Any] | None = None,
) -> Any:
    """Parse an outside JSON document within ``limits``.

    Bytes must be UTF-8 (RFC 8259 requires it between systems). ``NaN`` and ``Infinity`` are refused unless
    ``parse_constant`` says otherwise. Errors raised by the hooks propagate unchanged.

    Args:
        data: The document, as received.
        limits: The bounds for this kind of document.
        error: Builds the caller's typed error from a message.
        what: Names the document in messages (``"eth_call answer"``, ``"key file metadata"``).
        too_large: Builds the error for an oversized document (default: ``error``).
        object_pairs_hook: As for :func:`json.loads`.
        parse_constant: As for :func:`json.loads`.

    Returns:
        The parsed value.

    Raises:
        SsoSignerError: The subclass ``error`` (or ``too_large``) builds, if the document is too large, nests
            too deeply, holds too long an integer, is not UTF-8 or is not JSON.
    """
    if not isinstance(data, str | bytes | bytearray):
        raise error(f"{what}: expected JSON text, got {type(data).__name__}")
    if len(data) > limits.max_bytes:
        unit = "characters" if isinstance(data, str) else "bytes"
        raise (too_large or error)(f"{what} is {len(data)} {unit} long; the limit is {limits.max_bytes}")
    if isinstance(data, bytes | bytearray):
        raw = bytes(data)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{what} is not UTF-8 (byte {exc.start})") from None
    else:
        text = data
        raw = b""
    depth = _nesting_depth(raw or text.encode("utf-8", "surrogatepass"), limits.max_depth)
    if depth > limits.max_depth:
        raise error(f"{what} nests {depth} levels deep; the limit is {limits.max_depth}")
    try:
        return _decoder(limits.max_int_digits, object_pairs_hook, parse_constant).decode(text)
    except _TooManyDigits as exc:
        limit = limits.max_int_digits
        raise error(f"{what}: a number has {exc.args[0]} digits; the limit is {limit}") from None
    except _NotJsonConstant as exc:
        raise error(f"{what}: {exc.args[0]} is not JSON") from None
    except SsoSignerError:
        raise  # a hook's typed error (many are ValueErrors too) already names the problem
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        # ValueError: Python's own integer digit limit (when set below ours) or a hook's plain error.
        raise error(f"{what} is not acceptable JSON ({type(exc).__name__}: {str(exc)[:120]})") from exc


def read_json_file(
    path: str | os.PathLike[str], *, limits: JsonLimits, error: ErrorFactory, what: str
) -> Any:
    """Read a JSON file and parse it within ``limits``, reading at most one byte past ``limits.max_bytes``.

    A path like /dev/zero or a huge file is refused, not read whole.

    Args:
        path: The file.
        limits: The bounds for this kind of document.
        error: Builds the caller's typed error from a message.
        what: Names the document in messages (``"deployment JSON"``).

    Returns:
        The parsed value.

    Raises:
        SsoSignerError: The subclass ``error`` builds, if the file cannot be read or is not acceptable JSON.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read {what} ({type(exc).__name__}: {exc.strerror or exc})") from exc
    return parse_json(data, limits=limits, error=error, what=what)
