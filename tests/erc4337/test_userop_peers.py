"""UserOperation packing and the v0.8 userOpHash against viem 2.30 (a running peer) on random operations."""

from __future__ import annotations

import json
import pathlib
import random
import shutil
import subprocess
from typing import Any

import pytest

from sso_signer.erc4337 import ENTRY_POINT_V08, UserOperation, user_operation_hash

pytestmark = pytest.mark.node_peer

ROOT = pathlib.Path(__file__).resolve().parents[2]
PEER = ROOT / "tests" / "peers" / "viem_userop.mjs"


def _random_op(rng: random.Random) -> UserOperation:
    def addr() -> str:
        return "0x" + rng.randbytes(20).hex()

    def blob(limit: int) -> bytes:
        return rng.randbytes(rng.randrange(limit))

    factory = addr() if rng.random() < 0.5 else None
    paymaster = addr() if rng.random() < 0.5 else None
    return UserOperation(
        sender=addr(),
        nonce=rng.getrandbits(rng.choice((1, 64, 256))),
        call_data=blob(300),
        call_gas_limit=rng.getrandbits(rng.choice((16, 128))),
        verification_gas_limit=rng.getrandbits(rng.choice((16, 128))),
        pre_verification_gas=rng.getrandbits(rng.choice((16, 256))),
        max_fee_per_gas=rng.getrandbits(rng.choice((32, 128))),
        max_priority_fee_per_gas=rng.getrandbits(rng.choice((32, 128))),
        factory=factory,
        factory_data=blob(200) if factory else b"",
        paymaster=paymaster,
        paymaster_verification_gas_limit=rng.getrandbits(128) if paymaster else 0,
        paymaster_post_op_gas_limit=rng.getrandbits(64) if paymaster else 0,
        paymaster_data=blob(80) if paymaster else b"",
        signature=blob(200),
    )


@pytest.fixture(scope="module")
def viem_answers() -> tuple[list[tuple[int, str, UserOperation]], list[dict[str, Any]]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not on PATH: the viem peer cannot run")
    if not (ROOT / "node_modules" / "viem").is_dir():
        pytest.skip("npm viem not installed: run scripts/bootstrap.sh node")
    rng = random.Random(4337)
    cases = []
    for i in range(120):
        # JSON numbers (and viem chain ids) are exact only below 2**53.
        chain_id = rng.choice((1, 31337, 6565, rng.getrandbits(52)))
        entry_point = ENTRY_POINT_V08 if i % 3 else "0x" + rng.randbytes(20).hex()
        cases.append((chain_id, entry_point, _random_op(rng)))
    payload = [{"chainId": c, "entryPoint": e, "op": op.to_rpc()} for c, e, op in cases]
    done = subprocess.run(
        [node, str(PEER)],
        input=json.dumps(payload).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    answers: list[dict[str, Any]] = json.loads(done.stdout)
    return cases, answers


def test_hash_equals_viem(
    viem_answers: tuple[list[tuple[int, str, UserOperation]], list[dict[str, Any]]],
) -> None:
    cases, answers = viem_answers
    assert len(answers) == len(cases)
    for (chain_id, entry_point, op), answer in zip(cases, answers, strict=True):
        assert (
            "0x" + user_operation_hash(op, entry_point=entry_point, chain_id=chain_id).hex() == answer["hash"]
        )


def test_packing_equals_viem(
    viem_answers: tuple[list[tuple[int, str, UserOperation]], list[dict[str, Any]]],
) -> None:
    cases, answers = viem_answers
    for (_, _, op), answer in zip(cases, answers, strict=True):
        packed = answer["packed"]
        assert "0x" + op.init_code.hex() == packed["initCode"].lower()
        assert "0x" + op.account_gas_limits.hex() == packed["accountGasLimits"].lower()
        assert "0x" + op.gas_fees.hex() == packed["gasFees"].lower()
        assert "0x" + op.paymaster_and_data.hex() == packed["paymasterAndData"].lower()
