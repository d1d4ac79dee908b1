"""docs/rpc.md runs as printed: each listed section's one ``python`` block, in a fresh namespace."""

from __future__ import annotations

import pathlib
import re

import pytest

from sso_signer.exceptions import ToolNotFound
from tests.needs import require_artifacts

pytestmark = pytest.mark.chain

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "rpc.md"
SECTIONS = ("Quick start", "What the methods return")


def _blocks(title: str) -> list[str]:
    for section in re.split(r"\n(?=## )", DOC.read_text()):
        if section.splitlines()[0].removeprefix("## ").strip() == title:
            return re.findall(r"```python\n(.*?)```", section, re.S)
    raise AssertionError(f"docs/rpc.md lost its section {title!r}")


@pytest.mark.parametrize("title", SECTIONS)
def test_rpc_doc_section_runs_as_printed(title: str, capsys: pytest.CaptureFixture[str]) -> None:
    require_artifacts("WebAuthValidator")
    (block,) = _blocks(title)
    try:
        exec(compile(block, f"docs/rpc.md {title!r}", "exec"), {"__name__": "rpc_doc"})  # noqa: S102
    except ToolNotFound as exc:
        pytest.skip(f"anvil missing: {exc}")
    if title == "What the methods return":
        assert "Receipt(transaction_hash=HexBytes('0x" in capsys.readouterr().out  # as the comment says
