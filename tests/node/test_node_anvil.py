"""The local node managers: anvil start/stop, readiness, accounts, logs, failures; anvil-zksync if present."""

from __future__ import annotations

import os
import pathlib
import shutil
import time

import pytest
from eth_account import Account

from sso_signer.exceptions import ErrorCode, NodeStartFailed
from sso_signer.node import AnvilNode, AnvilZkSyncNode, start_local_node
from sso_signer.node._anvil import DEV_MNEMONIC, dev_accounts
from sso_signer.node._process import redact
from sso_signer.rpc import JsonRpcClient, RetryPolicy
from tests.errors import raises_rule
from tests.needs import new_anvil

pytestmark = pytest.mark.chain


def _pid_alive(pid: int) -> bool:
    # A zombie still has /proc/<pid>; its state letter is Z. Reaped processes have no entry at all.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_start_is_fast_and_stop_reaps() -> None:
    node = new_anvil()
    started = time.monotonic()
    with node:
        elapsed = time.monotonic() - started
        # Typically 0.1-0.5 s; the bound leaves room for a loaded CI machine.
        assert elapsed < 2.5, f"anvil took {elapsed:.2f} s to become ready"
        pid = node.pid
        assert pid is not None
        assert _pid_alive(pid)
        assert node.chain_id == 31337
        assert node.url.startswith("http://127.0.0.1:")
        assert node.eth.get_code("0x0000000000000000000000000000000000000100") == b""  # precompile: no code
        log_path = node.log_path
        assert log_path is not None
        assert os.path.exists(log_path)
        url = node.url
    assert not _pid_alive(pid)
    assert not os.path.exists(log_path)  # deleted on a clean stop by default
    with raises_rule(ErrorCode.RPC_CONNECTION), JsonRpcClient(url, retry=RetryPolicy(attempts=1)) as rpc:
        rpc.request("eth_chainId")
    with raises_rule(ErrorCode.NODE_NOT_RUNNING):
        _ = node.url
    node.stop()  # twice is fine


