"""Every ``Raises:`` entry of the SDK's docstrings names a class that exists: one of
``sso_signer/exceptions.py`` (the only home of the SDK's errors) or a builtin. Names from before the errors
migration (``BadDomainLength``, ``MissingContractAddress``, ...) are not classes; the class and its rule
are."""

from __future__ import annotations

import ast
import builtins
import inspect
import pathlib
import re

import sso_signer.exceptions as exceptions

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "sso_signer"
# An entry's head: class names, each optionally with its rules in parentheses, separated by commas.
_HEAD = re.compile(r"^[A-Z]\w*(?:\s*\([^)]*\))?(?:\s*,\s*[A-Z]\w*(?:\s*\([^)]*\))?)*$")


def _raises_heads(docstring: str) -> list[str]:
    """The heads (text before the first colon, parentheses emptied) of a docstring's Raises entries."""
    entries: list[str] = []
    inside, entry_indent = False, -1
    for line in inspect.cleandoc(docstring).splitlines():
        indent = len(line) - len(line.lstrip())
        text = line.strip()
        if text == "Raises:":
            inside, entry_indent = True, -1
            continue
        if not inside or not text:
            continue
        if entry_indent < 0:
            entry_indent = indent
        if indent < entry_indent:
            inside = False
        elif indent == entry_indent:
            entries.append(text)
        else:
            entries[-1] += " " + text  # a continuation line
    heads = []
    for entry in entries:
        if ":" not in entry or re.match(r"^[^:]*:\w+:`", entry):  # prose such as "See :meth:`send`"
            continue
        head = re.sub(r"\([^)]*\)", "()", entry).split(":", 1)[0].strip()
        if _HEAD.match(head):
            heads.append(head)
    return heads


def _unknown_names() -> list[str]:
    known = {name for name in dir(exceptions) if isinstance(getattr(exceptions, name), type)}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            docstring = ast.get_docstring(node, clean=False)
            if not docstring:
                continue
            for head in _raises_heads(docstring):
                for name in re.findall(r"\b[A-Z]\w*", re.sub(r"\([^)]*\)", "", head)):
                    if name not in known and not hasattr(builtins, name):
                        line = getattr(node, "lineno", 1)
                        found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name}")
    return found


def test_raises_sections_name_real_classes() -> None:
    assert _unknown_names() == []


def test_the_check_sees_an_old_name() -> None:
    doc = """Do it.

    Raises:
        BadDomainLength, SsoEncodingError (``BAD_DOMAIN_LENGTH``): The origin is too long.
        ConfigurationError (``MISSING_CONTRACT_ADDRESS``,
            ``INVALID_DEPLOYMENT``): Missing setup.
    """
    assert _raises_heads(doc) == ["BadDomainLength, SsoEncodingError ()", "ConfigurationError ()"]
    assert _raises_heads("Do it.\n\nRaises:\n    See :meth:`send` for the rest.\n") == []
