"""Preflight: apply the on-chain WebAuthn validator's rules off-chain and name the first one that fails.

Two rule sets, each in the order the contract evaluates them:

* ``era`` — the Era ``WebAuthValidator.webAuthVerify`` (``sso-era.md`` §1.3): every failure is an early exit,
  most of them ``return false`` (the transaction's validation fails), a few ``revert``.
* ``erc4337`` — the ERC-4337 ``WebAuthnValidator.webAuthVerify`` (``sso-4337.md`` §3.1): flags, type and
  crossOrigin *revert*; the challenge, the key lookup and the P-256/low-s check are evaluated without early
  exit and only make the result ``false``. A revert therefore wins over an earlier "false" rule, as on-chain.

Each rule raises :class:`~sso_signer.exceptions.AssertionRejected` with its stable ``rule`` (an
:class:`~sso_signer.exceptions.ErrorCode`), the on-chain ``outcome`` for the chosen validator and the
validator name.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, Union

from sso_signer._json import JsonLimits, parse_json
from sso_signer.exceptions import (
    AssertionRejected,
    ErrorCode,
    InvalidEncoding,
    InvalidInputError,
    InvalidWebAuthnData,
    MalformedSignature,
    Outcome,
)
from sso_signer.sso._signature import EraCustomSignature, FatSignature
from sso_signer.webauthn import P256PublicKey
from sso_signer.webauthn._p256 import EcdsaSignature

Validator = Literal["era", "erc4337"]
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_N = P256_N // 2
_UP_UV = 0x05
_B64 = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")

PublicKeyLike = Union["P256PublicKey", tuple[int, int]]
KeyMap = Mapping[tuple[str, bytes], PublicKeyLike]


# Each rule's on-chain outcome: (Era WebAuthValidator, ERC-4337 WebAuthnValidator). The rule order is the
# code order of preflight(): Era as sso-era.md §1.3 (WebAuthValidator.sol:151-210); ERC-4337 as sso-4337.md
# §3.1 (WebAuthnValidator.sol:186-228), whose r/s range and low-s checks are in solady's P256, i.e. last.
_OUTCOMES: dict[ErrorCode, tuple[Outcome, Outcome]] = {
    ErrorCode.ABI_DECODE: ("revert", "revert"),
    ErrorCode.RS_RANGE: ("return false", "return false"),
    ErrorCode.LOW_S: ("return false", "return false"),
    ErrorCode.AUTH_DATA_LENGTH: ("revert", "revert"),
    ErrorCode.FLAGS_UP_UV: ("return false", "revert"),
    ErrorCode.CLIENT_DATA_JSON: ("revert", "revert"),
    ErrorCode.CHALLENGE_PRESENT: ("revert", "revert"),
    ErrorCode.CHALLENGE_HASH: ("return false", "return false"),
    ErrorCode.CLIENT_DATA_TYPE: ("return false", "revert"),
    ErrorCode.KEY_LOOKUP: ("return false", "return false"),
    ErrorCode.CROSS_ORIGIN: ("return false", "revert"),
    ErrorCode.SIGNATURE_INVALID: ("return false", "return false"),
}
_GENERATION: dict[str, int] = {"era": 0, "erc4337": 1}


@dataclass(frozen=True, slots=True)
class PreflightResult:
    """What a passing preflight established.

    Attributes:
        validator: ``"era"`` or ``"erc4337"``.
        origin: The clientDataJSON origin that selected the key.
        credential_id: The credential id of the fat signature.
        public_key: The key the signature verified against.
        message: ``sha256(authenticatorData ‖ sha256(clientDataJSON))``, the digest handed to P-256.
    """

    validator: Validator
    origin: str
    credential_id: bytes
    public_key: P256PublicKey
    message: bytes


def decode_challenge(text: str) -> bytes:
    """Decode a clientDataJSON challenge the way the validators do and require 32 bytes.

    The validators' base64 decoder accepts the standard and the URL-safe alphabet, padded or not.

    Args:
        text: The ``challenge`` string of clientDataJSON.

    Returns:
        The 32 decoded bytes (the signed hash, if the assertion is for it).

    Raises:
        InvalidEncoding (``CHALLENGE_ENCODING``): If ``text`` is not base64/base64url text.
        InvalidEncoding (``CHALLENGE_LENGTH``): If it does not decode to exactly 32 bytes.
    """
    if not isinstance(text, str) or not _B64.match(text):
        raise InvalidEncoding("challenge: not base64/base64url text", rule=ErrorCode.CHALLENGE_ENCODING)
    body = text.rstrip("=").replace("-", "+").replace("_", "/")
    if len(body) % 4 == 1:
        raise InvalidEncoding(
            f"challenge: impossible base64 length {len(body)}", rule=ErrorCode.CHALLENGE_ENCODING
        )
    try:
        decoded = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidEncoding(f"challenge: not base64 ({exc})", rule=ErrorCode.CHALLENGE_ENCODING) from exc
    if len(decoded) != 32:
        raise InvalidEncoding(
            f"challenge: decodes to {len(decoded)} bytes, the signed hash has 32",
            rule=ErrorCode.CHALLENGE_LENGTH,
        )
    return decoded


# The on-chain parser has no size or depth limit of its own (gas bounds it); these only keep the preflight
# from crashing on hostile bytes. A clientDataJSON beyond them is reported as unparsable, although a chain
# might still parse it: no browser writes one.
_CLIENT_DATA_LIMITS = JsonLimits(max_bytes=1024 * 1024, max_depth=64, max_int_digits=4300)


def parse_client_data_json(data: bytes) -> dict[str, Any]:
    """Parse clientDataJSON bytes as strict JSON holding an object (duplicate keys: last wins).

    Args:
        data: The exact clientDataJSON bytes.

    Returns:
        The parsed object.

    Raises:
        InvalidWebAuthnData (``CLIENT_DATA_NOT_JSON``): If the bytes are not UTF-8 JSON, the top level is not
            an object, or the text is larger than 1 MiB, nests deeper than 64 levels or holds an integer of
            more than 4300 digits.
    """
    parsed = parse_json(
        bytes(data),
        limits=_CLIENT_DATA_LIMITS,
        error=functools.partial(InvalidWebAuthnData, rule=ErrorCode.CLIENT_DATA_NOT_JSON),
        what="clientDataJSON",
    )
    if not isinstance(parsed, dict):
        raise InvalidWebAuthnData(
            "clientDataJSON: top level is not an object", rule=ErrorCode.CLIENT_DATA_NOT_JSON
        )
    return parsed


# The members the validators read. The on-chain clientDataJSON reader refuses a top-level object naming one of
# them twice, or naming one with escapes (`"\u0074ype"`): the official validators look members up by their
# raw name, so for them that member is not `type`, and what they refuse ours must refuse too.
_READ_MEMBERS = frozenset({"type", "challenge", "origin", "crossOrigin"})

# Tokens of JSON text already known to be valid: a string, a structural character, or a run of anything else
# (whitespace, numbers, literals).
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]|[^"\[\]{},:]+', re.DOTALL)
_JSON_WS = " \t\n\r"


class _Members(dict[str, Any]):
    """A parsed JSON object that remembers which member names it repeated."""

    __slots__ = ("repeated",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        # Linear: a hostile object may have many members.
        self.repeated = {name for name, count in Counter(name for name, _ in pairs).items() if count > 1}


@dataclass(frozen=True, slots=True)
class _ClientData:
    """clientDataJSON as the validators see it: the parsed top-level object, each read member's raw text."""

    members: dict[str, Any]
    raw: dict[str, str]


