"""Importing the SDK leaves the interpreter's recursion limit alone (issue #14, defect 1).

py_ecc raises the process-wide limit to 100000 when it is imported (eth-account and the passkey key recovery
import it); with that limit the C JSON parser overruns the C stack on a deep document instead of raising
``RecursionError``. Each import runs in a fresh interpreter, since a module is only imported once per process.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = [
    "sso_signer",
    "sso_signer.webauthn",
    "sso_signer.rpc",
    "sso_signer.zksync",
    "sso_signer.erc4337",
    "sso_signer.sso",
    "sso_signer.node",
    "sso_signer.cli",
    "sso_signer.exceptions",
    "sso_signer.local_erc4337",
    "sso_signer.pytest_plugin",
    "sso_signer.cli._demo",
    "sso_signer.webauthn._recovery",
]

_CHILD = """
import importlib, sys
before = sys.getrecursionlimit()
for name in sys.argv[1:]:
    importlib.import_module(name)
print(before, sys.getrecursionlimit(), "py_ecc" in sys.modules)
"""


def _limits(*modules: str) -> tuple[int, int, bool]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *modules], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    before, after, py_ecc = done.stdout.split()
    return int(before), int(after), py_ecc == "True"


@pytest.mark.parametrize("module", MODULES)
def test_importing_a_module_keeps_the_recursion_limit(module: str) -> None:
    before, after, _ = _limits(module)
    assert after == before, f"importing {module} changed the recursion limit from {before} to {after}"


def test_the_whole_sdk_with_py_ecc_keeps_the_recursion_limit() -> None:
    before, after, py_ecc = _limits("sso_signer.cli", "sso_signer.webauthn", "sso_signer.sso")
    assert py_ecc, "the check is only meaningful when py_ecc got imported"
    assert after == before
