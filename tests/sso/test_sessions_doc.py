"""Every ``python`` block of docs/sessions.md runs as written, in order, in one namespace.

The account examples start a local ERC-4337 stack themselves (``stack = LocalErc4337Stack().start()``); the
test stops it whatever happens, and skips, saying why, when the stack's tools are missing.
"""

from __future__ import annotations

import pathlib
import re

import pytest

from sso_signer.exceptions import ToolNotFound
from tests.needs import ERC4337_CONTRACTS, require_artifacts

pytestmark = [pytest.mark.chain, pytest.mark.bundler]

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "sessions.md"


def test_sessions_doc_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 3, "docs/sessions.md lost its examples"
    require_artifacts(*ERC4337_CONTRACTS, "Erc4337TestToken")
    namespace: dict[str, object] = {"__name__": "sessions_doc"}
    try:
        for number, block in enumerate(blocks, 1):
            exec(compile(block, f"docs/sessions.md python block {number}", "exec"), namespace)  # noqa: S102
    except ToolNotFound as exc:
        pytest.skip(f"anvil, node or npm @pimlico/alto missing for the account examples: {exc}")
    finally:
        stack = namespace.get("stack")
        if stack is not None:
            stack.stop()  # type: ignore[attr-defined]
