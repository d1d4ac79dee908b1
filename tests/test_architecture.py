"""The rooms of the package import one way only (docs/architecture.md)."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "sso_signer"

# The top of the package may import everything; nothing below it may import the top.
TOP = {"cli", "pytest_plugin", "local_erc4337", "exceptions"}

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
    for path in sorted(PACKAGE.glob("_*.py")):
        rooms = {room for room in _imported_rooms(path) if not room.startswith("_")}
        if rooms:
            offenders.append(f"{path.name} imports {sorted(rooms)}")
    assert offenders == [], "the bottom layer must stay below every room:\n" + "\n".join(offenders)


# --- the command line (docs/cli.md "Layout") ----------------------------------------------------------------

CLI = PACKAGE / "cli"


def _runtime_imports(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
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


def _module_name(path: pathlib.Path) -> str:
    parts = ("sso_signer", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_cli_modules_import_each_other_without_a_cycle() -> None:
    # Importing a cli module from outside the package runs the package's __init__ first: that edge counts too.
    sources = sorted(CLI.glob("*.py")) + sorted(PACKAGE.glob("demo.py"))
    modules = {_module_name(path): path for path in sources}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for node, _ in _runtime_imports(ast.parse(path.read_text())):
            targets = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.ImportFrom):
                targets += [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                if target in modules:
                    edges.add(target)
                    if not name.startswith("sso_signer.cli") and target.startswith("sso_signer.cli."):
                        edges.add("sso_signer.cli")
        graph[name] = edges - {name}

    def cycle_from(start: str, path: list[str]) -> list[str] | None:
        for target in sorted(graph.get(path[-1], ())):
            if target == start:
                return [*path, start]
            if target not in path:
                found = cycle_from(start, [*path, target])
                if found:
                    return found
        return None

    cycles = [" -> ".join(c) for c in (cycle_from(name, [name]) for name in sorted(graph)) if c]
    assert cycles == [], "import cycles in the command line:\n" + "\n".join(cycles)


def test_cli_modules_import_at_the_top() -> None:
    # The dispatcher imports a command group's module (importlib) when the command runs. Deferred besides: the
    # package's lazy `Deployment`, and the error classes exit_code_for needs only once something failed (so
    # that a broken install still yields an exit code). Anything else belongs at the top of its module.
    deferred = {"__init__.py": 1, "_output.py": 2}
    offenders = []
    for path in sorted(CLI.glob("*.py")):
        inside = [n for n, in_function in _runtime_imports(ast.parse(path.read_text())) if in_function]
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
