"""The hot-path Keccak-256 (sso_signer._keccak) gives eth-hash's digests, on every thread."""

from __future__ import annotations

import threading

from eth_hash.auto import keccak as eth_hash_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from sso_signer._keccak import KECCAK_BACKEND, keccak256


def test_backend_is_the_compiled_one_here() -> None:
    # The pinned pycryptodome has the interface; a fallback here would silently lose the speed-up.
    assert KECCAK_BACKEND == "pycryptodome-compiled"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1200))
def test_matches_eth_hash(data: bytes) -> None:
    assert keccak256(data) == eth_hash_keccak(data)


def test_known_answers_and_bytes_likes() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    assert keccak256(bytearray(b"abc")) == keccak256(memoryview(b"abc")) == keccak256(b"abc")  # type: ignore[arg-type]


def test_threads_do_not_share_a_state() -> None:
    inputs = [bytes([i]) * (100 + 37 * i) for i in range(8)]
    results: dict[int, list[bytes]] = {}
    barrier = threading.Barrier(len(inputs))

    def work(i: int) -> None:
        barrier.wait()
        results[i] = [keccak256(inputs[i]) for _ in range(300)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, data in enumerate(inputs):
        assert set(results[i]) == {eth_hash_keccak(data)}
