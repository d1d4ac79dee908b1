"""Keccak-256 for the hot paths (transaction and UserOperation hashes signed on every send).

eth-hash (through eth-utils) drives pycryptodome's Keccak through a Python hash object: a state is allocated,
wrapped, absorbed into and freed on every call, which costs about twice the hashing itself for the few hundred
bytes of a signed hash. Here each thread keeps one state of pycryptodome's compiled Keccak and resets it per
call. Same library, same compiled code, same digest (tests/test_keccak.py compares it with eth-hash); if the
compiled module's interface is not the one expected, eth-hash serves every call instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from eth_hash.auto import keccak as _eth_hash_keccak

__all__ = ["KECCAK_BACKEND", "keccak256"]

_RATE_CAPACITY_BYTES = 64  # Keccak-256: capacity 512 bits
_ROUNDS = 24
_PADDING = 0x01  # original Keccak padding, not SHA-3's 0x06


def _compiled_keccak() -> Callable[[bytes], bytes] | None:
    """A Keccak-256 function over pycryptodome's compiled module with a per-thread state, or None."""
    try:
        from Crypto.Hash.keccak import _raw_keccak_lib as lib  # type: ignore[attr-defined]
        from Crypto.Util._raw_api import SmartPointer, VoidPointer, create_string_buffer, get_raw_buffer
    except ImportError:
        return None
    local = threading.local()

    def thread_state() -> tuple[object, object]:
        pointer = VoidPointer()
        if lib.keccak_init(pointer.address_of(), _RATE_CAPACITY_BYTES, _ROUNDS):
            raise RuntimeError("pycryptodome could not allocate a Keccak state")
        # SmartPointer frees the state when the thread's storage goes away.
        owner = SmartPointer(pointer.get(), lib.keccak_destroy)
        local.state = (owner, owner.get(), create_string_buffer(32, None))
        return local.state[1], local.state[2]

    def keccak256(data: bytes) -> bytes:
        if type(data) is not bytes:  # cffi takes bytes as they are; copy a bytearray or memoryview
            data = bytes(data)
        try:
            _owner, state, out = local.state
        except AttributeError:
            state, out = thread_state()
        if (
            lib.keccak_reset(state)
            or lib.keccak_absorb(state, data, len(data))
            or lib.keccak_digest(state, out, 32, _PADDING)
        ):
            raise RuntimeError("pycryptodome's Keccak failed")
        return get_raw_buffer(out)

    # Known-answer check before trusting it: keccak256("") and a multi-block input.
    try:
        probe = bytes(range(256)) * 2
        if keccak256(b"") != _eth_hash_keccak(b"") or keccak256(probe) != _eth_hash_keccak(probe):
            return None
    except (AttributeError, TypeError, RuntimeError):  # interface drift in the private module: fall back
        return None
    return keccak256


_compiled = _compiled_keccak()

#: Which implementation :data:`keccak256` uses: ``"pycryptodome-compiled"`` or ``"eth-hash"``.
KECCAK_BACKEND = "eth-hash" if _compiled is None else "pycryptodome-compiled"

#: Keccak-256 of the given bytes (the Ethereum hash, not SHA3-256): 32 bytes.
keccak256: Callable[[bytes], bytes] = _eth_hash_keccak if _compiled is None else _compiled
