"""Generators of valid 0x71 transactions: hypothesis strategies and a seeded corpus for peer cross-checks."""

from __future__ import annotations

import random

from eth_utils.address import to_checksum_address
from hypothesis import strategies as st

from sso_signer.zksync import Eip712Transaction, PaymasterParams
from sso_signer.zksync._paymaster import approval_based_paymaster_input, general_paymaster_input

UINT256_MAX = (1 << 256) - 1

# -- hypothesis --

addresses = st.binary(min_size=20, max_size=20).map(lambda b: str(to_checksum_address(b)))

# Mix small values (the usual case, and the 0 / 1-byte RLP edges) with the full 256-bit range.
uint256 = st.one_of(st.integers(0, 0x1_0000), st.integers(0, UINT256_MAX))


@st.composite
def bytecodes(draw: st.DrawFn, max_words: int = 7) -> bytes:
    """An EraVM-valid bytecode: an odd number of 32-byte words."""
    words = 2 * draw(st.integers(0, (max_words - 1) // 2)) + 1
    return draw(st.binary(min_size=32 * words, max_size=32 * words))


@st.composite
def paymaster_params(draw: st.DrawFn) -> PaymasterParams:
    """Paymaster params with a general, approval-based or arbitrary input."""
    kind = draw(st.sampled_from(["general", "approval", "raw"]))
    inner = draw(st.binary(max_size=80))
    if kind == "general":
        data = general_paymaster_input(inner)
    elif kind == "approval":
        data = approval_based_paymaster_input(draw(addresses), draw(uint256), inner)
    else:
        data = inner
    return PaymasterParams(draw(addresses), data)


@st.composite
def transactions(draw: st.DrawFn) -> Eip712Transaction:
    """Any valid :class:`Eip712Transaction` (priority fee never above the fee cap)."""
    max_fee = draw(uint256)
    return Eip712Transaction(
        chain_id=draw(st.integers(1, UINT256_MAX) | st.sampled_from([260, 300, 324])),
        nonce=draw(uint256),
        from_address=draw(addresses),
        to=draw(st.none() | addresses),
        value=draw(uint256),
        data=draw(st.binary(max_size=200)),
        gas_limit=draw(uint256),
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=draw(st.integers(0, max_fee)),
        gas_per_pubdata=draw(uint256),
        factory_deps=tuple(draw(st.lists(bytecodes(), max_size=3))),
        custom_signature=draw(st.binary(max_size=300)),
        paymaster_params=draw(st.none() | paymaster_params()),
    )


# -- seeded corpus for peers --


def _pick_uint(rng: random.Random, bits: int) -> int:
    # Several magnitudes, so RLP integers of every length from 0 to 32 bytes appear.
    return rng.getrandbits(rng.randint(0, bits))


def peer_corpus(count: int = 256, seed: int = 0x71) -> list[Eip712Transaction]:
    """A deterministic corpus of transactions the peers can take.

    Peers' limits shape it: zksync-ethers replaces a zero priority fee by the fee cap (so priority fees are
    non-zero), cannot hash a transaction without ``to``, keeps nonces as JS numbers (below 2**53) and refuses
    an empty ``customSignature`` only when given explicitly (the peer script then leaves it out).
    """
    rng = random.Random(seed)
    txs = []
    for i in range(count):
        max_fee = 1 + _pick_uint(rng, 255)
        paymaster = None
        if i % 3 == 1:
            inner = rng.randbytes(rng.randint(0, 70))
            if i % 2:
                data = general_paymaster_input(inner)
            else:
                token = str(to_checksum_address(rng.randbytes(20)))
                data = approval_based_paymaster_input(token, _pick_uint(rng, 256), inner)
            paymaster = PaymasterParams(str(to_checksum_address(rng.randbytes(20))), data)
        deps = tuple(rng.randbytes(32 * (2 * rng.randint(0, 3) + 1)) for _ in range(rng.choice([0, 0, 1, 2])))
        txs.append(
            Eip712Transaction(
                chain_id=rng.choice([260, 270, 280, 300, 324, 1 + _pick_uint(rng, 64)]),
                nonce=_pick_uint(rng, 53) if i % 4 else rng.randint(0, 1000),
                from_address=str(to_checksum_address(rng.randbytes(20))),
                to=str(to_checksum_address(rng.randbytes(20))),
                value=_pick_uint(rng, 256),
                data=rng.randbytes(rng.choice([0, 4, 36, 68, 100, 257])),
                gas_limit=_pick_uint(rng, 64),
                max_fee_per_gas=max_fee,
                max_priority_fee_per_gas=rng.randint(1, max_fee),
                gas_per_pubdata=1 + _pick_uint(rng, 32),
                factory_deps=deps,
                custom_signature=rng.randbytes(rng.choice([0, 65, 96, 736])),
                paymaster_params=paymaster,
            )
        )
    return txs
