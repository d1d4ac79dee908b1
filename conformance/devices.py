"""Real-authenticator fixtures from the tests of py_webauthn and python-fido2, and the SDK's verdict on each.

The fixtures live as literals inside those projects' test modules. They are read with :mod:`ast` (never
imported or executed): for every test function, simple assignments of literals (strings, numbers,
``base64url_to_bytes("...")``, ``bytes.fromhex("...")``, ``a2b_hex(b"...")``, lists and dicts of those) are
evaluated in order, and each call of interest is captured with its evaluated arguments. A call whose arguments
are not plain literals is counted as not loadable, never guessed.

Captured:

- py_webauthn ``verify_registration_response(...)`` / ``verify_authentication_response(...)``: the browser
  JSON, challenge, rp id, origin(s), COSE public key, and whether py_webauthn expects it to fail;
- python-fido2 ``test_cose.py``: COSE keys of real authenticators (ES256, ESP256, RS256, EdDSA, Ed25519)
  with an authenticatorData || clientDataHash message and its signature (``key.verify(message, sig)``);
- python-fido2 ``test_attestation.py``: authenticatorData with attested credential data
  (``AuthenticatorData(bytes.fromhex(...))``).
"""

from __future__ import annotations

import ast
import base64
import binascii
import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from webauthn.helpers import known_root_certs
from webauthn.helpers.structs import AttestationFormat

from conformance._fixtures import read_member, sdist_members
from sso_signer.exceptions import SsoSignerError
from sso_signer.webauthn import (
    Assertion,
    AuthenticatorData,
    P256PublicKey,
    PasskeyCredential,
    verify_assertion,
    verify_registration_response,
)
from sso_signer.webauthn._p256 import EcdsaSignature

__all__ = [
    "FIDO2_SDIST",
    "WEBAUTHN_SDIST",
    "DeviceFixture",
    "load_fido2_fixtures",
    "load_webauthn_fixtures",
    "sdk_verdict",
    "signature_verifies",
]

WEBAUTHN_SDIST = "webauthn-3.0.1.tar.gz"
FIDO2_SDIST = "fido2-2.2.1.tar.gz"


class _NotLiteral(Exception):
    """An expression the loader does not evaluate (the fixture is then counted as not loadable)."""


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "base64url_to_bytes": _b64url,
    "bytes.fromhex": bytes.fromhex,
    "a2b_hex": binascii.a2b_hex,
    "bytes": bytes,
    # python-fido2 parses its keys with CoseKey.parse(cbor.decode(raw)): keep the raw COSE bytes.
    "cbor.decode": bytes,
    "CoseKey.parse": bytes,
}


