"""``sso-signer`` for a user of the local stack: setup, the ready signal (``node start`` / ``node wait``),
funding on local chains, and a ``--help`` that stands on its own."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from sso_signer.cli._deploy import load_deployment, wait_for_deployment
from sso_signer.cli._parser import DOCS_URL, build_parser
from sso_signer.exceptions import ErrorCode, NodeStartFailed
from sso_signer.local_erc4337 import fund
from sso_signer.rpc import EthClient
from tests.cli.test_cli import _env, cli, start_cli
from tests.errors import raises_rule

ROOT = Path(__file__).resolve().parent.parent.parent


def _json(result: subprocess.CompletedProcess[str], code: int = 0) -> dict[str, Any]:
    assert result.returncode == code, result.stdout + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _sub_parsers(parser: argparse.ArgumentParser, prefix: str = "sso-signer") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found[f"{prefix} {name}"] = child
                found.update(_sub_parsers(child, f"{prefix} {name}"))
    return found


# --- help ------------------------------------------------------------------------------------------------


def test_every_sub_command_has_a_description_and_the_epilog_names_the_online_docs() -> None:
    parser = build_parser()
    commands = _sub_parsers(parser)
    assert {"sso-signer setup", "sso-signer fund", "sso-signer node wait"} <= set(commands)
    undescribed = [name for name, child in commands.items() if not child.description]
    assert undescribed == []
    assert "docs/" not in (parser.epilog or "")
    assert DOCS_URL in (parser.epilog or "")
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Documentation"] == DOCS_URL


@pytest.mark.parametrize("group", ["account", "passkey", "node"])
def test_a_group_without_an_action_names_its_actions(group: str) -> None:
    # Before: "the following arguments are required: account_command".
    result = cli(group)
    assert result.returncode == 2
    assert f"`sso-signer {group}` needs an action" in result.stderr
    assert "_command" not in result.stderr
    assert _json(cli(group, "--json"), code=2)["error"]["rule"] == "cli_usage"


# --- setup -----------------------------------------------------------------------------------------------


def test_setup_without_npm_is_a_configuration_error(tmp_path: Path) -> None:
    env = _env(SSO_SIGNER_HOME=str(tmp_path / "home"), PATH=str(tmp_path / "no-bin"))
    data = _json(cli("setup", "--json", env=env), code=3)
    assert data["error"]["rule"] == "tool_not_found"
    assert "Node.js" in data["error"]["message"]


def test_a_missing_tool_is_exit_3_naming_the_setup_command(tmp_path: Path) -> None:
    # Before: NodeBinaryNotFound "anvil not found in node_modules/... or PATH", no way to install it.
    env = _env(SSO_SIGNER_ANVIL=str(tmp_path / "no-anvil"))
    data = _json(cli("node", "start", "--json", env=env), code=3)
    assert "sso-signer setup" in data["error"]["message"]
    assert "SSO_SIGNER_ANVIL" in data["error"]["message"]


# --- node start / node wait / fund -----------------------------------------------------------------------


def test_node_wait_times_out_with_exit_4(tmp_path: Path) -> None:
    data = _json(
        cli("node", "wait", "--deployment", str(tmp_path / "none.json"), "--timeout", "0.5", "--json"), 4
    )
    assert "not ready within 0.5 s" in data["error"]["message"]


def test_a_stale_deployment_file_is_not_ready(tmp_path: Path) -> None:
    # A file left by a stopped node names services that no longer answer: waiting must not return it.
    stale = tmp_path / "deployment.json"
    stale.write_text('{"chain_id": 31337, "rpc_url": "http://127.0.0.1:9"}')
    with pytest.raises(NodeStartFailed, match="not answering"):
        wait_for_deployment(stale, timeout=0.3)


@pytest.mark.chain
@pytest.mark.bundler
def test_node_wait_returns_once_the_stack_answers_then_fund(tmp_path: Path) -> None:
    deployment = tmp_path / "deployment.json"
    deployment.write_text('{"chain_id": 1, "rpc_url": "http://127.0.0.1:9"}')  # left over from an old run
    process = start_cli("node", "start", "--with-bundler", "--out", str(deployment), "--json")
    try:
        # Started at once, as a script does after `node start … &`: it must not take the stale file.
        waited = _json(cli("node", "wait", "--deployment", str(deployment), "--timeout", "120", "--json"))
        assert waited["ready"] is True
        ready = load_deployment(deployment)
        assert ready.bundler_url is not None
        assert ready.bundler_url == waited["bundler_url"]
        assert process.stdout is not None
        line = json.loads(process.stdout.readline())
        assert line["ready"] is True
        assert line["deployment"] == str(deployment)
        recipient = "0x" + "ab" * 20
        funded = _json(
            cli("fund", recipient, "--value", "0.5ether", "--deployment", str(deployment), "--json")
        )
        assert funded["value"] == 5 * 10**17
        assert funded["balance"] == 5 * 10**17
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert not deployment.exists()  # the addresses died with the node
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_fund_refuses_a_chain_that_is_not_local() -> None:
    # A mocked transport injects what a public node answers; no transaction may be sent.
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls = body if isinstance(body, list) else [body]
        results = {"web3_clientVersion": "Geth/v1.14.0", "eth_chainId": "0x1"}
        replies = []
        for call in calls:
            sent.append(call["method"])
            replies.append({"jsonrpc": "2.0", "id": call["id"], "result": results.get(call["method"], "0x0")})
        return httpx.Response(200, json=replies if isinstance(body, list) else replies[0])

    eth = EthClient("https://rpc.example.org", transport=httpx.MockTransport(answer))
    with eth, raises_rule(ErrorCode.NOT_A_LOCAL_CHAIN, match="not a local anvil node"):
        fund(eth, "0x" + "ab" * 20, 1)
    assert not any(method.startswith("eth_send") for method in sent)
