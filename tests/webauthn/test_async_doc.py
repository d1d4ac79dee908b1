"""The AsyncRelyingParty example of docs/webauthn.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "webauthn.md"
HEADING = "### The same relying party for asyncio (`AsyncRelyingParty`)"


def test_async_relying_party_snippet_runs() -> None:
    text = DOC.read_text()
    section = text[text.index(HEADING) :]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None, "the section has no python block"
    assert "AsyncRelyingParty(" in block.group(1)
    exec(compile(block.group(1), str(DOC), "exec"), {"__name__": "docs_webauthn"})  # noqa: S102 - our own doc
