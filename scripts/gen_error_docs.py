"""Write docs/errors.md: the whole sso-signer exception tree, one line per class, from the code itself.

Run after adding an error class: `.venv/bin/python scripts/gen_error_docs.py`. tests/test_exceptions.py fails
when the page or sso_signer.exceptions is out of date.
"""

from __future__ import annotations

import inspect
import pathlib

from sso_signer import exceptions
from sso_signer._errors import SsoSignerError

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "errors.md"

HEADER = """# Errors

Every error sso-signer raises derives from `SsoSignerError`, and every class is importable from
`sso_signer.exceptions`. Concrete classes are named after the check that failed, so a handler can branch
on the class instead of parsing messages. Five categories sit under the root:

- `InvalidInputError` (also a `ValueError`): bytes, text or values that cannot be decoded or are out of range.
- `VerificationError`: well-formed input that failed a check (signature, challenge, origin, validator rule).
- `StateError`: a conflict with stored or on-chain state (duplicate credential, used challenge, ...).
- `RemoteError`: a node, bundler or other remote service failed or answered with an error.
- `ConfigurationError`: something the SDK needs is missing or mis-set (a binary, an artifact, a network).

Outside input never escapes this tree, however hostile: JSON-RPC answers, browser credential JSON,
clientDataJSON, CBOR, key files, deployment files and command-line amounts fail with the parser's class (not a
bare `ValueError` or `RecursionError`, and never a crash). Every JSON document from outside is parsed within a
size, a nesting-depth and an integer-digit bound, checked before the C parser recurses
(`MalformedRpcResponse`, `InvalidCredentialJson`, `ClientDataNotJson`, `InvalidKeyFile`, `InvalidDeployment`;
the bounds are listed in docs/rpc.md and docs/webauthn.md).

The tree below is generated from the code (`scripts/gen_error_docs.py`); indentation shows inheritance, the
module in brackets is where the class is defined.

"""


def _children(cls: type[BaseException], classes: list[type[SsoSignerError]]) -> list[type[SsoSignerError]]:
    return sorted((c for c in classes if c.__bases__ and cls in c.__bases__), key=lambda c: c.__name__)


def render() -> str:
    classes: list[type[SsoSignerError]] = [
        obj for obj in vars(exceptions).values() if inspect.isclass(obj) and issubclass(obj, SsoSignerError)
    ]
    lines: list[str] = []

    def walk(cls: type[BaseException], depth: int) -> None:
        doc = (inspect.getdoc(cls) or "").splitlines()[0] if inspect.getdoc(cls) else ""
        extra = [b.__name__ for b in cls.__bases__[1:] if b is not object]
        also = f" (also {', '.join(extra)})" if extra else ""
        lines.append(f"{'  ' * depth}- `{cls.__name__}`{also} [{cls.__module__}]: {doc}")
        for child in _children(cls, classes):
            walk(child, depth + 1)

    walk(SsoSignerError, 0)
    return HEADER + "\n".join(lines) + "\n"


if __name__ == "__main__":
    PAGE.write_text(render())
    print(f"wrote {PAGE.relative_to(ROOT)}")
