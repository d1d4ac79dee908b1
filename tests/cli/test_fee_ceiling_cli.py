"""``send --fee-ceiling`` / ``--cost-ceiling`` on the local stack (anvil + Alto): an operation over the
ceiling is refused before the passkey is asked and nothing is sent; one under it goes through."""

from __future__ import annotations

from pathlib import Path

import pytest

from sso_signer.local_erc4337 import LocalErc4337Stack
from tests.cli.test_cli import cli_json

RECIPIENT = "0x" + "6b" * 20


def test_send_ceilings_need_an_amount_and_a_passkey_send() -> None:
    bad = cli_json("send", "--to", RECIPIENT, "--fee-ceiling", "lots", "--rpc", "http://127.0.0.1:9", code=2)
    assert "amount" in bad["error"]["message"]
    session = cli_json(
        "send", "--to", RECIPIENT, "--session-key", "s.json", "--cost-ceiling", "1gwei", code=2
    )
    assert "session's fee limit" in session["error"]["message"]


@pytest.mark.chain
@pytest.mark.bundler
def test_send_under_and_over_the_ceiling(sso_stack: LocalErc4337Stack, tmp_path: Path) -> None:
    assert sso_stack.node is not None
    deployment = tmp_path / "deployment.json"
    cli_json("deploy", "--rpc", sso_stack.node.url, "--out", str(deployment))
    key = tmp_path / "owner.pem"
    cli_json("passkey", "create", "--out", str(key))
    common = ["--deployment", str(deployment), "--key", str(key), "--bundler", sso_stack.bundler_url]
    address = cli_json("account", "create", *common, "--counterfactual")["address"]
    sso_stack.eth.send_transaction(sso_stack.funder, to=address, value=10**17)

    over = cli_json("send", *common, "--to", RECIPIENT, "--value", "1", "--fee-ceiling", "1wei", code=4)
    assert over["error"]["rule"] == "fee_above_ceiling"
    assert "fee ceiling 1 wei" in over["error"]["message"]
    costly = cli_json("send", *common, "--to", RECIPIENT, "--value", "1", "--cost-ceiling", "1gwei", code=4)
    assert costly["error"]["rule"] == "cost_above_ceiling"
    assert sso_stack.eth.get_balance(RECIPIENT) == 0  # nothing was sent
    assert not sso_stack.eth.get_code(address)

    sent = cli_json(
        "send",
        *common,
        "--to",
        RECIPIENT,
        "--value",
        "1",
        "--fee-ceiling",
        "100gwei",
        "--cost-ceiling",
        "0.05ether",
    )
    assert sent["success"] is True
    assert sso_stack.eth.get_balance(RECIPIENT) == 1
