"""Every ``python`` block of docs/recovery.md runs as written, in order, in one namespace (no chain)."""

from __future__ import annotations

import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "recovery.md"


def test_recovery_doc_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks, "docs/recovery.md lost its example"
    namespace: dict[str, object] = {"__name__": "recovery_doc"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/recovery.md python block {number}", "exec"), namespace)  # noqa: S102