def _top_level_members(text: str) -> list[tuple[str, str]]:
    """The (raw name, raw value) text of each member of the top-level object of valid JSON ``text``, in order.

    Iterative (no recursion), linear in the text.
    """
    members: list[tuple[str, str]] = []
    depth = 0
    name: str | None = None
    value_start = 0
    for match in _JSON_TOKEN.finditer(text):
        piece = match.group()
        if depth == 1:
            if piece in (",", "}") and name is not None:
                members.append((name, text[value_start : match.start()].strip(_JSON_WS)))
                name = None
            elif name is None and piece.startswith('"'):
                name = piece
                continue
            elif piece == ":":
                # At this depth a colon only ever follows a member name.
                value_start = match.end()
                continue
        if piece in ("{", "["):
            depth += 1
        elif piece in ("}", "]"):
            depth -= 1
            if depth == 0:
                break
    return members


def _parse_like_solady(data: bytes) -> _ClientData:
    # The validators parse any JSON value; a non-object top level simply has no "challenge" (which reverts
    # later), so it is mapped to an empty object here. Bytes that are not UTF-8 only matter inside strings
    # on-chain; surrogateescape keeps them comparable instead of failing the whole parse.
    text = bytes(data).decode("utf-8", "surrogateescape")
    parsed = parse_json(
        text,
        limits=_CLIENT_DATA_LIMITS,
        error=functools.partial(InvalidWebAuthnData, rule=ErrorCode.CLIENT_DATA_NOT_JSON),
        what="clientDataJSON",
        object_pairs_hook=_Members,
    )
    if not isinstance(parsed, _Members):
        return _ClientData({}, {})
    raw: dict[str, str] = {}
    for name, value in _top_level_members(text):
        if "\\" in name:
            unescaped = json.loads(name)
            if unescaped in _READ_MEMBERS:
                raise InvalidWebAuthnData(
                    f"clientDataJSON: member name {name} is {unescaped!r} only once unescaped; the official "
                    "validators look members up by their raw name",
                    rule=ErrorCode.CLIENT_DATA_NOT_JSON,
                )
            continue
        raw[name[1:-1]] = value
    repeated = parsed.repeated & _READ_MEMBERS
    if repeated:
        raise InvalidWebAuthnData(
            f"clientDataJSON: member {sorted(repeated)[0]!r} appears more than once",
            rule=ErrorCode.CLIENT_DATA_NOT_JSON,
        )
    return _ClientData(parsed, {name: raw[name] for name in _READ_MEMBERS if name in raw})