def test_accounts_are_the_funded_dev_accounts() -> None:
    with new_anvil() as node:
        expected = dev_accounts(10)
        assert [a.address for a in node.accounts] == [a.address for a in expected]
        assert node.accounts[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        for account in node.accounts[:3]:
            assert node.eth.get_balance(account.address) == 10_000 * 10**18


def test_two_nodes_run_side_by_side() -> None:
    with new_anvil() as first, AnvilNode(chain_id=4242) as second:
        assert first.port != second.port
        assert (first.eth.chain_id(), second.eth.chain_id()) == (31337, 4242)


def test_p256_precompile_is_served() -> None:
    # EIP-7951 on osaka: verify a real P-256 signature at 0x100 (32-byte 1 on success, empty on failure).
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = ec.generate_private_key(ec.SECP256R1())
    digest_input = b"sso-signer node test"
    r, s = decode_dss_signature(key.sign(digest_input, ec.ECDSA(hashes.SHA256())))
    h = hashes.Hash(hashes.SHA256())
    h.update(digest_input)
    numbers = key.public_key().public_numbers()
    words = [int.from_bytes(h.finalize(), "big"), r, s, numbers.x, numbers.y]
    data = b"".join(w.to_bytes(32, "big") for w in words)
    with new_anvil() as node:
        precompile = "0x0000000000000000000000000000000000000100"
        assert node.eth.call({"to": precompile, "data": data}) == (1).to_bytes(32, "big")
        bad = data[:-1] + bytes([data[-1] ^ 1])
        assert node.eth.call({"to": precompile, "data": bad}) == b""


def test_snapshot_and_revert() -> None:
    with new_anvil() as node:
        target = Account.create().address
        snap = node.snapshot()
        node.set_balance(target, 5)
        assert node.eth.get_balance(target) == 5
        assert node.revert(snap)
        assert node.eth.get_balance(target) == 0
        height = node.eth.block_number()
        node.mine(3)
        assert node.eth.block_number() == height + 3


def test_failed_start_raises_with_redacted_log_tail() -> None:
    with new_anvil() as node:
        # A second anvil on a port that is taken exits at once; the error carries its log.
        clash = AnvilNode(port=node.port)
        with pytest.raises(NodeStartFailed) as info:
            clash.start()
        assert "exited" in str(info.value)
        assert info.value.log_tail
        assert not clash.running


def test_missing_binary_is_a_configuration_error() -> None:
    with raises_rule(ErrorCode.NODE_BINARY_NOT_FOUND):
        AnvilNode(binary="/nonexistent/anvil")


def test_redact_removes_keys_and_mnemonic() -> None:
    key = dev_accounts(1)[0].key.hex()
    bare = key.removeprefix("0x")
    banner = f"Private Keys\n============\n\n(0) 0x{bare}\n\nMnemonic:          {DEV_MNEMONIC}\n"
    cleaned = redact(banner)
    assert key.removeprefix("0x") not in cleaned
    assert "junk" not in cleaned
    assert "(0) <redacted>" in cleaned


@pytest.mark.anvil_zksync
def test_anvil_zksync_node_when_present() -> None:
    if shutil.which("anvil-zksync") is None:
        pytest.skip("anvil-zksync not on PATH: it is not installable from any registry reachable here")
    with AnvilZkSyncNode() as node:
        assert node.chain_id == 260
        assert node.accounts
        assert node.eth.get_balance(node.accounts[0].address) > 0


def test_start_local_node_falls_back_tonew_anvil() -> None:
    if shutil.which("anvil-zksync") is not None:
        pytest.skip("anvil-zksync is on PATH: the fallback to anvil cannot be observed")
    new_anvil()  # skip early if anvil itself is missing
    node = start_local_node(prefer="anvil-zksync")
    try:
        assert isinstance(node, AnvilNode)
        assert node.eth.chain_id() == 31337
    finally:
        node.stop()


def test_anvil_zksync_command_line() -> None:
    node = AnvilZkSyncNode(binary="/bin/true", chain_id=270, extra_args=("--offline",))
    assert node.argv(8011) == [
        "/bin/true",
        "--host",
        "127.0.0.1",
        "--port",
        "8011",
        "--chain-id",
        "270",
        "--offline",
        "run",
    ]
    assert not AnvilZkSyncNode.available("/nonexistent/anvil-zksync")


def test_anvil_zksync_process_that_exits_is_reported() -> None:
    # A real executable that exits at once stands in for a broken install: start() must fail typed and
    # leave nothing running.
    node = AnvilZkSyncNode(binary="/bin/false", startup_timeout=5)
    with pytest.raises(NodeStartFailed, match="exited with code 1"):
        node.start()
    assert not node.running
    with raises_rule(ErrorCode.NODE_NOT_RUNNING):
        _ = node.url


def test_custom_mnemonic_gives_other_funded_accounts() -> None:
    mnemonic = "legal winner thank year wave sausage worth useful legal winner thank yellow"
    with new_anvil(mnemonic=mnemonic, accounts=2) as node:
        expected = dev_accounts(2, mnemonic)
        assert [a.address for a in node.accounts] == [a.address for a in expected]
        assert node.accounts[0].address != dev_accounts(1)[0].address
        assert node.eth.get_balance(node.accounts[1].address) == 10_000 * 10**18
        assert mnemonic not in node.log_text()


def test_unexecutable_binary_fails_typed_and_leaves_no_log(tmp_path: pathlib.Path) -> None:
    from sso_signer.node._process import ManagedProcess

    not_executable = tmp_path / "anvil"
    not_executable.write_text("not a program")
    process = ManagedProcess("anvil", [str(not_executable)])
    with pytest.raises(NodeStartFailed, match="cannot execute"):
        process.spawn()
    assert process.log_path is not None
    assert not process.log_path.exists()


def test_printed_private_keys_are_parsed_in_order() -> None:
    from sso_signer.node._anvil import printed_private_keys

    keys = [account.key.hex().removeprefix("0x") for account in dev_accounts(3)]
    banner = "\n".join(
        [
            "Rich Accounts",
            "(0) 0x0000000000000000000000000000000000000001 (10000 ETH)",
            "Private Keys",
            *(f"({i}) 0x{key}" for i, key in enumerate(keys)),
            "Again, for another table",
            f"(0) 0x{keys[0].upper()}",
        ]
    )
    assert printed_private_keys(banner) == tuple("0x" + key for key in keys)
    assert printed_private_keys("no keys here") == ()
