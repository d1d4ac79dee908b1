"""docs/web3.md runs as printed: each section's ``python`` blocks in order, in a fresh namespace of its own
(nothing set up behind the reader's back), against the local stack the section's first block starts. The
stack is stopped here too if a block fails."""

from __future__ import annotations

import pathlib
import re

import pytest

from sso_signer.exceptions import ToolNotFound
from tests.needs import ERC4337_CONTRACTS, require_artifacts

pytestmark = [pytest.mark.bundler, pytest.mark.chain]

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "web3.md"
#: The sections with examples, each runnable on its own.
SECTIONS = ("Messages and signatures", "Transactions and the middleware", "Connections")


def _blocks(title: str) -> list[str]:
    for section in re.split(r"\n(?=## )", DOC.read_text()):
        if section.splitlines()[0].removeprefix("## ").strip() == title:
            return re.findall(r"```python\n(.*?)```", section, re.S)
    raise AssertionError(f"docs/web3.md lost its section {title!r}")


def test_the_sections_are_there() -> None:
    assert len(_blocks("Messages and signatures")) >= 5
    assert len(_blocks("Transactions and the middleware")) >= 6
    assert len(_blocks("Connections")) >= 1


@pytest.mark.parametrize("title", SECTIONS)
def test_web3_doc_section_runs_as_printed(title: str) -> None:
    require_artifacts(*ERC4337_CONTRACTS, "WebAuthValidator", "UniversalSignatureValidator")
    blocks = _blocks(title)
    assert "LocalErc4337Stack().start()" in blocks[0], "the section's first block sets up what it uses"
    assert "stack.stop()" in blocks[-1]
    namespace: dict[str, object] = {"__name__": "web3_doc"}
    try:
        for number, block in enumerate(blocks, 1):
            code = compile(block, f"docs/web3.md {title!r} python block {number}", "exec")
            try:
                exec(code, namespace)  # noqa: S102
            except ToolNotFound as exc:
                pytest.skip(f"anvil, node or npm @pimlico/alto missing: {exc}")
    finally:
        stack = namespace.get("stack")
        if stack is not None:
            stack.stop()  # type: ignore[attr-defined]
