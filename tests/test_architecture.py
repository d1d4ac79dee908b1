"""The rooms of the package import one way only (docs/architecture.md)."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "sso_signer"

# The top of the package may import everything; nothing below it may import the top.
TOP = {"cli", "pytest_plugin", "local_erc4337", "sponsor"}
# The bottom: every room may import it (sso_signer.exceptions imports only the standard library).
BOTTOM = {"exceptions"}

# room -> rooms it must never import
FORBIDDEN: dict[str, set[str]] = {
    "webauthn": {"zksync", "erc4337", "rpc", "sso", "node", "accounts"} | TOP,
    "rpc": {"webauthn", "zksync", "erc4337", "sso", "node", "accounts"} | TOP,
    "zksync": {"webauthn", "erc4337", "sso", "node", "accounts"} | TOP,
    "erc4337": {"webauthn", "zksync", "sso", "node", "accounts"} | TOP,
    "node": {"webauthn", "zksync", "erc4337", "sso", "accounts"} | TOP,
    "sso": {"node", "accounts"} | TOP,
    "accounts": {"node"} | TOP,
}


def _imported_rooms(path: pathlib.Path) -> set[str]:
    rooms: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "sso_signer" and len(parts) > 1:
                rooms.add(parts[1])
    return rooms


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_room_imports_only_downwards(room: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / room).rglob("*.py")):
        bad = _imported_rooms(path) & FORBIDDEN[room]
        if bad:
            offenders.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert offenders == [], "one-way imports broken:\n" + "\n".join(offenders)


def test_no_relative_imports_cross_rooms() -> None:
    # Relative imports would hide a cross-room dependency from the check above.
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == [], f"use absolute imports: {offenders}"


def test_bottom_layer_imports_no_room() -> None:
    offenders = []
    # __main__.py (`python -m sso_signer`) is the command line's entry point, at the top: nothing imports it.
    for path in sorted(set(PACKAGE.glob("_*.py")) - {PACKAGE / "__main__.py"}):
        rooms = {room for room in _imported_rooms(path) if not room.startswith("_")} - BOTTOM
        if rooms:
            offenders.append(f"{path.name} imports {sorted(rooms)}")
    assert offenders == [], "the bottom layer must stay below every room:\n" + "\n".join(offenders)


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    # Imports in function bodies count: a late import that closes a cycle only hides it. Imports under
    # `if TYPE_CHECKING:` never run and do not.
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            pending += node.orelse
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        pending += ast.iter_child_nodes(node)
    return found


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif node.module and node.level == 0:
                subs = {f"{node.module}.{alias.name}" for alias in node.names}
                # `from package import submodule` needs the submodule, not the package's own names.
                targets |= subs if subs <= modules.keys() else {node.module, *subs}
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    paths = [[start]]
    seen = {start}
    while paths:
        path = paths.pop()
        for target in sorted(graph[path[-1]]):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                paths.append([*path, target])
    return None


def test_no_import_cycles() -> None:
    graph = _import_graph()
    cycles = {" -> ".join(cycle) for name in sorted(graph) if (cycle := _cycle_through(graph, name))}
    assert cycles == set(), (
        "modules that import each other (put each function where its dependencies are):\n"
        + ("\n".join(sorted(cycles)))
    )


def test_the_cycle_check_sees_a_late_import() -> None:
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert _cycle_through(graph, "a") == ["a", "b", "a"]
    assert _cycle_through(graph, "c") is None
    late = ast.parse("def f():\n    from sso_signer.webauthn import _p256\nif TYPE_CHECKING:\n    import x\n")
    assert [ast.unparse(node) for node in _runtime_imports(late)] == ["from sso_signer.webauthn import _p256"]


# --- the command line (docs/cli.md "Layout") ----------------------------------------------------------------

CLI = PACKAGE / "cli"


def _imports_and_place(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import that runs (not under ``if TYPE_CHECKING:``), with whether it is inside a function."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other, in_function)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append((child, in_function))
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(tree, False)
    return found


def test_cli_modules_import_at_the_top() -> None:
    # The dispatcher imports a command group's module (importlib) when the command runs. Deferred besides: the
    # package's lazy `Deployment`, and the error classes exit_code_for needs only once something failed (so
    # that a broken install still yields an exit code). Anything else belongs at the top of its module.
    deferred = {"__init__.py": 1, "_output.py": 2}
    offenders = []
    for path in sorted(CLI.glob("*.py")):
        inside = [n for n, in_function in _imports_and_place(ast.parse(path.read_text())) if in_function]
        if len(inside) > deferred.get(path.name, 0):
            offenders += [f"cli/{path.name}:{node.lineno}: {ast.unparse(node)}" for node in inside]
    assert offenders == [], "imports inside functions:\n" + "\n".join(offenders)


def test_only_the_account_builder_knows_the_account_kinds() -> None:
    # Every command uses the account interface; only cli/_accounts.py builds one kind or the other.
    offenders = []
    for path in sorted(CLI.glob("*.py")):
        if path.name == "_accounts.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and all(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                values = [node.left, *node.comparators]
                if any(isinstance(v, ast.Constant) and v.value in ("era", "erc4337") for v in values):
                    offenders.append(f"cli/{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == [], "account-kind branches outside cli/_accounts.py:\n" + "\n".join(offenders)


def test_the_cli_package_exports_at_most_three_names() -> None:
    import sso_signer.cli

    assert len(sso_signer.cli.__all__) <= 3, sso_signer.cli.__all__
    assert "main" in sso_signer.cli.__all__
    for name in sso_signer.cli.__all__:
        assert getattr(sso_signer.cli, name) is not None