_SIMPLE_ESCAPES = {ord(k): ord(v) for k, v in zip('"\\/bfnrt', '"\\/\b\f\n\r\t', strict=True)}


def _solady_string(raw: str) -> bytes | None:
    """The bytes solady's ``decodeString`` makes of a JSON string's raw text (quotes included).

    It differs from JSON on surrogate escapes: a high surrogate takes the next ``\\uXXXX`` as its pair,
    whatever it is, and reverts when none follows; a lone low surrogate becomes its 3-byte UTF-8-like form.
    Returns None where it reverts.
    """
    text = raw.encode("utf-8", "surrogateescape")
    out = bytearray()
    i, end = 1, len(text) - 1
    while i < end:
        c = text[i]
        if c != 0x5C:  # not a backslash
            out.append(c)
            i += 1
            continue
        if text[i + 1] != 0x75:  # not \u; the text is valid JSON, so one of \" \\ \/ \b \f \n \r \t
            out.append(_SIMPLE_ESCAPES[text[i + 1]])
            i += 2
            continue
        code = int(text[i + 2 : i + 6], 16)
        i += 6
        if 0xD800 <= code <= 0xDBFF:
            if text[i : i + 2] != b"\\u":
                return None
            code = 0x10000 + ((code & 0x3FF) << 10) + (int(text[i + 2 : i + 6], 16) & 0x3FF)
            i += 6
        out += chr(code).encode("utf-8", "surrogatepass")
    return bytes(out)


def _decoded_member(run: _Run, client_data: _ClientData, name: str) -> bytes:
    """A string member as the validators decode it; reverts (ClientDataUnparsable) where solady does."""
    decoded = _solady_string(client_data.raw[name])
    if decoded is None:
        run.revert(
            ErrorCode.CLIENT_DATA_JSON,
            f"clientDataJSON {name}: a high surrogate escape that no \\u escape follows does not decode",
        )
    return decoded


def _has_key_fields(value: object) -> bool:
    return all(hasattr(value, name) for name in ("credential_id", "public_key", "origin"))


