"""The "Messages and signatures" section of docs/web3.md runs as written, block after block, in one namespace.

Only that section's ``python`` blocks run here (the page has other sections with their own tests). The first
block starts a local ERC-4337 stack and the last stops it; the stack is stopped here too if a block fails.
"""

from __future__ import annotations

import pathlib
import re

import pytest

from sso_signer.exceptions import ToolNotFound
from tests.needs import ERC4337_CONTRACTS, require_artifacts

pytestmark = [pytest.mark.bundler, pytest.mark.chain]

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "web3.md"
SECTION = "## Messages and signatures"


def _section_blocks() -> list[str]:
    text = DOC.read_text()
    start = text.index(SECTION)
    following = re.search(r"^## ", text[start + len(SECTION) :], re.M)
    end = len(text) if following is None else start + len(SECTION) + following.start()
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


def test_messages_and_signatures_blocks_run() -> None:
    require_artifacts(*ERC4337_CONTRACTS, "UniversalSignatureValidator")
    blocks = _section_blocks()
    assert len(blocks) >= 5, "docs/web3.md lost its message examples"
    assert "stack.stop()" in blocks[-1]
    namespace: dict[str, object] = {"__name__": "web3_doc"}
    try:
        for number, block in enumerate(blocks, 1):
            try:
                exec(compile(block, f"docs/web3.md messages block {number}", "exec"), namespace)  # noqa: S102
            except ToolNotFound as exc:
                pytest.skip(f"anvil, node or npm @pimlico/alto missing: {exc}")
    finally:
        stack = namespace.get("stack")
        if stack is not None:
            stack.stop()  # type: ignore[attr-defined]
