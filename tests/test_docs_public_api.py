"""The README, docs/ and examples/ import only public names: what users copy must not reach private code."""

from __future__ import annotations

import ast
import pathlib
import re
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"```(?:python|py)\n(.*?)```", re.S)


def _private_imports(code: str) -> list[str]:
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:  # a fragment (an excerpt inside a function): check its import lines alone
        lines = [line.strip() for line in code.splitlines() if line.strip().startswith(("from ", "import "))]
        tree = ast.parse("\n".join(line for line in lines if not line.endswith("(")))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sso_signer":
            names = [alias.name for alias in node.names]
            if any(part.startswith("_") for part in node.module.split(".")) or any(
                name.startswith("_") for name in names
            ):
                found.append(f"from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            found += [
                f"import {a.name}"
                for a in node.names
                if a.name.split(".")[0] == "sso_signer" and any(p.startswith("_") for p in a.name.split("."))
            ]
    return found


def test_docs_import_only_public_names() -> None:
    offenders = []
    for page in PAGES:
        for block in _BLOCK.findall(page.read_text()):
            offenders += [f"{page.relative_to(ROOT)}: {line}" for line in _private_imports(block)]
    assert offenders == []


def test_examples_import_only_public_names() -> None:
    # The example backend is what users copy, file by file.
    offenders = []
    for source in sorted((ROOT / "examples").rglob("*.py")):
        offenders += [f"{source.relative_to(ROOT)}: {line}" for line in _private_imports(source.read_text())]
    assert offenders == []


def test_the_checker_sees_a_private_import() -> None:
    assert _private_imports("from sso_signer.accounts._era import EraAccount\n")
    assert _private_imports("from sso_signer import _errors\n")
    assert not _private_imports("from sso_signer.accounts import EraAccount\n")


def test_the_top_level_public_names_resolve_lazily() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sso_signer\n"
        "assert 'sso_signer._artifacts' not in sys.modules\n"
        "from sso_signer import b64url_decode, b64url_encode, hex_decode, hex_encode\n"
        "from sso_signer import load_artifact\n"
        "assert b64url_decode(b64url_encode(b'ab')) == b'ab' and hex_encode(b'\\x01').endswith('01')\n"
        "assert load_artifact('MSAFactory').name == 'MSAFactory'\n"
        "assert all(hasattr(sso_signer, name) for name in sso_signer.__all__)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