def _key_map(keys: object) -> dict[tuple[str, bytes], PublicKeyLike]:
    def refuse(message: str) -> InvalidInputError:
        return InvalidInputError(f"keys: {message}", rule=ErrorCode.NO_KEY_FOR_PREFLIGHT)

    if not isinstance(keys, Mapping) and _has_key_fields(keys):
        keys = (keys,)  # one credential
    result: dict[tuple[str, bytes], PublicKeyLike] = {}
    if isinstance(keys, Mapping):
        for key, public_key in keys.items():
            origin, credential_id = key if isinstance(key, tuple) and len(key) == 2 else (None, None)
            if not isinstance(origin, str) or not isinstance(credential_id, bytes | bytearray):
                raise refuse("mapping keys must be (origin: str, credential_id: bytes)")
            result[(origin, bytes(credential_id))] = public_key
    elif isinstance(keys, Iterable) and not isinstance(keys, str | bytes):
        for item in keys:
            if not _has_key_fields(item):
                raise refuse("every item must have credential_id, public_key and origin")
            result[(str(item.origin), bytes(item.credential_id))] = item.public_key
    else:
        raise refuse("expected a mapping (origin, credential_id) -> public key, a credential, or credentials")
    if not result:
        raise refuse("no key given")
    return result


def _verify(key: PublicKeyLike | None, fat: FatSignature, signed: bytes) -> P256PublicKey | None:
    if key is None:
        return None
    try:
        if not isinstance(key, P256PublicKey):
            x, y = key
            key = P256PublicKey(int(x), int(y))
        signature = EcdsaSignature(fat.r, fat.s)
    except (TypeError, ValueError):  # InvalidInputError included
        # Not a point (the precompile returns empty data) or r/s out of range: the signature is invalid.
        return None
    return key if key.verify(signature, signed) else None


def _coerce_fat(signature: FatSignature | EraCustomSignature | bytes) -> FatSignature:
    if isinstance(signature, FatSignature):
        return signature
    # Lenient like Solidity's abi.decode: trailing bytes and unusual offsets pass on-chain, so here too.
    if isinstance(signature, EraCustomSignature):
        return FatSignature.decode(signature.fat, strict=False)
    return FatSignature.decode(signature, strict=False)


class _Run:
    """One preflight run: raises the right error for the validator, remembering deferred "false" results."""

    def __init__(self, validator: Validator) -> None:
        self.validator: Validator = validator
        self.generation = _GENERATION[validator]
        self.deferred: AssertionRejected | None = None

    def fail(self, rule: ErrorCode, message: str) -> None:
        outcome = _OUTCOMES[rule][self.generation]
        if outcome == "revert":
            self.revert(rule, message)
        # The ERC-4337 validator evaluates its "false" rules without returning early; Era exits at once.
        exc = AssertionRejected(message, outcome=outcome, validator=self.validator, rule=rule)
        if self.validator == "era":
            raise exc
        if self.deferred is None:
            self.deferred = exc

    def revert(self, rule: ErrorCode, message: str) -> NoReturn:
        raise AssertionRejected(message, outcome="revert", validator=self.validator, rule=rule)


def _check_range(run: _Run, fat: FatSignature) -> None:
    # Era: `r == 0 || r > n || s == 0 || s > n/2` (r = n passes this bound; the precompile rejects it later).
    # ERC-4337: the precompile requires 0 < r, s < n and solady adds s <= n/2.
    r_bad = fat.r == 0 or (fat.r > P256_N if run.validator == "era" else fat.r >= P256_N)
    if r_bad or fat.s == 0 or fat.s >= P256_N:
        run.fail(ErrorCode.RS_RANGE, f"r/s out of range (r={fat.r:#x}, s={fat.s:#x})")
    elif fat.s > _HALF_N:
        run.fail(ErrorCode.LOW_S, "s > n/2: normalise to n - s before sending")