def _evaluate(node: ast.expr, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        raise _NotLiteral(node.id)
    if isinstance(node, ast.List | ast.Tuple):
        return [_evaluate(e, env) for e in node.elts]
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _NotLiteral("** in dict")
        return {_evaluate(k, env): _evaluate(v, env) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
    if isinstance(node, ast.Attribute) and ast.unparse(node.value) == "AttestationFormat":
        # py_webauthn's enum of format names (a str enum): its value is the format string.
        try:
            return AttestationFormat[node.attr].value
        except KeyError as exc:
            raise _NotLiteral(ast.unparse(node)) from exc
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, env)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _evaluate(node.left, env) + _evaluate(node.right, env)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        lower = _evaluate(node.slice.lower, env) if node.slice.lower else None
        upper = _evaluate(node.slice.upper, env) if node.slice.upper else None
        return _evaluate(node.value, env)[lower:upper]
    if isinstance(node, ast.Call) and not node.keywords and len(node.args) == 1:
        name = ast.unparse(node.func)
        if name in _FUNCTIONS:
            try:
                return _FUNCTIONS[name](_evaluate(node.args[0], env))
            except (ValueError, TypeError, binascii.Error) as exc:
                raise _NotLiteral(f"{name}: {exc}") from exc
        if name in ("parse_registration_credential_json", "parse_authentication_credential_json"):
            return _evaluate(node.args[0], env)  # keep the browser JSON the parser was given
    raise _NotLiteral(ast.unparse(node)[:60])


# Arguments that carry the fixture itself (the others are options of the upstream library).
_FIXTURE_FIELDS = frozenset(
    {
        "credential",
        "expected_challenge",
        "expected_rp_id",
        "expected_origin",
        "credential_public_key",
        "credential_current_sign_count",
    }
)
_UNREAD = "<not a literal: an option of the upstream library>"


@dataclass(frozen=True, slots=True)
class DeviceFixture:
    """One captured fixture.

    Attributes:
        source: ``py_webauthn`` or ``fido2``.
        name: ``<test file>::<test function>`` (with ``#n`` when a function has several).
        kind: ``registration``, ``authentication``, ``cose-signature`` or ``authenticator-data``.
        args: The evaluated arguments (names as the upstream test uses them).
        upstream_ok: What the upstream test expects of its own library (False inside ``assertRaises``).
    """

    source: str
    name: str
    kind: str
    args: Mapping[str, Any] = field(default_factory=dict)
    upstream_ok: bool = True


def _walk_function(
    source: str, file: str, fn: ast.FunctionDef, wanted: Mapping[str, str]
) -> Iterator[DeviceFixture | str]:
    """Fixtures of one test function; a string stands for a call that was not loadable."""
    env: dict[str, Any] = {}
    count = 0

    def visit(statements: list[ast.stmt], in_raises: bool) -> Iterator[DeviceFixture | str]:
        nonlocal count
        for stmt in statements:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                try:
                    env[stmt.targets[0].id] = _evaluate(stmt.value, env)
                except (_NotLiteral, TypeError, KeyError, IndexError):
                    env.pop(stmt.targets[0].id, None)
            if isinstance(stmt, ast.With):
                raises = any("assertRaises" in ast.unparse(item.context_expr) for item in stmt.items)
                yield from visit(stmt.body, in_raises or raises)
                continue
            if isinstance(stmt, ast.For | ast.If | ast.Try):
                # Loops and branches rebind names in ways a literal reader cannot follow.
                for node in ast.walk(stmt):
                    if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] in wanted:
                        yield f"{file}::{fn.name}: call inside a loop/branch"
                continue
            for node in ast.walk(stmt):
                if not isinstance(node, ast.Call):
                    continue
                callee = ast.unparse(node.func)
                kind = wanted.get(callee) or wanted.get(callee.split(".")[-1] if "." in callee else "")
                if kind is None:
                    continue
                count += 1
                name = f"{file}::{fn.name}" + (f"#{count}" if count > 1 else "")
                try:
                    args: dict[str, Any] = {}
                    for keyword in node.keywords:
                        if keyword.arg is None:
                            continue
                        try:
                            args[keyword.arg] = _evaluate(keyword.value, env)
                        except _NotLiteral:
                            # Options the SDK has no counterpart for (an algorithm allow-list, a pinned
                            # root store) need not be literal; the fixture's own fields must be.
                            if keyword.arg in _FIXTURE_FIELDS:
                                raise
                            args[keyword.arg] = _UNREAD
                    for i, arg in enumerate(node.args):
                        args[f"arg{i}"] = _evaluate(arg, env)
                    if kind == "cose-signature":
                        args["key"] = _evaluate(ast.parse(callee.rsplit(".", 1)[0], mode="eval").body, env)
                except _NotLiteral as exc:
                    yield f"{name}: not a literal ({exc})"
                    continue
                yield DeviceFixture(source, name, kind, args, not in_raises)

    yield from visit(fn.body, False)


def _module_fixtures(
    source: str, archive: str, member: str, wanted: Mapping[str, str]
) -> tuple[list[DeviceFixture], list[str]]:
    tree = ast.parse(read_member(archive, member))
    file = member.rsplit("/", 1)[-1]
    # Module-level literals (python-fido2 keeps its keys there).
    module_env: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "webauthn.helpers.known_root_certs":
            # Root certificates the upstream tests pin, from the installed py_webauthn (the same release).
            for alias in stmt.names:
                if isinstance(getattr(known_root_certs, alias.name, None), bytes):
                    module_env[alias.asname or alias.name] = getattr(known_root_certs, alias.name)
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            with contextlib.suppress(_NotLiteral, TypeError, KeyError, IndexError):
                module_env[stmt.targets[0].id] = _evaluate(stmt.value, module_env)
    fixtures: list[DeviceFixture] = []
    skipped: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            wrapped = ast.FunctionDef(
                name=node.name,
                args=node.args,
                body=[
                    *(
                        ast.Assign(targets=[ast.Name(k, ast.Store())], value=ast.Constant(v), lineno=0)
                        for k, v in module_env.items()
                    ),
                    *node.body,
                ],
                decorator_list=[],
                lineno=node.lineno,
            )
            for item in _walk_function(source, file, wrapped, wanted):
                if isinstance(item, str):
                    skipped.append(item)
                else:
                    fixtures.append(item)
    return fixtures, skipped


