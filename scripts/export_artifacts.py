"""Copy the ABI and bytecode of the project's own contracts from forge's out/ into sso_signer/artifacts/.

A contract is exported when forge's metadata names an existing source under contracts/src as its compilation
target (out/ also holds libraries from node_modules, the forge tests and stale artifacts of deleted sources).
Interfaces and abstract contracts, which have no bytecode, are skipped; an artifact in the destination whose
contract is gone is removed (the artifacts are committed and shipped in the wheel). Two deployable contracts
with the same name would overwrite each other's artifact, so that is an error.
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help="forge's output directory")
    parser.add_argument("--dest", type=pathlib.Path, default=DEST, help="where to write <Name>.json")
    args = parser.parse_args(argv)
    out, dest = args.out.resolve(), args.dest.resolve()
    if not out.is_dir():
        print(f"export_artifacts: {out} does not exist; run forge build first", file=sys.stderr)
        return 1
    dest.mkdir(parents=True, exist_ok=True)
    exported: dict[str, str] = {}
    for artifact in sorted(out.rglob("*.json")):
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
        (dest / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    stale = sorted(p.name for p in dest.glob("*.json") if p.stem not in exported)
    for name in stale:
        (dest / name).unlink()  # a deleted or renamed contract must not stay in the package
    print(f"exported {len(exported)} contract artifacts to {dest}" + (f" (removed {stale})" if stale else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
