"""AltoBundler: the real npm Alto bundler against a real anvil with the canonical EntryPoint v0.8."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from collections.abc import Iterator

import pytest

from sso_signer.exceptions import ErrorCode, NodeStartFailed
from sso_signer.node import AltoBundler, AnvilNode
from sso_signer.node._alto import ENTRY_POINT_V08
from tests.errors import raises_rule

# The checkout this test runs in (the package itself looks tools up through sso_signer._toolchain).
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.bundler, pytest.mark.slow, pytest.mark.chain]

DETERMINISTIC_DEPLOYER = "0x4e59b44847b379578588920ca78fbf26c0b4956c"
ENTRY_POINT_SALT = bytes.fromhex("0a59dbff790c23c976a548690c27297883cc66b4c67024f9117b0238995e35e9")
ENTRY_POINT_ARTIFACT = REPO_ROOT / "node_modules/@account-abstraction/contracts/artifacts/EntryPoint.json"


def _require_tools() -> None:
    if shutil.which("node") is None:
        pytest.skip("node (Node.js) not on PATH: Alto runs under node")
    if not (REPO_ROOT / "node_modules/@pimlico/alto/esm/cli/alto.js").is_file():
        pytest.skip("npm @pimlico/alto not installed (run scripts/bootstrap.sh node)")
    if not ENTRY_POINT_ARTIFACT.is_file():
        pytest.skip("npm @account-abstraction/contracts not installed (run scripts/bootstrap.sh node)")


@pytest.fixture(scope="module")
def chain() -> Iterator[AnvilNode]:
    _require_tools()
    with AnvilNode() as node:
        yield node


def _deploy_entry_point(node: AnvilNode) -> None:
    # The npm artifact through the deterministic deployer lands at the canonical address (sso-4337.md §10).
    bytecode = bytes.fromhex(json.loads(ENTRY_POINT_ARTIFACT.read_text())["bytecode"].removeprefix("0x"))
    node.eth.send_transaction(node.accounts[0], DETERMINISTIC_DEPLOYER, data=ENTRY_POINT_SALT + bytecode)
    assert node.eth.get_code(ENTRY_POINT_V08) != b""


def test_alto_refuses_to_start_without_entry_point() -> None:
    _require_tools()
    with AnvilNode() as fresh:  # its own chain: no EntryPoint whatever the order the tests run in
        assert fresh.eth.get_code(ENTRY_POINT_V08) == b""
        bundler = AltoBundler.for_node(fresh)
        with pytest.raises(NodeStartFailed) as info:
            bundler.start()
        assert "does not exist" in info.value.log_tail
        assert not bundler.running
        # The keys went to Alto through the environment and never show in what we report.
        for account in (fresh.accounts[7], fresh.accounts[8]):
            assert account.key.hex().removeprefix("0x") not in str(info.value)


def test_alto_serves_the_entry_point_and_stops_cleanly(chain: AnvilNode) -> None:
    _deploy_entry_point(chain)
    bundler = AltoBundler.for_node(chain)
    with bundler:
        assert bundler.pid is not None
        pid = bundler.pid
        with bundler.client() as rpc:
            assert rpc.request("eth_supportedEntryPoints") == [ENTRY_POINT_V08]
            assert int(rpc.request("eth_chainId"), 16) == chain.chain_id
        assert os.path.exists(f"/proc/{pid}")
        with open(f"/proc/{pid}/cmdline", "rb") as proc_cmdline:
            cmdline = proc_cmdline.read()
        assert chain.accounts[8].key.hex().removeprefix("0x").encode() not in cmdline
    assert not os.path.exists(f"/proc/{pid}")


def test_alto_missing_entry_script_is_a_configuration_error(chain: AnvilNode) -> None:
    with raises_rule(ErrorCode.NODE_BINARY_NOT_FOUND):
        AltoBundler.for_node(chain, alto_entry="/nonexistent/alto.js")
