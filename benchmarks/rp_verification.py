"""Relying-party verification: the SDK's full assertion check vs raw py_webauthn calls.

Not a test: it prints figures. Run from the repository root::

    .venv/bin/python benchmarks/rp_verification.py [-n 2000] [--json]

Every row verifies the same N browser-form assertions (AuthenticationResponseJSON dicts from a headless
passkey, each over its own 32-byte challenge, counters increasing), starting from the JSON:

* ``raw py_webauthn``: ``webauthn.verify_authentication_response`` (UV required, the stored COSE key);
* ``sso-signer verify_assertion``: ``Assertion.from_json`` + :func:`sso_signer.webauthn.verify_assertion`,
  the SDK's full check (type, challenge, origin allow-list and registered origin, crossOrigin, rpIdHash,
  UP/UV, userHandle, strict DER, signature, counter); and with ``cross_check=True``, which also runs
  py_webauthn as a second verifier (what every verification did before this benchmark);
* ``sso-signer RelyingParty``: the whole ceremony against a :class:`SQLiteStore` in memory —
  ``authentication_options`` (stores the challenge) then ``verify_authentication`` (looks the credential up,
  consumes the challenge, records the counter). Bookkeeping included, so not comparable one to one.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import webauthn
from _common import emit, print_table

from sso_signer.webauthn import Assertion, HeadlessPasskey, RelyingParty, SQLiteStore, verify_assertion

RP_ID = "localhost"
ORIGIN = "http://localhost:5173"


@dataclass(frozen=True, slots=True)
class Figures:
    """Assertions verified per second per row, and the ratio the issue sets a goal for."""

    n: int
    raw: float
    sdk: float
    sdk_cross_check: float
    relying_party: float
    sdk_time_over_raw: float


def _assertions(passkey: HeadlessPasskey, n: int, start: int = 0) -> list[tuple[bytes, dict[str, Any]]]:
    out = []
    for i in range(start, start + n):
        challenge = i.to_bytes(32, "big")
        out.append((challenge, passkey.sign(challenge).to_json()))
    return out


def _best(work: Callable[[], None], n: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return n / best


def measure(n: int) -> Figures:
    """Verify ``n`` assertions with each method (best of five interleaved rounds)."""
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    credential = passkey.credential
    batch = _assertions(passkey, n)

    def raw() -> None:
        for challenge, response in batch:
            webauthn.verify_authentication_response(
                credential=response,
                expected_challenge=challenge,
                expected_rp_id=RP_ID,
                expected_origin=ORIGIN,
                credential_public_key=credential.cose_key,
                credential_current_sign_count=credential.sign_count,
                require_user_verification=True,
            )

    def sdk(cross_check: bool) -> Callable[[], None]:
        def work() -> None:
            for challenge, response in batch:
                verify_assertion(
                    Assertion.from_json(response),
                    credential,
                    expected_challenge=challenge,
                    rp_id=RP_ID,
                    origins=(ORIGIN,),
                    cross_check=cross_check,
                )

        return work

    # Interleaved rounds: the machine's speed drifts, and the ratio of rows timed apart would carry the drift.
    works = {"raw": raw, "sdk": sdk(False), "cross": sdk(True)}
    rates = dict.fromkeys(works, 0.0)
    for _ in range(5):
        for name, work in works.items():
            rates[name] = max(rates[name], _best(work, n, repeats=1))
    raw_rate, sdk_rate, cross_rate = rates["raw"], rates["sdk"], rates["cross"]

    # The relying party consumes challenges and records counters, so each run needs fresh assertions.
    store = SQLiteStore(":memory:")
    party = RelyingParty(rp_id=RP_ID, rp_name="bench", origins=ORIGIN, store=store)
    store.add_credential(credential)
    runs = [_assertions(passkey, n, start=n * (k + 1)) for k in range(3)]

    def ceremony(run: list[tuple[bytes, dict[str, Any]]]) -> Callable[[], None]:
        def work() -> None:
            for challenge, response in run:
                party.authentication_options(challenge, credential_ids=[credential.credential_id])
                party.verify_authentication(response, expected_challenge=challenge)

        return work

    party_rate = max(_best(ceremony(run), n, repeats=1) for run in runs)
    store.close()
    return Figures(
        n=n,
        raw=raw_rate,
        sdk=sdk_rate,
        sdk_cross_check=cross_rate,
        relying_party=party_rate,
        sdk_time_over_raw=raw_rate / sdk_rate,
    )


def print_figures(f: Figures) -> None:
    """Print the table of :func:`measure`."""
    print_table(
        f"Relying-party verification of N={f.n} assertions (from AuthenticationResponseJSON)",
        ["method", "assertions/s", "us each", "time / raw"],
        [
            ["raw py_webauthn verify_authentication_response", f.raw, 1e6 / f.raw, 1.0],
            ["sso-signer Assertion.from_json + verify_assertion", f.sdk, 1e6 / f.sdk, f.raw / f.sdk],
            [
                "  the same with cross_check=True (+ py_webauthn)",
                f.sdk_cross_check,
                1e6 / f.sdk_cross_check,
                f.raw / f.sdk_cross_check,
            ],
            [
                "sso-signer RelyingParty (options + verify, SQLite)",
                f.relying_party,
                1e6 / f.relying_party,
                f.raw / f.relying_party,
            ],
        ],
    )
    print(f"sso-signer full check / raw py_webauthn = {f.sdk_time_over_raw:.2f}x the time (goal <= 1.1x)")


def main() -> int:
    parser = argparse.ArgumentParser(description="relying-party verification benchmark")
    parser.add_argument("-n", type=int, default=2000, help="assertions per timed run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = measure(args.n)
    emit(figures, print_figures, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
