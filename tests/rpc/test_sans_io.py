"""The flow core is free of I/O: the modules that decide what a request means import no HTTP library."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The modules that hold every behaviour once; only the transport (``_client``) may import httpx.
_SANS_IO = ["sso_signer.rpc._core", "sso_signer.rpc._flow", "sso_signer._shell", "sso_signer.rpc._types"]

# The room's __init__ re-exports the clients (and so imports httpx): the child process registers the package
# without running it, so that only the module under test and what it imports are loaded.
_CHILD = """
import pathlib, sys, types
import sso_signer
package = types.ModuleType("sso_signer.rpc")
package.__path__ = [str(pathlib.Path(sso_signer.__file__).parent / "rpc")]
sys.modules["sso_signer.rpc"] = package
import importlib
importlib.import_module(sys.argv[1])
print(sorted(m for m in sys.modules if m.split(".")[0] in ("httpx", "httpcore", "h11", "anyio")))
"""


@pytest.mark.parametrize("module", _SANS_IO)
def test_the_core_modules_import_no_http_library(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, module], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", f"{module} pulls in {done.stdout.strip()}"


def test_the_transport_does_import_it() -> None:
    # The check above can fail: the module that does the I/O is seen to import httpx.
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, "sso_signer.rpc._client"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "httpx" in done.stdout


def test_importing_the_rpc_room_does_not_load_eth_account() -> None:
    # eth-account (with eth-keyfile's BLS code) was most of `import sso_signer.rpc`'s time while only the EOA
    # senders use it: it is imported when one of them runs.
    child = "import sys, sso_signer.rpc; print(sorted(m for m in sys.modules if m.startswith('eth_account')))"
    done = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", f"import sso_signer.rpc loads {done.stdout.strip()}"
