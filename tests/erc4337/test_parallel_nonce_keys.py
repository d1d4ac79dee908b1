"""Several processes sending UserOperations for one account at once, through Alto: each process uses its own
192-bit EntryPoint nonce key (the example's ``process_nonce_key``), so every operation is included and none
replaces another. With one shared key the same processes compete for each nonce (see ``_same_key``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from sso_signer.accounts import Erc4337Account
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.webauthn import HeadlessPasskey
from tests.browser.example_client import fresh_address

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 3
SENDS = 2  # operations per process, one after the other

_SENDER = textwrap.dedent(
    """
    import json, sys
    from cryptography.hazmat.primitives import serialization
    from examples.dapp_backend._workers import process_nonce_key
    from sso_signer.accounts import Erc4337Account, MsaDeployment
    from sso_signer.erc4337 import BundlerClient
    from sso_signer.rpc import EthClient
    from sso_signer.webauthn import HeadlessPasskey

    job = json.loads(sys.stdin.readline())
    deployment = MsaDeployment(**job["deployment"])
    key = serialization.load_pem_private_key(job["key"].encode(), password=None)
    passkey = HeadlessPasskey(
        private_key=key, credential_id=bytes.fromhex(job["credential_id"]), rp_id=job["rp_id"],
        origin=job["origin"],
    )
    nonce_key = process_nonce_key() if job["nonce_key"] is None else job["nonce_key"]
    bundler = BundlerClient(job["bundler"], entry_point=deployment.entry_point)
    with EthClient(job["node"]) as eth, bundler as b:
        account = Erc4337Account.at(
            job["account"], deployment=deployment, eth=eth, bundler=b, credential=passkey, nonce_key=nonce_key
        )
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.readline()  # go: every process starts sending at once
        for value in job["values"]:
            try:
                receipt = account.send(job["to"], value)
                line = {"hash": receipt.user_op_hash.hex(), "success": receipt.success, "key": nonce_key}
            except Exception as exc:
                line = {"error": type(exc).__name__, "message": str(exc)[:300], "key": nonce_key}
            print(json.dumps(line), flush=True)
    """
)


def _start(job: dict[str, Any]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _SENDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(json.dumps(job) + "\n")
    process.stdin.flush()
    return process


def _send_at_once(jobs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    processes = [_start(job) for job in jobs]
    for process in processes:  # each has built its account before any sends
        assert process.stdout is not None
        line = process.stdout.readline()
        assert json.loads(line or "{}").get("ready"), process.stderr.read() if process.stderr else line
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        results.append([json.loads(line) for line in out.splitlines()])
    return results


@pytest.fixture
def shared_account(passkey_account: Erc4337Account) -> Erc4337Account:
    """The plugin's funded account, deployed (key 0), whose passkey the sending processes share."""
    assert passkey_account.send(fresh_address(), 1).success
    return passkey_account


def _jobs(
    stack: LocalErc4337Stack, account: Erc4337Account, passkey: HeadlessPasskey, nonce_key: int | None
) -> list[dict[str, Any]]:
    pem = passkey._key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    base = {
        "deployment": asdict(stack.deployment),
        "node": stack.eth.rpc.url,
        "bundler": stack.bundler_url,
        "account": account.address,
        "key": pem,
        "credential_id": passkey.credential.credential_id.hex(),
        "rp_id": passkey.credential.rp_id,
        "origin": passkey.credential.origin,
        "nonce_key": nonce_key,
    }
    return [
        {**base, "to": fresh_address(), "values": [1000 * (i + 1) + n for n in range(SENDS)]}
        for i in range(PROCESSES)
    ]


@pytest.mark.bundler
def test_processes_with_their_own_nonce_keys_all_get_included(
    sso_stack: LocalErc4337Stack, shared_account: Erc4337Account, headless_passkey: HeadlessPasskey
) -> None:
    jobs = _jobs(sso_stack, shared_account, headless_passkey, None)
    results = _send_at_once(jobs)

    keys = {line["key"] for lines in results for line in lines}
    assert len(keys) == PROCESSES
    assert 0 not in keys
    for job, lines in zip(jobs, results, strict=True):
        assert [line.get("success") for line in lines] == [True] * SENDS, lines
        # Each operation ran once: the recipient holds exactly the values its process sent.
        assert sso_stack.eth.get_balance(job["to"]) == sum(job["values"])
    hashes = [line["hash"] for lines in results for line in lines]
    assert len(set(hashes)) == PROCESSES * SENDS  # none replaced another (each hash has its receipt)
    for key in keys:  # each key's sequence moved exactly by its process's operations
        assert shared_account.get_nonce(key) == (key << 64) + SENDS


@pytest.mark.bundler
def test_processes_sharing_one_nonce_key_compete_for_it(
    sso_stack: LocalErc4337Stack, shared_account: Erc4337Account, headless_passkey: HeadlessPasskey
) -> None:
    # What the distinct keys prevent: with key 0 in every process, they read the same next nonce.
    results = _send_at_once(_jobs(sso_stack, shared_account, headless_passkey, 0))
    lines = [line for lines in results for line in lines]
    failed = [line for line in lines if not line.get("success")]
    print(f"{len(failed)} of {len(lines)} sends failed: {[line.get('error') for line in failed]}")
    assert failed, "every process got its own nonce by luck of timing"
