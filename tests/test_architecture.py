"""The rooms of the package import one way only (docs/architecture.md)."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "sso_signer"

# The top of the package may import everything; nothing below it may import the top.
TOP = {"cli", "demo", "pytest_plugin", "local_erc4337"}
# The bottom: every room may import it (sso_signer.exceptions imports only the standard library).
BOTTOM = {"exceptions"}

# room -> rooms it must never import
FORBIDDEN: dict[str, set[str]] = {
    "webauthn": {"zksync", "erc4337", "rpc", "sso", "node"} | TOP,
    "rpc": {"webauthn", "zksync", "erc4337", "sso", "node"} | TOP,
    "zksync": {"webauthn", "erc4337", "sso", "node"} | TOP,
    "erc4337": {"webauthn", "zksync", "sso", "node"} | TOP,
    "node": {"webauthn", "zksync", "erc4337", "sso"} | TOP,
    "sso": {"node"} | TOP,
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
        rooms = {room for room in _imported_rooms(path) if not room.startswith("_")} - BOTTOM
        if rooms:
            offenders.append(f"{path.name} imports {sorted(rooms)}")
    assert offenders == [], "the bottom layer must stay below every room:\n" + "\n".join(offenders)
