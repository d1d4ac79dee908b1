"""Every ``python`` block of docs/sponsorship.md runs as written, in order, in one namespace (on a local stack
with the sponsor service, started by the page itself)."""

from __future__ import annotations

import pathlib
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "sponsorship.md"

pytestmark = [pytest.mark.bundler, pytest.mark.chain]


def test_sponsorship_doc_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 5, "docs/sponsorship.md lost its examples"
    namespace: dict[str, object] = {"__name__": "sponsorship_doc"}
    try:
        for number, block in enumerate(blocks, 1):
            exec(compile(block, f"docs/sponsorship.md python block {number}", "exec"), namespace)  # noqa: S102
    finally:
        stack = namespace.get("stack")
        if stack is not None:
            stack.stop()  # type: ignore[attr-defined]  # a failed block must not leave anvil and Alto running
