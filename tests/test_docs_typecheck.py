"""The doc examples a user copies into typed code pass ``mypy --strict``: each listed section's ``python``
blocks, joined in order as one module (as the doc tests run them), type-check against this checkout's SDK.

A section is listed once it type-checks; the others still run in their doc tests."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: (page, section title, how many of its blocks from the first; None: all of them).
SECTIONS: tuple[tuple[str, str, int | None], ...] = (
    ("web3.md", "Messages and signatures", None),
    ("web3.md", "Transactions and the middleware", None),
    ("web3.md", "Connections", None),
    ("recovery.md", "In Python", None),
    ("rpc.md", "Quick start", None),
    ("rpc.md", "What the methods return", None),
    # The later blocks of this section continue the page's earlier sections and are not listed yet.
    ("sessions.md", "Sessions on the account", 1),
)


def _section_blocks(page: str, title: str) -> list[str]:
    for section in re.split(r"\n(?=## )", (ROOT / "docs" / page).read_text()):
        if section.splitlines()[0].removeprefix("## ").strip() == title:
            return re.findall(r"```python\n(.*?)```", section, re.S)
    raise AssertionError(f"docs/{page} lost its section {title!r}")


def _mypy(files: list[pathlib.Path], cache: pathlib.Path) -> subprocess.CompletedProcess[str]:
    # From the checkout, so that the project's mypy settings and its sso_signer are the ones used.
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def have_mypy() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")


def test_the_listed_doc_sections_pass_mypy_strict(have_mypy: None, tmp_path: pathlib.Path) -> None:
    files = []
    for number, (page, title, count) in enumerate(SECTIONS):
        blocks = _section_blocks(page, title)[:count]
        assert blocks, f"docs/{page}, {title!r}: no python block"
        file = tmp_path / f"doc_{number}_{page.removesuffix('.md')}.py"
        file.write_text("\n".join(blocks))
        files.append(file)
    result = _mypy(files, tmp_path / "cache")
    report = result.stdout
    for file, (page, title, _) in zip(files, SECTIONS, strict=True):
        report = report.replace(str(file), f"docs/{page} {title!r}")
    assert result.returncode == 0, report + result.stderr


def test_the_check_sees_a_type_error(have_mypy: None, tmp_path: pathlib.Path) -> None:
    # What sessions.md did with the optional MsaDeployment.session_validator: the check must report it.
    file = tmp_path / "wrong.py"
    file.write_text(
        "from sso_signer.accounts import MsaDeployment\n\n\n"
        "def modules(deployment: MsaDeployment) -> list[tuple[str, bytes]]:\n"
        '    return [(deployment.session_validator, b"")]\n'
    )
    result = _mypy([file], tmp_path / "cache")
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'List item 0 has incompatible type "tuple[str | None, bytes]"' in result.stdout
