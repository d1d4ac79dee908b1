"""The public API stays small (issue #16): names per room, errors in one place."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import sso_signer
import sso_signer.exceptions

MAX_PUBLIC_NAMES = 150
MAX_EXCEPTION_CLASSES = 80


def _public_modules() -> list[str]:
    """The package and each module or room without a leading underscore (its ``__all__`` is its API)."""
    names = ["sso_signer"]
    for info in pkgutil.walk_packages(sso_signer.__path__, "sso_signer."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts) or parts[1] in {
            "exceptions",
            "artifacts",
            "toolchain",
        }:
            continue
        names.append(info.name)
    return names


def _is_exception(value: object) -> bool:
    return inspect.isclass(value) and issubclass(value, BaseException)


def _public_names() -> dict[str, list[str]]:
    found = {}
    for name in _public_modules():
        module = importlib.import_module(name)
        exported = list(getattr(module, "__all__", []))
        found[name] = [n for n in exported if not _is_exception(getattr(module, n))]
    return found


def test_the_public_api_has_at_most_150_names() -> None:
    per_room = _public_names()
    total = sum(len(names) for names in per_room.values())
    assert total <= MAX_PUBLIC_NAMES, {room: len(names) for room, names in per_room.items()}


def test_every_exported_name_exists_and_is_listed_once_per_room() -> None:
    for room, names in _public_names().items():
        assert len(names) == len(set(names)), room


def test_errors_are_public_in_one_place_only() -> None:
    # Rooms raise them; users import them from sso_signer.exceptions (one name, one place).
    for name in _public_modules():
        module = importlib.import_module(name)
        exported = [n for n in getattr(module, "__all__", []) if _is_exception(getattr(module, n))]
        assert exported == [], name


def test_the_exception_tree_has_at_most_80_classes() -> None:
    classes = [
        v
        for v in vars(sso_signer.exceptions).values()
        if _is_exception(v) and v.__module__ == "sso_signer.exceptions"
    ]
    assert 10 < len(classes) <= MAX_EXCEPTION_CLASSES
