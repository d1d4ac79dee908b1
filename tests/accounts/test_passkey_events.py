"""Replaying a node's PasskeyCreated / PasskeyRemoved logs (the passkey list, the Era recovery's fulfilled
check, the last-passkey removal check): whatever the node answers, the replay never raises."""

from __future__ import annotations

from eth_abi.abi import encode as abi_encode

from sso_signer.accounts._base import PASSKEY_CREATED_TOPIC, PASSKEY_REMOVED_TOPIC, registered_passkeys
from sso_signer.rpc._types import Log

VALIDATOR = "0x8888888888888888888888888888888888888888"
OWNER = bytes(12) + bytes.fromhex("e31efe3b1b8724f776C1468c06e5ffC11F37c646")


def _log(topics: list[bytes], origin: str = "https://a.example", credential: bytes = b"\x01" * 16) -> Log:
    answer = {
        "address": VALIDATOR,
        "topics": ["0x" + t.hex() for t in topics],
        "data": "0x" + abi_encode(["string", "bytes"], [origin, credential]).hex(),
    }
    return Log.from_rpc(answer)


def test_created_then_removed_keys_replay_in_order() -> None:
    logs = [
        _log([PASSKEY_CREATED_TOPIC, OWNER]),
        _log([PASSKEY_CREATED_TOPIC, OWNER], credential=b"\x02" * 16),
        _log([PASSKEY_REMOVED_TOPIC, OWNER]),
    ]
    assert registered_passkeys(logs) == [("https://a.example", b"\x02" * 16)]


def test_a_log_without_topics_or_of_another_event_is_skipped() -> None:
    # A node may answer a log with no topics (a hostile one ignores the filter): it was an IndexError out of
    # `recover status` and the passkey list.
    logs = [_log([PASSKEY_CREATED_TOPIC, OWNER]), _log([]), _log([b"\x07" * 32, OWNER])]
    assert registered_passkeys(logs) == [("https://a.example", b"\x01" * 16)]
    assert registered_passkeys([_log([])]) == []
