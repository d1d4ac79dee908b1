"""The doc examples a user copies into typed code pass ``mypy --strict``: each listed section's ``python``
blocks, joined in order as one module (as the doc tests run them), type-check against this checkout's SDK.

A section is listed once it type-checks; the others still run in their doc tests."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Section:
    """Python blocks of one page checked as one module: a ``## `` section's (or, with ``title=None``, the whole
    page's, for pages whose doc test runs every block in one namespace), the first ``count`` of them (``None``:
    all), after ``given``: the names the section takes from its doc test or from the page's prose, with their
    types (a fragment such as ``bundler.send_user_operation(signed_op)`` is checked against what ``signed_op``
    is)."""

    page: str
    title: str | None
    count: int | None = None
    given: str = ""


# Every python block of README.md and docs/*.md but these: docs/sponsorship.md (being rewritten in parallel:
# listed once it lands); docs/errors.md (generated from sso_signer/exceptions.py by scripts/gen_error_docs.py);
# docs/webauthn.md "Stores" (an outline with `...` for arguments and awaits outside a function).
SECTIONS: tuple[Section, ...] = (
    Section("README.md", None),
    Section("accounts.md", "Accounts: one interface, two generations, sync and async"),
    Section(
        "accounts.md",
        "Fee ceiling",
        given="""
from eth_account.signers.local import LocalAccount
from sso_signer.accounts import MsaDeployment
from sso_signer.webauthn import HeadlessPasskey
deployment: MsaDeployment
node_url: str
bundler_url: str
passkey: HeadlessPasskey
funder: LocalAccount
""",
    ),
    Section(
        "cli.md",
        "Python: the Era lifecycle",
        given="""
from eth_account.signers.local import LocalAccount
from sso_signer.rpc import EthClient
from sso_signer.webauthn import HeadlessPasskey
client: EthClient
deployer: LocalAccount
passkey: HeadlessPasskey
other: HeadlessPasskey
last: HeadlessPasskey
recipient: str
""",
    ),
    Section("cli.md", "pytest fixtures"),
    Section("erc4337.md", "Quick start: a local stack and a passkey account"),
    Section(
        "erc4337.md",
        "The bundler client",
        given="""
from sso_signer.accounts import Erc4337Account
from sso_signer.erc4337 import UserOperation
op_with_stub: UserOperation
signed_op: UserOperation
account: Erc4337Account
calls: list[tuple[str, int, bytes]]
""",
    ),
    Section("example-backend.md", "Many workers on one PostgreSQL"),
    Section("recovery.md", "In Python"),
    Section("recovery.md", "In tests"),
    Section("recovery.md", "Lower level: `sso_signer.sso.GuardianExecutor` (no I/O)"),
    Section("recovery.md", "Era accounts"),
    Section("rpc.md", "Quick start"),
    Section("sessions.md", None),
    Section("web3.md", "Messages and signatures"),
    Section("web3.md", "Transactions and the middleware"),
    Section("web3.md", "Connections"),
    Section(
        "webauthn.md",
        "Relying-party flow for a backend",
        given="""
browser_json: str
tx_hash: bytes
login_nonce: bytes
vendor_root_pem: bytes
""",
    ),
    Section(
        "webauthn.md",
        "Headless passkey for scripts and tests",
        given="challenge: bytes\ntx_hash: bytes\naaguid: bytes\n",
    ),
    Section(
        "webauthn.md",
        "Recovering a public key",
        given="from sso_signer.webauthn import Assertion\nassertion_1: Assertion\nassertion_2: Assertion\n",
    ),
    Section(
        "zksync.md",
        None,
        given="""
account: str
custom_signature: bytes
paymaster: str
token: str
""",
    ),
)


def _blocks(text: str) -> list[str]:
    # A block inside a list item is indented with it.
    return [textwrap.dedent(block) for block in re.findall(r"```python\n(.*?)```", text, re.S)]


def _section_blocks(page: str, title: str | None) -> list[str]:
    text = (ROOT / ("README.md" if page == "README.md" else f"docs/{page}")).read_text()
    if title is None:
        return _blocks(text)
    for section in re.split(r"\n(?=## )", text):
        if section.splitlines()[0].lstrip("#").strip() == title:
            return _blocks(section)
    raise AssertionError(f"{page} lost its section {title!r}")


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
    for number, section in enumerate(SECTIONS):
        blocks = _section_blocks(section.page, section.title)[: section.count]
        assert blocks, f"{section.page}, {section.title!r}: no python block"
        file = tmp_path / f"doc_{number}_{section.page.removesuffix('.md').replace('-', '_')}.py"
        file.write_text(textwrap.dedent(section.given).lstrip() + "\n".join(blocks))
        files.append(file)
    result = _mypy(files, tmp_path / "cache")
    report = result.stdout
    for file, section in zip(files, SECTIONS, strict=True):
        report = report.replace(str(file), f"{section.page} {section.title or '(whole page)'!r}")
    assert result.returncode == 0, report + result.stderr


def test_every_page_with_python_blocks_is_checked() -> None:
    pages = {section.page for section in SECTIONS} | {"sponsorship.md", "errors.md"}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if _blocks(page.read_text()):
            assert page.name in pages, f"{page.name} has python blocks that no Section type-checks"


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
