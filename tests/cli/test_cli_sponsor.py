"""``sso-signer node start --with-bundler --with-sponsor``: the local stack and the sponsor service."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from sso_signer.erc4337 import PaymasterClient, UserOperation
from tests.cli.test_cli import cli, start_cli


def test_with_sponsor_needs_the_bundler() -> None:
    done = cli("node", "start", "--with-sponsor")
    assert done.returncode == 2
    assert "--with-sponsor needs --with-bundler" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.chain
@pytest.mark.bundler
def test_node_start_with_sponsor_serves_the_sponsor_service(tmp_path: Path) -> None:
    out = str(tmp_path / "deployment.json")
    process = start_cli("node", "start", "--with-bundler", "--with-sponsor", "--out", out, "--json")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else ""
        started = json.loads(line)
        assert started["sponsor_url"].startswith("http://127.0.0.1:")
        op = UserOperation(sender="0x" + "11" * 20, nonce=0, max_fee_per_gas=1)
        with PaymasterClient(started["sponsor_url"], paymasters=started["paymaster"]) as service:
            stub = service.get_paymaster_stub_data(op, chain_id=started["chain_id"])
        assert stub.paymaster == started["paymaster"]
        assert len(stub.paymaster_data) == 77
        assert stub.is_final is False
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
