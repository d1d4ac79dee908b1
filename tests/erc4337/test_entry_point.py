"""EntryPoint v0.8 deployment through the deterministic deployer, on a real anvil (osaka)."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import pytest
from eth_utils.crypto import keccak

from sso_signer.erc4337 import ENTRY_POINT_V08, EntryPoint, deploy_entry_point_v08
from sso_signer.erc4337._entry_point import (
    DETERMINISTIC_DEPLOYER,
    ENTRY_POINT_V08_INITCODE_HASH,
    load_entry_point_v08_initcode,
)
from sso_signer.erc4337._user_operation import SENDER_CREATOR_V08
from sso_signer.exceptions import EntryPointError, ErrorCode
from sso_signer.node import AnvilNode
from tests.errors import raises_rule
from tests.needs import started_anvil

pytestmark = pytest.mark.chain


@pytest.fixture
def anvil() -> Iterator[AnvilNode]:
    with started_anvil() as node:
        yield node


def test_artifact_is_the_canonical_initcode() -> None:
    try:
        initcode = load_entry_point_v08_initcode()
    except EntryPointError as exc:
        pytest.skip(f"npm @account-abstraction/contracts@0.8.0 not installed: {exc}")
    assert keccak(initcode) == ENTRY_POINT_V08_INITCODE_HASH


def test_missing_or_foreign_artifact_is_refused(tmp_path: pathlib.Path) -> None:
    # Missing is a configuration error naming the command that installs it, not a mismatch.
    with raises_rule(ErrorCode.TOOL_NOT_FOUND, match="sso-signer setup"):
        load_entry_point_v08_initcode(tmp_path)
    artifact = tmp_path / "@account-abstraction" / "contracts" / "artifacts" / "EntryPoint.json"
    artifact.parent.mkdir(parents=True)
    artifact.write_text(json.dumps({"bytecode": "0x6080604052"}))
    with raises_rule(ErrorCode.ENTRY_POINT_ARTIFACT_MISMATCH, match="not the canonical"):
        load_entry_point_v08_initcode(tmp_path)


def test_deploys_at_the_canonical_address_once(anvil: AnvilNode) -> None:
    eth, deployer = anvil.eth, anvil.accounts[0]
    assert eth.get_code(ENTRY_POINT_V08) == b""
    assert deploy_entry_point_v08(eth, deployer) == ENTRY_POINT_V08
    assert len(eth.get_code(ENTRY_POINT_V08)) > 20_000
    nonce = eth.get_transaction_count(deployer.address)
    assert deploy_entry_point_v08(eth, deployer) == ENTRY_POINT_V08  # idempotent: nothing sent
    assert eth.get_transaction_count(deployer.address) == nonce
    # The SenderCreator it made is the canonical one (initCode deployments depend on it).
    raw = eth.call({"to": ENTRY_POINT_V08, "data": keccak(b"senderCreator()")[:4]})
    assert raw[-20:].hex() == SENDER_CREATOR_V08[2:].lower()
    entry_point = EntryPoint(eth)
    assert entry_point.get_nonce(deployer.address, key=7) == 7 << 64
    assert entry_point.balance_of(deployer.address) == 0
    beneficiary = anvil.accounts[3].address
    receipt = entry_point.deposit_to(deployer, beneficiary, 12345)
    assert receipt.status == 1
    assert entry_point.balance_of(beneficiary) == 12345


def test_no_deterministic_deployer_is_a_typed_failure(anvil: AnvilNode) -> None:
    anvil.set_code(DETERMINISTIC_DEPLOYER, b"")
    with raises_rule(ErrorCode.ENTRY_POINT_DEPLOYMENT_FAILED, match="deterministic deployer"):
        deploy_entry_point_v08(anvil.eth, anvil.accounts[0])


def test_reads_without_entry_point_code_are_typed(anvil: AnvilNode) -> None:
    entry_point = EntryPoint(anvil.eth)
    with raises_rule(ErrorCode.ENTRY_POINT):
        entry_point.get_nonce(anvil.accounts[0].address)
    with raises_rule(ErrorCode.ENTRY_POINT):
        entry_point.get_sender_address(b"\x00" * 20)


def test_a_failing_factory_call_is_typed_not_the_zero_address(anvil: AnvilNode) -> None:
    deploy_entry_point_v08(anvil.eth, anvil.accounts[0])
    entry_point = EntryPoint(anvil.eth)
    # The EntryPoint as "factory": an unknown selector reverts, so the SenderCreator answers address 0.
    init_code = bytes.fromhex(ENTRY_POINT_V08[2:]) + bytes.fromhex("deadbeef")
    with raises_rule(ErrorCode.FACTORY_CALL_FAILED, match="zero address") as caught:
        entry_point.get_sender_address(init_code)
    assert ENTRY_POINT_V08[2:].lower() in str(caught.value)
    assert isinstance(caught.value, EntryPointError)
