"""The exception tree: one import-free module, at most 80 classes, each rule owned by one class (#16)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pathlib
import pickle
import pkgutil
import re
import subprocess
import sys
from typing import Any

import pytest

import sso_signer
from sso_signer import exceptions
from sso_signer.exceptions import (
    AssertionRejected,
    ErrorCode,
    InvalidInputError,
    ReceiptTimeout,
    SsoSignerError,
    StoreUnavailable,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULE = ROOT / "sso_signer" / "exceptions.py"


def _classes() -> list[type[SsoSignerError]]:
    return [c for c in vars(exceptions).values() if inspect.isclass(c) and issubclass(c, SsoSignerError)]


def test_the_tree_has_at_most_80_classes_all_exported() -> None:
    names = sorted(c.__name__ for c in _classes())
    assert len(names) <= 80, f"{len(names)} error classes"
    assert sorted(set(exceptions.__all__) - {"ErrorCode", "Outcome"}) == names


def test_every_class_owns_its_rules_and_every_rule_has_one_owner() -> None:
    owners: dict[ErrorCode, list[str]] = {rule: [] for rule in ErrorCode}
    for cls in _classes():
        rules = vars(cls).get("rules")
        assert rules, f"{cls.__name__} declares no rules (its first is the default)"
        for rule in rules:
            owners[rule].append(cls.__name__)
    assert {rule.name: names for rule, names in owners.items() if len(names) != 1} == {}


def test_rule_values_are_their_lower_case_names() -> None:
    # Stable, greppable ids: the value is what JSON, logs and the CLI show.
    assert [r.name for r in ErrorCode if r.value != r.name.lower()] == []


def test_no_error_class_is_defined_outside_exceptions() -> None:
    elsewhere = []
    for info in pkgutil.walk_packages(sso_signer.__path__, "sso_signer."):
        if info.name.endswith(("__main__", "pytest_plugin")) or info.name == "sso_signer.exceptions":
            continue
        module = importlib.import_module(info.name)
        elsewhere += [
            f"{info.name}.{name}"
            for name, obj in vars(module).items()
            if inspect.isclass(obj) and issubclass(obj, SsoSignerError) and obj.__module__ == info.name
        ]
    assert elsewhere == []
    assert list((ROOT / "sso_signer").rglob("_errors.py")) == []


def test_exceptions_imports_only_the_standard_library_at_run_time() -> None:
    tree = ast.parse(MODULE.read_text())
    guarded = {
        id(node)
        for stmt in tree.body
        if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Name) and stmt.test.id == "TYPE_CHECKING"
        for node in ast.walk(stmt)
    }
    imported = set()
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - {"__future__"} <= sys.stdlib_module_names, imported


def test_importing_exceptions_loads_no_other_sdk_module() -> None:
    # A fresh interpreter: `-X importtime` lists every module the import loaded, on stderr.
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sso_signer.exceptions"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if "|" in line}
    sdk = sorted(name for name in loaded if name.split(".")[0] == "sso_signer")
    assert sdk == ["sso_signer", "sso_signer.exceptions"]


def test_a_class_refuses_a_rule_it_does_not_own() -> None:
    assert AssertionRejected("x", rule=ErrorCode.ORIGIN_MISMATCH).rule == "origin_mismatch"
    with pytest.raises(TypeError, match="does not own"):
        AssertionRejected("x", rule=ErrorCode.CHALLENGE_EXPIRED)


def test_the_preflight_prefix_names_validator_rule_and_outcome() -> None:
    exc = AssertionRejected("s too high", outcome="return false", validator="era", rule=ErrorCode.LOW_S)
    assert str(exc) == "[era:low_s, on-chain: return false] s too high"
    assert str(AssertionRejected("origin differs", rule=ErrorCode.ORIGIN_MISMATCH)) == "origin differs"


def _round_trip(error: SsoSignerError) -> Any:
    return pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes, made one line above


def test_errors_keep_rule_and_fields_through_pickle() -> None:
    # Errors cross process boundaries (worker pools); keyword-only fields must survive.
    store = _round_trip(StoreUnavailable("lost", outcome_known=False))
    assert (str(store), store.outcome_known, store.rule) == ("lost", False, ErrorCode.STORE_UNAVAILABLE)
    timeout = _round_trip(ReceiptTimeout("slow", tx_hash=b"\x01" * 32, timeout=3.0))
    assert (timeout.tx_hash, timeout.timeout, timeout.rule) == (b"\x01" * 32, 3.0, ErrorCode.RECEIPT_TIMEOUT)
    rejected = AssertionRejected("no", outcome="revert", validator="erc4337", rule=ErrorCode.CROSS_ORIGIN)
    again = _round_trip(rejected)
    assert (str(again), again.rule, again.outcome) == (str(rejected), ErrorCode.CROSS_ORIGIN, "revert")


def test_error_page_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_error_docs", ROOT / "scripts" / "gen_error_docs.py")
    assert spec is not None
    assert spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    page = (ROOT / "docs" / "errors.md").read_text()
    assert page == generator.render(), "docs/errors.md is stale: run scripts/gen_error_docs.py"
    assert all(f"`{rule.value}`" in page for rule in ErrorCode)
    # Each class's summary is whole: a docstring sentence wrapped onto a second line is not cut at the wrap.
    summaries = re.findall(r"^\s*- \*\*`(\w+)`\*\*[^:]*: (.*)$", page, re.M)
    assert {name for name, _ in summaries} == {cls.__name__ for cls in _classes()}
    assert [name for name, text in summaries if not text.rstrip().endswith((".", ")"))] == []


def test_every_error_has_a_docstring_and_input_errors_are_value_errors() -> None:
    for cls in _classes():
        assert inspect.getdoc(cls), f"{cls.__name__} has no docstring"
        if issubclass(cls, InvalidInputError):
            assert issubclass(cls, ValueError)
