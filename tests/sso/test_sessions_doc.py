"""Every ``python`` block of docs/sessions.md runs as written, in order, in one namespace."""

from __future__ import annotations

import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "sessions.md"


def test_sessions_doc_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 3, "docs/sessions.md lost its examples"
    namespace: dict[str, object] = {"__name__": "sessions_doc"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/sessions.md python block {number}", "exec"), namespace)  # noqa: S102
