"""Write docs/errors.md: the sso-signer exception classes and the rules each owns, from the code itself.

Run after changing sso_signer/exceptions.py: `.venv/bin/python scripts/gen_error_docs.py`.
tests/test_exceptions.py fails when the page is out of date.
"""

from __future__ import annotations

import ast
import inspect
import pathlib

from sso_signer import exceptions
from sso_signer.exceptions import ErrorCode, SsoSignerError

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "errors.md"

HEADER = """# Errors

Every error sso-signer raises derives from `SsoSignerError`, and every class is defined in, and imported
from, `sso_signer.exceptions` (a module that imports nothing but the standard library). A class stands for a
kind of failure a caller handles differently; the exact check that failed is the error's `rule`, a member of
the `ErrorCode` string enum. Each rule belongs to exactly one class, and each class has a default rule (the
first listed below):

```python
from sso_signer.exceptions import AssertionRejected, ErrorCode

try:
    relying_party.verify_authentication(...)
except AssertionRejected as exc:
    if exc.rule is ErrorCode.ORIGIN_MISMATCH:
        ...
```

The attribute is `rule` on every class: `code` is the JSON-RPC error code of `RpcError` and `BundlerError`
(and `aa_code` the EntryPoint `AAxx` code), so the name never clashes. Rules are `str` values
(`exc.rule == "origin_mismatch"`), stable across releases, and serialised as such (the CLI's `--json`
error object carries `rule` next to `type`). Five categories sit under the root:

- `InvalidInputError` (also a `ValueError`): bytes, text or values that cannot be decoded or are out of range.
- `VerificationError`: well-formed input that failed a check (signature, challenge, origin, validator rule).
- `StateError`: a conflict with stored or on-chain state (duplicate credential, used challenge, ...).
- `RemoteError`: a node, bundler or other remote service failed or answered with an error.
- `ConfigurationError`: something the SDK needs is missing or mis-set (a binary, an artifact, a network).

Outside input never escapes this tree, however hostile: JSON-RPC answers, browser credential JSON,
clientDataJSON, CBOR, key files, deployment files and command-line amounts fail with the parser's class (not a
bare `ValueError` or `RecursionError`, and never a crash). Every JSON document from outside is parsed within a
size, a nesting-depth and an integer-digit bound, checked before the C parser recurses
(`MalformedRpcResponse`, `InvalidWebAuthnData` with `client_data_not_json` or `invalid_credential_json`,
`InvalidKey` with `invalid_key_file`, `ConfigurationError` with `invalid_deployment`; the bounds are listed
in docs/rpc.md and docs/webauthn.md).

The tree below is generated from the code (`scripts/gen_error_docs.py`); indentation shows inheritance, and
under each class its rules, one line each.

"""


def rule_docs() -> dict[str, str]:
    """The one-line description written under each ErrorCode member."""
    tree = ast.parse(pathlib.Path(exceptions.__file__).read_text())
    docs: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "ErrorCode":
            for assign, doc in zip(node.body, node.body[1:], strict=False):
                if (
                    isinstance(assign, ast.Assign)
                    and isinstance(doc, ast.Expr)
                    and isinstance(doc.value, ast.Constant)
                    and isinstance(doc.value.value, str)
                ):
                    target = assign.targets[0]
                    assert isinstance(target, ast.Name)
                    docs[target.id] = " ".join(doc.value.value.split())
    return docs


def error_classes() -> list[type[SsoSignerError]]:
    found = vars(exceptions).values()
    return [obj for obj in found if inspect.isclass(obj) and issubclass(obj, SsoSignerError)]


def render() -> str:
    classes = error_classes()
    docs = rule_docs()
    lines: list[str] = []

    def walk(cls: type[SsoSignerError], depth: int) -> None:
        # The summary is the first paragraph: a sentence that wraps onto a second line stays whole.
        doc = " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split())
        extra = [b.__name__ for b in cls.__bases__[1:] if b is not object]
        also = f" (also {', '.join(extra)})" if extra else ""
        lines.append(f"{'  ' * depth}- **`{cls.__name__}`**{also}: {doc}")
        rules: tuple[ErrorCode, ...] = vars(cls)["rules"]
        for rule in rules:
            lines.append(f"{'  ' * (depth + 1)}- `{rule.value}`: {docs.get(rule.name, '')}")
        children = sorted((c for c in classes if cls in c.__bases__), key=lambda c: c.__name__)
        for child in children:
            walk(child, depth + 1)

    walk(SsoSignerError, 0)
    return HEADER + "\n".join(lines) + "\n"


if __name__ == "__main__":
    PAGE.write_text(render())
    print(f"wrote {PAGE.relative_to(ROOT)}")
