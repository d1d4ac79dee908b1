"""The exception tree is exported and documented in one place (sso_signer.exceptions, docs/errors.md)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pathlib
import pkgutil

import sso_signer
from sso_signer import exceptions
from sso_signer.exceptions import InvalidInputError, SsoSignerError

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _defined_error_classes() -> dict[str, type[SsoSignerError]]:
    found: dict[str, type[SsoSignerError]] = {}
    for info in pkgutil.walk_packages(sso_signer.__path__, "sso_signer."):
        if info.name.endswith("__main__") or info.name.endswith("pytest_plugin"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, SsoSignerError) and obj.__module__ == info.name:
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_error_class_is_exported_once_by_name() -> None:
    classes = _defined_error_classes()
    names = [cls.__name__ for cls in classes.values()]
    clashes = sorted({n for n in names if names.count(n) > 1})
    assert clashes == [], f"two rooms define errors with the same name: {clashes}"
    missing = sorted(q for q, cls in classes.items() if getattr(exceptions, cls.__name__, None) is not cls)
    assert missing == [], f"not re-exported by sso_signer.exceptions: {missing}"
    assert sorted(exceptions.__all__) == sorted(names)


def test_error_page_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_error_docs", ROOT / "scripts" / "gen_error_docs.py")
    assert spec is not None
    assert spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    page = (ROOT / "docs" / "errors.md").read_text()
    assert page == generator.render(), "docs/errors.md is stale: run scripts/gen_error_docs.py"


def test_every_error_has_a_docstring_and_input_errors_are_value_errors() -> None:
    for qualname, cls in _defined_error_classes().items():
        assert inspect.getdoc(cls), f"{qualname} has no docstring"
        if issubclass(cls, InvalidInputError):
            assert issubclass(cls, ValueError)
