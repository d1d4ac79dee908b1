"""The I/O-free bindings export a small API (issue #16): a handful of builders and types, nothing internal."""

from __future__ import annotations

import importlib
import inspect

import sso_signer.sso as sso

# The modules of the I/O-free bindings; the stateful account code has its own budget.
BINDINGS = {"_owner", "_signature", "_preflight", "_erc7739", "_session_spec", "_guardian"}


def _binding_names() -> list[str]:
    # A name belongs to the bindings when one of their modules holds the very same object (constants too).
    # The errors live in sso_signer.exceptions and are counted there.
    modules = [importlib.import_module(f"sso_signer.sso.{m}") for m in sorted(BINDINGS)]
    names = []
    for name in sso.__all__:
        value = getattr(sso, name)
        if any(getattr(module, name, None) is value for module in modules):
            names.append(name)
    return names


def test_the_bindings_export_at_most_30_names() -> None:
    names = _binding_names()
    assert len(names) <= 30, sorted(names)


def test_the_bindings_export_no_constants_or_decoders() -> None:
    # Selectors, topics, rule tables and decoders that only tests use stay in the private modules.
    leaked = [n for n in _binding_names() if n.isupper() or n.startswith("decode_")]
    assert leaked == []


def test_every_public_binding_name_is_documented() -> None:
    undocumented = [n for n in _binding_names() if not inspect.getdoc(getattr(sso, n))]
    assert undocumented == []
