"""The main job: ``sso-signer demo`` runs end to end, in under a minute, and ends with its two proofs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.chain, pytest.mark.bundler, pytest.mark.slow]


def _run(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sso_signer.cli", "demo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, time.monotonic() - started


def test_demo_runs_end_to_end_and_ends_with_the_verified_signature_and_the_executed_transfer() -> None:
    result, seconds = _run("--amount", "0.02ether")
    assert result.returncode == 0, result.stderr + result.stdout
    assert seconds < 60, f"the demo took {seconds:.1f} s"
    lines = result.stdout.strip().splitlines()
    # Every step was shown, in order.
    text = result.stdout
    steps = [
        "starting anvil",
        "passkey registered",
        "ERC-4337 account",
        "Era 0x71 transfer",
        "ERC-4337 UserOperation signed",
    ]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "validateTransaction (eth_call from the account): valid (Valid)" in text
    assert "tampered value: rejected (ChallengeMismatch)" in text
    assert "ERC-1271 (ERC-7739) message signature checked by the account: valid" in text
    # The recipient's balance line shows the transfer arriving.
    assert re.search(r"recipient 0x[0-9a-fA-F]{40}: 0 ETH → 0\.02 ETH", text)
    # The last two lines are the proofs.
    assert lines[-2].startswith("verified signature: Era WebAuthValidator accepted the passkey-signed 0x71")
    assert re.search(r"0x[0-9a-f]{64} \(Valid\)$", lines[-2])
    assert lines[-1].startswith("executed transfer: 0.02 ETH from 0x")
    assert re.search(r"in transaction 0x[0-9a-f]{64}$", lines[-1])
    assert "Traceback" not in result.stderr


def test_demo_json_is_one_object_with_the_figures() -> None:
    result, _ = _run("--json")
    assert result.returncode == 0, result.stderr + result.stdout
    summary = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert summary["ok"] is True
    assert summary["era"]["valid"] is True
    assert summary["era"]["rule"] == "Valid"
    assert summary["era"]["tampered_rule"] == "ChallengeMismatch"
    erc = summary["erc4337"]
    received = int(erc["balances_after"]["recipient"]) - int(erc["balances_before"]["recipient"])
    assert received == int(erc["amount_wei"]) == 10**16
    assert erc["erc1271_valid"] is True
    # Two ceremonies per signature path went through the relying party: Era tx, UserOp, ERC-1271 message.
    assert summary["assertions_verified_by_rp"] == 3
    assert summary["final"][-1].startswith("executed transfer:")


def test_demo_rejects_an_amount_above_the_funding() -> None:
    result, _ = _run("--amount", "1ether", "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["rule"] == "cli_usage"
