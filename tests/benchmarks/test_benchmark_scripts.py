"""Smoke tests of the benchmark scripts: each runs with a tiny size and prints its figures.

No timing is asserted (a shared CI machine makes any threshold flaky); the figures must be present, positive
and consistent with what the script measured.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
from typing import Any

import pytest

from sso_signer.exceptions import ToolNotFound
from sso_signer.node._process import find_executable
from tests.needs import require_artifacts

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


def _run(script: str, *args: str, timeout: float = 240) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _json(script: str, *args: str) -> Any:
    return json.loads(_run(script, *args, "--json"))


def _need_anvil() -> None:
    try:
        find_executable(None, "anvil")
    except ToolNotFound as exc:
        pytest.skip(f"anvil not installed (run scripts/bootstrap.sh node): {exc}")


@pytest.mark.node_peer
def test_client_throughput_prints_every_row() -> None:
    figures = _json("client_throughput.py", "-n", "10")
    assert figures["n"] == 10
    for key in ("sdk", "sdk_without_preflight", "floor", "floor_verifying"):
        assert figures[key] > 0, key
    assert figures["floor_over_sdk"] == pytest.approx(figures["floor"] / figures["sdk"])
    assert figures["floor_over_sdk_without_preflight"] == pytest.approx(
        figures["floor"] / figures["sdk_without_preflight"]
    )
    assert figures["verifying_floor_over_sdk"] == pytest.approx(figures["floor_verifying"] / figures["sdk"])
    if shutil.which("node") is None:
        assert figures["typescript"] is None  # the row says node is missing instead of a number
    else:
        # The script verified the peer's last transaction of each run before reporting its rate.
        assert figures["typescript"] > 0
        assert figures["typescript_verifying"] > 0
        ratio = figures["sdk"] / figures["typescript_verifying"]
        assert figures["sdk_over_typescript"] == pytest.approx(ratio)
    table = _run("client_throughput.py", "-n", "10")
    assert "floor / sso-signer" in table
    assert "floor, verifying: + P-256 verify (OpenSSL)" in table
    assert "zksync-sso 0.4.1 + viem, verifying (as the SDK)" in table


def test_rp_verification_prints_every_row() -> None:
    figures = _json("rp_verification.py", "-n", "10")
    for key in ("raw", "sdk", "sdk_cross_check", "relying_party"):
        assert figures[key] > 0, key
    assert figures["sdk_time_over_raw"] == pytest.approx(figures["raw"] / figures["sdk"])


@pytest.mark.chain
def test_gas_validation_measures_both_validators() -> None:
    _need_anvil()
    require_artifacts("WebAuthValidator", "WebAuthValidationGasProbe", "WebAuthnValidator")
    figures = _json("gas_validation.py")
    era, erc4337 = figures["era"], figures["erc4337"]
    assert [r["name"] for r in era] == [r["name"] for r in erc4337]
    for era_row, row in zip(era, erc4337, strict=True):
        assert row["valid"] is True  # each fat signature verifies on the ERC-4337 validator
        assert era_row["fat_signature_bytes"] == row["fat_signature_bytes"]  # same bytes on both
        # The P-256 precompile is a part of the whole; the rest (parsing) is most of it.
        assert 6_900 <= era_row["precompile"] < era_row["validate_signature"]
        assert 6_900 < row["execution"] < row["estimate"] - 21_000
        assert not row["floor_bound"]


@pytest.mark.chain
def test_round_trips_counts_the_requests() -> None:
    _need_anvil()
    counts = {c["name"]: c for c in _json("round_trips.py", "--no-bundler")}
    eoa = counts["EOA tx on anvil (EthClient.send_transaction)"]
    era = counts["Era passkey tx (prepare + sign + send)"]
    for count in (eoa, era):
        assert len(count["before_send"]) == 2  # one batch, then the send
        assert count["before_send"][-1][1] == ["eth_sendRawTransaction"]
        assert len(count["before_send"][0][1]) >= 5  # the batch carries chain id, nonce, fees, ...
    assert "refuses 0x71" in era["note"]
    assert len(counts["zksync-sso 0.4.1 (documented, sso-era.md §3.5)"]["before_send"]) == 6


@pytest.mark.chain
def test_web3_transport_compares_every_path_on_the_same_work() -> None:
    _need_anvil()
    rows = _json("web3_transport.py", "-n", "10")
    by_path = {(r["workload"], r["path"]): r for r in rows}
    assert {r["workload"] for r in rows} == {"era send reads", "balance read", "batch of 20"}
    sdk = by_path[("era send reads", "sso-signer EthClient (1 batch, httpx)")]
    assert sdk["requests_per_op"] == 1  # the six reads in one JSON-RPC batch
    assert by_path[("era send reads", "web3.py w3.batch_requests()")]["requests_per_op"] == 1
    assert by_path[("era send reads", "web3.py provider.make_request, no middleware")]["requests_per_op"] == 6
    assert by_path[("batch of 20", "web3.py w3.eth, one call each")]["requests_per_op"] == 20
    for row in rows:
        assert row["median_ms"] > 0, row
        assert row["cpu_ms_per_request"] == pytest.approx(row["cpu_ms_per_op"] / row["requests_per_op"])


@pytest.mark.chain
def test_concurrency_reports_rates_and_cpu() -> None:
    _need_anvil()
    figures = _json(
        "concurrency.py", "--accounts", "4", "--per-account", "2", "--levels", "1", "4", "--sign-n", "10"
    )
    runs = figures["runs"]
    assert [r["concurrency"] for r in runs] == [1, 4, 4]
    assert [r["transactions"] for r in runs] == [8, 8, 4]
    for run in runs:
        assert run["rate"] > 0
        assert run["client_cpu"] >= 0
    assert figures["eoa_sign_rate"] > 0
    assert figures["passkey_sign_rate"] > 0


@pytest.mark.chain
def test_passkey_user_operations_all_succeed_on_chain() -> None:
    _need_anvil()
    require_artifacts("WebAuthnValidator", "ModularSmartAccount", "MSABeacon", "MSAFactory")
    figures = _json("passkey_user_operations.py", "--accounts", "3", "--per-bundle", "2")
    assert figures["succeeded"] == figures["accounts"] == 3  # every UserOperationEvent says success
    assert figures["gas_per_operation"] > 7_355  # at least the P-256 verification of each
    for key in ("build_rate", "sign_rate", "submit_rate", "overall_rate"):
        assert figures[key] > 0, key


def test_store_ceremonies_measures_sqlite_and_postgres(sso_postgres: object) -> None:
    # sso_postgres: skips (or fails under CI) with the reason where PostgreSQL cannot be started.
    rows = _json("store_ceremonies.py", "-n", "8", "--workers", "1", "2", "--http-clients", "2")
    assert [(row["store"], row["workers"]) for row in rows] == [
        ("SQLite (file, WAL, synchronous=FULL)", 1),
        ("PostgreSQL (Unix socket, fsync on)", 1),
        ("PostgreSQL (Unix socket, fsync on)", 2),
        ("example on SQLite (file)", 1),
        ("example on PostgreSQL", 1),
        ("example on PostgreSQL", 2),
    ]
    for row in rows:
        assert row["ceremonies"] == 8
        assert row["ceremonies_per_second"] == pytest.approx(row["ceremonies"] / row["seconds"])


def test_store_ceremonies_measures_the_async_relying_party(sso_postgres: object) -> None:
    rows = _json(
        "store_ceremonies.py", "-n", "8", "--workers", "1", "--async-concurrency", "4", "--http-clients", "0"
    )
    assert [(row["store"], row["workers"]) for row in rows] == [
        ("SQLite (file, WAL, synchronous=FULL)", 1),
        ("SQLite (file, WAL, synchronous=FULL), async x4", 1),
        ("PostgreSQL (Unix socket, fsync on)", 1),
        ("PostgreSQL (Unix socket, fsync on), async x4", 1),
    ]
    for row in rows:
        assert row["ceremonies"] == 8
        assert row["ceremonies_per_second"] == pytest.approx(row["ceremonies"] / row["seconds"])
