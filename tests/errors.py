"""Assert the rule of an sso-signer error, not only its class (the tree folds checks into rules)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from sso_signer.exceptions import ErrorCode, SsoSignerError


def rule_owner(rule: ErrorCode) -> type[SsoSignerError]:
    """The error class that owns ``rule``."""
    stack: list[type[SsoSignerError]] = [SsoSignerError]
    while stack:
        cls = stack.pop()
        if rule in vars(cls).get("rules", ()):
            return cls
        stack += cls.__subclasses__()
    raise LookupError(f"no error class owns {rule!r}")  # pragma: no cover - every rule has an owner


@contextlib.contextmanager
def raises_rule(*rules: ErrorCode, match: str | None = None) -> Iterator[pytest.ExceptionInfo[Any]]:
    """Like ``pytest.raises``, for the classes owning ``rules``, and the error's rule must be one of them."""
    owners = tuple({rule_owner(rule) for rule in rules})
    with pytest.raises(owners, match=match) as info:
        yield info
    assert info.value.rule in rules, (
        f"{type(info.value).__name__} has rule {info.value.rule!r}, expected {rules}"
    )
