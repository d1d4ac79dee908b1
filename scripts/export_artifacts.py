"""Copy the ABI and bytecode of the project's own contracts from forge's out/ into sso_signer/artifacts/.

A contract is exported when forge's metadata names an existing source under contracts/src as its compilation
target (out/ also holds libraries from node_modules, the forge tests and stale artifacts of deleted sources).
Interfaces and abstract contracts, which have no bytecode, are skipped. Two deployable contracts with the same
name would overwrite each other's artifact, so that is an error.
"""

from __future__ import annotations

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = "contracts/src/"
OUT = ROOT / "out"
DEST = ROOT / "sso_signer" / "artifacts"


def _target(data: dict[str, object]) -> tuple[str, str] | None:
    """(source path, contract name) forge compiled this artifact for, if recorded."""
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return None
    target = metadata.get("settings", {}).get("compilationTarget", {})
    if not isinstance(target, dict) or len(target) != 1:
        return None
    ((source, name),) = target.items()
    return str(source), str(name)


def main() -> int:
    if not OUT.is_dir():
        print(f"export_artifacts: {OUT} does not exist; run forge build first", file=sys.stderr)
        return 1
    DEST.mkdir(exist_ok=True)
    exported: dict[str, str] = {}
    for artifact in sorted(OUT.rglob("*.json")):
        if "build-info" in artifact.parts:
            continue
        data = json.loads(artifact.read_text())
        target = _target(data)
        if target is None or not target[0].startswith(SOURCES) or not (ROOT / target[0]).is_file():
            continue  # a library, a test, or a stale artifact of a deleted source
        source, name = target
        bytecode = data.get("bytecode", {}).get("object", "0x")
        if bytecode in ("0x", ""):
            continue  # interfaces and abstract contracts have nothing to deploy
        if name in exported and exported[name] != source:
            print(
                f"export_artifacts: contract {name} is defined in {exported[name]} and {source}",
                file=sys.stderr,
            )
            return 1
        exported[name] = source
        record = {
            "contractName": name,
            "sourceName": source,
            "abi": data["abi"],
            "bytecode": bytecode,
            "deployedBytecode": data.get("deployedBytecode", {}).get("object", "0x"),
        }
        (DEST / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"exported {len(exported)} contract artifacts to {DEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
