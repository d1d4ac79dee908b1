"""Test contracts assembled from opcodes (no compiler needed): one that always reverts with given bytes, one
that always returns given bytes, and the initcode that deploys either."""

from __future__ import annotations

from eth_abi.abi import encode


def _push(n: int) -> bytes:
    # PUSH2 keeps the offsets fixed-width whatever the payload size.
    return bytes([0x61]) + n.to_bytes(2, "big")


def _code_that_ends_with(payload: bytes, terminator: int) -> bytes:
    """Runtime: copy ``payload`` (appended to the code) to memory, then RETURN (0xf3) or REVERT (0xfd) it."""
    prefix_len = 3 + 3 + 2 + 1 + 3 + 2 + 1  # PUSH2 len, PUSH2 off, PUSH1 0, CODECOPY, PUSH2 len, PUSH1 0, op
    return (
        _push(len(payload))
        + _push(prefix_len)
        + bytes([0x60, 0x00, 0x39])  # PUSH1 0, CODECOPY(mem 0, code off, len)
        + _push(len(payload))
        + bytes([0x60, 0x00, terminator])
        + payload
    )


def initcode_for(runtime: bytes) -> bytes:
    """Initcode that deploys ``runtime`` unchanged."""
    return _code_that_ends_with(runtime, 0xF3)


def reverting_runtime(data: bytes) -> bytes:
    """Runtime that reverts with ``data`` on every call."""
    return _code_that_ends_with(data, 0xFD)


def returning_runtime(data: bytes) -> bytes:
    """Runtime that returns ``data`` on every call."""
    return _code_that_ends_with(data, 0xF3)


def error_string(reason: str) -> bytes:
    """ABI-encoded ``Error(string)`` revert data."""
    return bytes.fromhex("08c379a0") + encode(["string"], [reason])


def panic(code: int) -> bytes:
    """ABI-encoded ``Panic(uint256)`` revert data."""
    return bytes.fromhex("4e487b71") + encode(["uint256"], [code])


def logging_runtime(topic: bytes) -> bytes:
    """Runtime that emits ``LOG1(topic)`` with empty data on every call."""
    assert len(topic) == 32
    return (
        bytes([0x7F]) + topic + bytes([0x60, 0x00, 0x60, 0x00, 0xA1, 0x00])
    )  # PUSH32, PUSH1 0 x2, LOG1, STOP
