"""Every ``python`` block of docs/web3.md's transaction and connection sections runs as written, in order, in
one namespace, against the local ERC-4337 stack (anvil + Alto) with an Era account registered on its anvil."""

from __future__ import annotations

import pathlib
import re

import pytest

from sso_signer._artifacts import load_artifact
from sso_signer.accounts._deployment import local_era_network
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.webauthn import HeadlessPasskey
from tests.accounts.test_web3_tx import registered_era_account
from tests.needs import require_artifacts

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "web3.md"
#: The sections this test runs; the page's other sections have their own test.
SECTIONS = ("Transactions and the middleware", "Connections")
ORIGIN = "http://localhost:5173"


def _blocks() -> list[str]:
    text = DOC.read_text()
    blocks = []
    for section in re.split(r"\n(?=## )", text):
        title = section.splitlines()[0].removeprefix("## ").strip()
        if title in SECTIONS:
            blocks += re.findall(r"```python\n(.*?)```", section, re.S)
    return blocks


def test_the_sections_are_there() -> None:
    assert len(_blocks()) >= 6, "docs/web3.md lost its transaction or connection examples"


@pytest.mark.chain
@pytest.mark.bundler
def test_web3_doc_python_blocks_run(sso_stack: LocalErc4337Stack) -> None:
    require_artifacts("WebAuthValidator")
    node = sso_stack.node
    assert node is not None
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin=ORIGIN)
    # An Era account on the stack's anvil: the validator deployed, the passkey registered to an address.
    validator, _ = node.eth.deploy_contract(node.accounts[0], load_artifact("WebAuthValidator").deploy_data())
    era_address = registered_era_account(node, validator, passkey)
    namespace: dict[str, object] = {
        "__name__": "web3_doc",
        "node_url": node.url,
        "bundler_url": sso_stack.bundler_url,
        "deployment": sso_stack.deployment,
        "passkey": passkey,
        "era_network": local_era_network(passkey_validator=validator, chain_id=31337),
        "era_address": era_address,
    }
    for number, block in enumerate(_blocks(), 1):
        exec(compile(block, f"docs/web3.md python block {number}", "exec"), namespace)  # noqa: S102