def load_webauthn_fixtures() -> tuple[list[DeviceFixture], list[str]]:
    """py_webauthn's registration and authentication fixtures, and the calls that were not loadable.

    Raises:
        FixtureMissing: If the sdist has not been fetched.
    """
    wanted = {
        "verify_registration_response": "registration",
        "verify_authentication_response": "authentication",
    }
    fixtures: list[DeviceFixture] = []
    skipped: list[str] = []
    for member in sorted(sdist_members(WEBAUTHN_SDIST)):
        if "/tests/test_verify_" in member and member.endswith(".py"):
            got, missed = _module_fixtures("py_webauthn", WEBAUTHN_SDIST, member, wanted)
            fixtures += got
            skipped += missed
    return fixtures, skipped


def load_fido2_fixtures() -> tuple[list[DeviceFixture], list[str]]:
    """python-fido2's COSE-key signatures and attested authenticatorData, and what was not loadable.

    Raises:
        FixtureMissing: If the sdist has not been fetched.
    """
    root = FIDO2_SDIST.removesuffix(".tar.gz")
    cose, missed_cose = _module_fixtures(
        "fido2", FIDO2_SDIST, f"{root}/tests/test_cose.py", {"key.verify": "cose-signature"}
    )
    att, missed_att = _module_fixtures(
        "fido2", FIDO2_SDIST, f"{root}/tests/test_attestation.py", {"AuthenticatorData": "authenticator-data"}
    )
    return cose + att, missed_cose + missed_att


def _origins(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def signature_verifies(fixture: DeviceFixture) -> bool | None:
    """For an authentication fixture with a P-256 key: does the SDK's ECDSA check accept its signature?

    This isolates the cryptography from the relying-party policy (for example, a fixture without the UV flag
    is refused by policy, but its signature must still verify). None when the fixture has no P-256 key or
    its assertion does not parse.
    """
    if fixture.kind != "authentication":
        return None
    try:
        assertion = Assertion.from_json(fixture.args["credential"])
        key = P256PublicKey.from_cose(bytes(fixture.args["credential_public_key"]))
    except SsoSignerError:
        return None
    return key.verify(assertion.ecdsa_signature, assertion.signed_message)


def _pinned_roots(args: Mapping[str, Any]) -> dict[str, list[bytes]] | None:
    """The upstream test's ``pem_root_certs_bytes_by_fmt`` as the SDK's ``attestation_roots``, if it was read.

    Upstream adds pinned roots to the ones it knows per format; the SDK trusts exactly the given roots, so the
    pin is passed only where upstream's own test pins a root for the format.
    """
    pinned = args.get("pem_root_certs_bytes_by_fmt")
    if not isinstance(pinned, dict):
        return None
    return {str(fmt): [bytes(pem) for pem in pems] for fmt, pems in pinned.items()}


def sdk_verdict(fixture: DeviceFixture) -> str:
    """Run a fixture through the SDK; ``"accepted"`` or the name of the typed error that refused it.

    Only the SDK's own errors are caught: anything else propagates and fails the conformance run.
    """
    args = fixture.args
    try:
        if fixture.kind == "registration":
            verify_registration_response(
                args["credential"],
                expected_challenge=args["expected_challenge"],
                rp_id=args["expected_rp_id"],
                origins=_origins(args["expected_origin"]),
                attestation_roots=_pinned_roots(args),
            )
        elif fixture.kind == "authentication":
            assertion = Assertion.from_json(args["credential"])
            cose = bytes(args["credential_public_key"])
            credential = PasskeyCredential(
                credential_id=assertion.credential_id,
                public_key=P256PublicKey.from_cose(cose),
                origin=assertion.client_data.origin,
                rp_id=args["expected_rp_id"],
                cose_key=cose,
                sign_count=int(args["credential_current_sign_count"]),
            )
            verify_assertion(
                assertion,
                credential,
                expected_challenge=args["expected_challenge"],
                rp_id=args["expected_rp_id"],
                origins=_origins(args["expected_origin"]),
            )
        elif fixture.kind == "cose-signature":
            key = P256PublicKey.from_cose(bytes(args["key"]))
            if not key.verify(EcdsaSignature.from_der(bytes(args["arg1"])), bytes(args["arg0"])):
                return "verify() is False"
        elif fixture.kind == "authenticator-data":
            data = AuthenticatorData(bytes(args["arg0"]))
            attested = data.attested_credential
            if attested is None:
                return "no attested credential"
            attested.public_key  # noqa: B018 - parsing the COSE key is the check
        else:
            return f"unknown kind {fixture.kind}"
    except SsoSignerError as exc:
        return str(exc.rule)
    return "accepted"
