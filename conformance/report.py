"""The conformance report: per vector source, cases run / agreed / disagreed.

    .venv/bin/python -m conformance.report            # everything (starts an anvil for the chain half)
    .venv/bin/python -m conformance.report --no-chain # the Python half only
    .venv/bin/python -m conformance.report --verbose  # also list every disagreement and unloadable fixture

Exit status 0 when every source ran with zero disagreements, 1 otherwise, 2 when fixtures are missing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from conformance._fixtures import FixtureMissing
from conformance.device_verdicts import DEVICE_VERDICTS
from conformance.devices import load_fido2_fixtures, load_webauthn_fixtures, sdk_verdict, signature_verifies
from conformance.ecdsa_vectors import (
    ChainRule,
    EcdsaCase,
    expected_chain_rule,
    load_nist_sigver,
    load_wycheproof,
    python_verdict,
)
from conformance.precompile_cases import precompile_cases
from sso_signer.webauthn._p256 import P256_HALF_N

__all__ = ["SourceResult", "main", "run_chain", "run_python"]


@dataclass(slots=True)
class SourceResult:
    """The outcome for one vector source.

    Attributes:
        source: Name of the source and of what ran it.
        run: Cases run.
        agreed: Cases whose verdict matched the documented one.
        disagreements: ``case: expected ..., got ...`` lines.
        not_loadable: Fixtures found but not run (with why).
        seconds: Wall time.
    """

    source: str
    run: int = 0
    agreed: int = 0
    disagreements: list[str] = field(default_factory=list)
    not_loadable: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, name: str, expected: object, got: object) -> None:
        """Count one case."""
        self.run += 1
        if expected == got:
            self.agreed += 1
        else:
            self.disagreements.append(f"{name}: expected {expected}, got {got}")


def _timed(source: str, body: Callable[[SourceResult], None]) -> SourceResult:
    result = SourceResult(source)
    start = time.perf_counter()
    body(result)
    result.seconds = time.perf_counter() - start
    return result


def _ecdsa_sources() -> list[tuple[str, Callable[[], list[EcdsaCase]]]]:
    return [
        ("wycheproof-der", lambda: load_wycheproof("der")),
        ("wycheproof-p1363", lambda: load_wycheproof("p1363")),
        ("nist-sigver", load_nist_sigver),
    ]


def run_python() -> list[SourceResult]:
    """The Python half: ECDSA vectors through the SDK's parsing and verification, device fixtures through its
    registration and assertion handling.

    Raises:
        FixtureMissing: If scripts/fetch_fixtures.sh has not run.
    """
    results = []
    for name, loader in _ecdsa_sources():

        def ecdsa(result: SourceResult, loader: Callable[[], list[EcdsaCase]] = loader) -> None:
            for case in loader():
                verdict = python_verdict(case)
                result.add(
                    case.name,
                    "accepted" if case.valid else "rejected",
                    "accepted" if verdict.accepted else "rejected",
                )

        results.append(_timed(f"{name} (python: sso_signer.webauthn)", ecdsa))

    for label, device_loader in (
        ("py_webauthn", load_webauthn_fixtures),
        ("python-fido2", load_fido2_fixtures),
    ):

        def devices(result: SourceResult, device_loader: Callable[..., tuple] = device_loader) -> None:  # type: ignore[type-arg]
            fixtures, skipped = device_loader()
            result.not_loadable = list(skipped)
            for fixture in fixtures:
                documented = DEVICE_VERDICTS.get(fixture.name)
                if documented is None:
                    result.add(fixture.name, "a documented verdict", "none in device_verdicts.py")
                    continue
                verdict, signature, _ = documented
                result.add(
                    fixture.name, (verdict, signature), (sdk_verdict(fixture), signature_verifies(fixture))
                )

        results.append(_timed(f"{label} real-device fixtures (python: registration/assertion)", devices))
    return results


def run_chain() -> list[SourceResult]:
    """The chain half on a fresh ``anvil --hardfork osaka``: the validator's signature rules and the
    precompile for every representable ECDSA vector, the EIP-7951 cases, the real Era validator.

    Raises:
        FixtureMissing: If fixtures are missing or the harness cannot be compiled.
        ToolNotFound (``NODE_BINARY_NOT_FOUND``): If anvil is not installed.
        ConfigurationError (``ARTIFACT_NOT_FOUND``): If the contracts are not built.
    """
    from conformance.chain import SignatureHarness, era_validator_cases, erc4337_validator_cases
    from sso_signer.node import AnvilNode

    results = []
    with AnvilNode(hardfork="osaka") as node:
        harness = SignatureHarness.deploy(node)
        for name, loader in _ecdsa_sources():

            def on_chain(result: SourceResult, loader: Callable[[], list[EcdsaCase]] = loader) -> None:
                rows, expected, names = [], [], []
                for case in loader():
                    words, key = case.chain_words(), case.key_words()
                    if words is None or key is None:
                        result.not_loadable.append(f"{case.name}: not representable as (r, s) words")
                        continue
                    digest, r, s = words
                    if r >= 2**256 or s >= 2**256:
                        result.not_loadable.append(f"{case.name}: r or s wider than 256 bits")
                        continue
                    rows.append((digest, r, s, *key))
                    expected.append(expected_chain_rule(r, s, case.valid))
                    names.append(case.name)
                rules = harness.validator_rules(rows)
                erc4337 = harness.erc4337_verdicts(rows)
                answers = harness.precompile_answers(
                    [h + b"".join(v.to_bytes(32, "big") for v in (r, s, x, y)) for h, r, s, x, y in rows]
                )
                by_name = {c.name: c for c in loader()}
                for case_name, want, got, answer, accepted, row in zip(
                    names, expected, rules, answers, erc4337, rows, strict=True
                ):
                    valid = by_name[case_name].valid
                    result.add(
                        f"{case_name} validator", ChainRule.NAMES[want], ChainRule.NAMES.get(got, str(got))
                    )
                    result.add(f"{case_name} precompile", 1 if valid else 0, answer)
                    # The ERC-4337 validator: ECDSA-valid and low s (solady refuses s > n/2).
                    result.add(f"{case_name} erc4337 validator", valid and row[2] <= P256_HALF_N, accepted)

            results.append(_timed(f"{name} (anvil: Era + ERC-4337 validator rules, precompile)", on_chain))

        def eip7951(result: SourceResult) -> None:
            cases = precompile_cases()
            answers = harness.precompile_answers([c.data for c in cases])
            for case, answer in zip(cases, answers, strict=True):
                result.add(f"precompile: {case.name}", 1 if case.valid else 0, answer)
            rows = [(c, c.row()) for c in cases]
            with_rows = [(c, row) for c, row in rows if row is not None and c.validator_rule is not None]
            rules = harness.validator_rules([row for _, row in with_rows])
            erc4337 = harness.erc4337_verdicts([row for _, row in with_rows])
            for (case, row), accepted in zip(with_rows, erc4337, strict=True):
                result.add(f"erc4337 validator: {case.name}", case.valid and row[2] <= P256_HALF_N, accepted)
            for (case, _), rule in zip(with_rows, rules, strict=True):
                assert case.validator_rule is not None
                result.add(
                    f"validator rule: {case.name}",
                    ChainRule.NAMES[case.validator_rule],
                    ChainRule.NAMES.get(rule, str(rule)),
                )
            for verdict in [*era_validator_cases(node), *erc4337_validator_cases(node)]:
                result.add(verdict.name, verdict.expected, verdict.got)

        results.append(
            _timed("eip-7951: precompile, both validators (harness and deployed) (anvil)", eip7951)
        )
    return results


def _print(results: Sequence[SourceResult], verbose: bool) -> None:
    width = max(len(r.source) for r in results)
    print(f"{'source':<{width}}  {'run':>5}  {'agreed':>6}  {'disagreed':>9}  {'not run':>7}  {'time':>6}")
    for r in results:
        print(
            f"{r.source:<{width}}  {r.run:>5}  {r.agreed:>6}  {len(r.disagreements):>9}  "
            f"{len(r.not_loadable):>7}  {r.seconds:>5.1f}s"
        )
    total_run = sum(r.run for r in results)
    total_bad = sum(len(r.disagreements) for r in results)
    print(f"{'total':<{width}}  {total_run:>5}  {total_run - total_bad:>6}  {total_bad:>9}")
    for r in results:
        for line in (
            r.disagreements if not verbose else [*r.disagreements, *(f"not run: {x}" for x in r.not_loadable)]
        ):
            print(f"  [{r.source}] {line}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the report; see the module docstring for the options and exit codes."""
    parser = argparse.ArgumentParser(prog="python -m conformance.report", description=__doc__.splitlines()[0])
    parser.add_argument("--no-chain", action="store_true", help="skip the anvil half")
    parser.add_argument("--verbose", action="store_true", help="list unloadable fixtures too")
    args = parser.parse_args(argv)
    try:
        results = run_python()
        if not args.no_chain:
            results += run_chain()
    except FixtureMissing as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 2
    _print(results, args.verbose)
    return 0 if all(not r.disagreements and r.run for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
