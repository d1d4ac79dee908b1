"""The outside-input parsers survive hostile documents (issue #14): a short run of the campaign's hostile
targets, in worker processes with the recursion limit py_ecc sets, so that a crash fails its target instead of
killing pytest. Each target asserts that every error is an ``SsoSignerError`` (and, for the relying party,
that the store did not change)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

from conformance.fuzz_targets import HOSTILE_TARGETS

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES_PER_TARGET = 150


def test_every_outside_input_parser_has_hostile_targets() -> None:
    families = {t.name.split(".")[0] for t in HOSTILE_TARGETS}
    assert families >= {
        "hostile_rpc_answer",
        "hostile_credential_json",
        "hostile_client_data",
        "hostile_relying_party",
        "hostile_cbor",
        "hostile_key_file",
        "hostile_deployment",
        "hostile_cli",
    }


def test_hostile_targets_survive_with_typed_errors() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "fuzz_campaign.py"),
            "--match",
            "hostile_",
            "--examples",
            str(EXAMPLES_PER_TARGET * len(HOSTILE_TARGETS)),
            "--jobs",
            "2",
            "--seed",
            "14",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    report = done.stdout + done.stderr[-3000:]
    passed = set(re.findall(r"^\s+(hostile_\S+)\s+[\d,]+ examples\s+\S+s\s+ok$", done.stdout, re.MULTILINE))
    assert passed == {t.name for t in HOSTILE_TARGETS}, report
    assert done.returncode == 0, report
