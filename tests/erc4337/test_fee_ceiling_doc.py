"""The ``python`` block of docs/accounts.md's "Fee ceiling" section runs as written against the local
ERC-4337 stack (anvil + Alto)."""

from __future__ import annotations

import pathlib
import re

import pytest

from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.webauthn import HeadlessPasskey

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "accounts.md"


def _blocks() -> list[str]:
    for section in re.split(r"\n(?=## )", DOC.read_text()):
        if section.startswith("## Fee ceiling"):
            return re.findall(r"```python\n(.*?)```", section, re.S)
    return []


def test_the_section_has_its_example() -> None:
    assert len(_blocks()) == 1, "docs/accounts.md lost its fee ceiling example"


@pytest.mark.chain
@pytest.mark.bundler
def test_fee_ceiling_doc_runs(sso_stack: LocalErc4337Stack) -> None:
    node = sso_stack.node
    assert node is not None
    namespace: dict[str, object] = {
        "__name__": "fee_ceiling_doc",
        "node_url": node.url,
        "bundler_url": sso_stack.bundler_url,
        "deployment": sso_stack.deployment,
        "passkey": HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173"),
        "funder": sso_stack.funder,
    }
    for number, block in enumerate(_blocks(), 1):
        exec(compile(block, f"docs/accounts.md fee ceiling block {number}", "exec"), namespace)  # noqa: S102
