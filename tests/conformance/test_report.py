"""The conformance report's core in CI: every public vector gives its documented verdict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conformance import report
from conformance.chain import HarnessBuildFailed
from conformance.device_verdicts import DEVICE_VERDICTS
from conformance.devices import load_fido2_fixtures, load_webauthn_fixtures
from conformance.ecdsa_vectors import (
    ChainRule,
    expected_chain_rule,
    load_nist_sigver,
    load_wycheproof,
    python_verdict,
)
from sso_signer.exceptions import ConfigurationError, ToolNotFound
from sso_signer.webauthn._p256 import P256_HALF_N, P256_N

pytestmark = pytest.mark.usefixtures("fixtures_present")


def test_python_half_has_zero_disagreements() -> None:
    results = report.run_python()
    assert {r.source.split(" ")[0] for r in results} == {
        "wycheproof-der",
        "wycheproof-p1363",
        "nist-sigver",
        "py_webauthn",
        "python-fido2",
    }
    for result in results:
        assert result.run > 0, result.source
        assert result.disagreements == [], result.source
        assert result.agreed == result.run


def test_every_wycheproof_case_matches_its_result() -> None:
    cases = load_wycheproof("der") + load_wycheproof("p1363")
    assert len(cases) == 484 + 262
    for case in cases:
        verdict = python_verdict(case)  # only the SDK's typed errors may be raised
        assert verdict.accepted is case.valid, (case.name, case.comment, str(verdict))


def test_strict_der_rejects_ber_with_a_named_error() -> None:
    ber = [c for c in load_wycheproof("der") if "BerEncodedSignature" in c.comment]
    assert ber
    assert {python_verdict(c).error for c in ber} <= {"non_canonical_der", "invalid_der_signature"}


def test_policy_high_s_is_valid_ecdsa_but_not_for_the_validator() -> None:
    high = [
        c
        for c in load_wycheproof("p1363")
        if c.valid and int.from_bytes(c.signature[32:], "big") > P256_HALF_N
    ]
    assert high, "Wycheproof has valid high-s signatures"
    for case in high:
        assert python_verdict(case).accepted
        words = case.chain_words()
        assert words is not None
        assert expected_chain_rule(words[1], words[2], case.valid) == ChainRule.HIGH_S
    # r = n: inside the official validator bound, left to the precompile.
    assert expected_chain_rule(P256_N, 1, False) == ChainRule.BAD_SIGNATURE
    assert expected_chain_rule(1, P256_N, False) == ChainRule.SIGNATURE_OUT_OF_RANGE


def test_nist_sigver_section_parsed() -> None:
    cases = load_nist_sigver()
    assert len(cases) == 15
    assert sum(c.valid for c in cases) == 3


def test_every_device_fixture_has_a_documented_verdict() -> None:
    fixtures = load_webauthn_fixtures()[0] + load_fido2_fixtures()[0]
    names = {f.name for f in fixtures}
    assert names == set(DEVICE_VERDICTS)
    accepted = [n for n, (v, _, _) in DEVICE_VERDICTS.items() if v == "accepted"]
    assert len(accepted) >= 10, "the ES256 fixtures with UV must be accepted"


def test_report_main_without_chain(capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(["--no-chain"]) == 0
    out = capsys.readouterr().out
    assert "wycheproof-der" in out
    assert out.splitlines()[-1].split()[-1] == "0"  # total disagreements


@pytest.mark.chain
def test_chain_half_has_zero_disagreements() -> None:
    try:
        results = report.run_chain()
    except ToolNotFound as exc:
        pytest.skip(f"anvil not installed (npm @foundry-rs/anvil-linux-amd64): {exc}")
    except ConfigurationError as exc:
        pytest.skip(f"contract artifacts not built: run scripts/build-contracts.sh ({exc})")
    except HarnessBuildFailed as exc:
        pytest.skip(f"the conformance harness could not be compiled with scripts/solc: {exc}")
    assert len(results) == 4
    for result in results:
        assert result.run > 0, result.source
        assert result.disagreements == [], result.source
    # Every Wycheproof DER case that the strict parser accepts reaches the chain.
    der = next(r for r in results if r.source.startswith("wycheproof-der"))
    # (Era validator rule, precompile answer, ERC-4337 validator verdict per case)
    assert der.run == 3 * sum(1 for c in load_wycheproof("der") if c.chain_words() is not None)


def test_report_runs_as_a_module() -> None:
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "conformance.report", "--no-chain"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split(" (")[0]: line.split() for line in done.stdout.splitlines()[1:-1]}
    assert set(rows) >= {"wycheproof-der", "wycheproof-p1363", "nist-sigver"}
    # run, agreed, disagreed columns of the DER row
    assert rows["wycheproof-der"][-5:-2] == ["484", "484", "0"]