def preflight(
    validator: Validator,
    signed_hash: bytes,
    signature: FatSignature | EraCustomSignature | bytes,
    keys: KeyMap | object,
) -> PreflightResult:
    """Check a passkey signature against one validator's rules, off-chain, in the contract's order.

    Args:
        validator: ``"era"`` (WebAuthValidator) or ``"erc4337"`` (WebAuthnValidator).
        signed_hash: The 32-byte hash the validator will compare with the challenge (the EIP-712 transaction
            hash, the userOpHash, or the ERC-7739 digest).
        signature: The fat signature (object, encoding, or a decoded Era custom signature).
        keys: The registered key(s): a mapping ``(origin, credential_id) -> P256PublicKey | (x, y)``, one
            credential (anything with ``credential_id``, ``public_key``, ``origin``) or several.

    Returns:
        A :class:`PreflightResult` when every rule passes.

    Raises:
        AssertionRejected: The subclass for the rule that decides the on-chain outcome, with ``rule``,
            ``outcome`` and ``validator`` set.
        InvalidInputError (``NO_KEY_FOR_PREFLIGHT``): If ``keys`` holds no usable key.
        InvalidInputError (``UNKNOWN_VALIDATOR_KIND``): If ``validator`` is not ``"era"`` or ``"erc4337"``.
        InvalidInputError: If ``signed_hash`` is not 32 bytes.
    """
    if validator not in _GENERATION:
        raise InvalidInputError(
            f"validator must be 'era' or 'erc4337', got {validator!r}", rule=ErrorCode.UNKNOWN_VALIDATOR_KIND
        )
    if not isinstance(signed_hash, bytes | bytearray) or len(signed_hash) != 32:
        raise InvalidEncoding("signed_hash: expected 32 bytes", rule=ErrorCode.CHALLENGE_LENGTH)
    key_map = _key_map(keys)
    run = _Run(validator)

    try:
        fat = _coerce_fat(signature)
    except MalformedSignature as exc:
        run.revert(ErrorCode.ABI_DECODE, f"fat signature does not abi-decode: {exc}")

    if validator == "era":
        _check_range(run, fat)

    auth = fat.authenticator_data
    if len(auth) < 33:
        run.fail(
            ErrorCode.AUTH_DATA_LENGTH,
            f"authenticatorData has {len(auth)} bytes; the flags byte is at index 32",
        )
    if auth[32] & _UP_UV != _UP_UV:
        run.fail(ErrorCode.FLAGS_UP_UV, f"flags {auth[32]:#04x} lack UP (0x01) and/or UV (0x04)")

    try:
        client_data = _parse_like_solady(fat.client_data_json)
    except InvalidWebAuthnData as exc:
        run.revert(ErrorCode.CLIENT_DATA_JSON, str(exc))

    members = client_data.members
    challenge = members.get("challenge")
    if not isinstance(challenge, str):
        run.fail(ErrorCode.CHALLENGE_PRESENT, "clientDataJSON has no challenge string")
    else:
        _decoded_member(run, client_data, "challenge")
        try:
            challenge_ok = decode_challenge(challenge) == bytes(signed_hash)
        except InvalidEncoding:
            challenge_ok = False
        if not challenge_ok:
            run.fail(ErrorCode.CHALLENGE_HASH, "challenge does not decode to the signed hash")

    client_type = members.get("type")
    if not isinstance(client_type, str):
        # decodeString() of a missing or non-string member reverts in both validators.
        run.revert(ErrorCode.CLIENT_DATA_TYPE, f"type is {client_type!r}, not a string")
    else:
        _decoded_member(run, client_data, "type")
        if client_type != "webauthn.get":
            run.fail(ErrorCode.CLIENT_DATA_TYPE, f"type is {client_type!r}, expected 'webauthn.get'")

    origin = members.get("origin")
    key = None
    if not isinstance(origin, str):
        run.revert(ErrorCode.KEY_LOOKUP, f"origin is {origin!r}, not a string")
    else:
        # The key is looked up by the bytes solady decodes (they differ from JSON's on surrogate escapes);
        # bytes that are not UTF-8 name no registered origin.
        try:
            origin = _decoded_member(run, client_data, "origin").decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            key = key_map.get((origin, fat.credential_id))
    if key is None:
        run.fail(
            ErrorCode.KEY_LOOKUP, f"no key for origin {origin!r} and credential {fat.credential_id.hex()}"
        )

    if "crossOrigin" in members and members["crossOrigin"] is not False:
        run.fail(ErrorCode.CROSS_ORIGIN, f"crossOrigin is {members['crossOrigin']!r}; only false/absent pass")

    if validator == "erc4337":
        _check_range(run, fat)

    signed = auth + hashlib.sha256(fat.client_data_json).digest()
    verified = _verify(key, fat, signed)
    if verified is None and key is not None:
        run.fail(
            ErrorCode.SIGNATURE_INVALID,
            "P-256 signature does not verify over authData ‖ sha256(clientDataJSON)",
        )

    if run.deferred is not None:
        raise run.deferred
    # Every failing path above raised; these narrow the types.
    assert verified is not None
    assert isinstance(origin, str)
    return PreflightResult(validator, origin, fat.credential_id, verified, hashlib.sha256(signed).digest())
