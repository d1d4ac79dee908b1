"""The deployment file as an attacker with write access to its directory, or a hostile path, would use it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from sso_signer.accounts import EraNetwork
from sso_signer.cli._deploy import Deployment, load_deployment
from sso_signer.exceptions import ErrorCode
from sso_signer.webauthn._keyfile import read_key_file
from tests.errors import raises_rule


def _deployment(chain_id: int = 260) -> Deployment:
    return Deployment(chain_id=chain_id, rpc_url="http://127.0.0.1:8545", era=None, erc4337=None)


def test_save_does_not_follow_a_planted_temporary_link(tmp_path: Path) -> None:
    # The temporary name was fixed (.NAME.tmp) and opened following links: a link planted there by anyone
    # who can write the directory made save() overwrite the link's target.
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target = tmp_path / "deployment.json"
    (tmp_path / ".deployment.json.tmp").symlink_to(victim)
    _deployment().save(target)
    assert victim.read_text() == "precious\n"
    assert load_deployment(target).chain_id == 260
    assert not target.is_symlink()


def test_concurrent_saves_leave_one_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "deployment.json"
    errors: list[BaseException] = []

    def save(chain_id: int) -> None:
        try:
            for _ in range(50):
                _deployment(chain_id).save(target)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(chain_id,)) for chain_id in (1, 2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert load_deployment(target).chain_id in (1, 2, 3, 4)
    assert [p.name for p in tmp_path.iterdir()] == ["deployment.json"]  # no temporary left behind


def test_a_deployment_path_that_never_ends_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero on this system")
    # read_bytes() read the whole "file" before the size bound was checked: /dev/zero never returned.
    with raises_rule(ErrorCode.INVALID_DEPLOYMENT, match="limit"):
        load_deployment("/dev/zero")


def test_the_era_section_reader_is_bounded_too() -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero on this system")
    with raises_rule(ErrorCode.INVALID_DEPLOYMENT, match="limit"):
        EraNetwork.from_deployment("/dev/zero")


def test_a_key_file_path_that_never_ends_is_refused() -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero on this system")
    # The size check read stat(), which says 0 for a device: the whole "file" was then read.
    with raises_rule(ErrorCode.INVALID_KEY_FILE, match="too large"):
        read_key_file("/dev/zero")
