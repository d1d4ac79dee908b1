"""Copy the ABI and bytecode of the project's own contracts from forge's out/ into sso_signer/artifacts/."""

from __future__ import annotations

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = ROOT / "contracts" / "src"
OUT = ROOT / "out"
DEST = ROOT / "sso_signer" / "artifacts"


def main() -> None:
    DEST.mkdir(exist_ok=True)
    written = 0
    for source in sorted(SOURCES.rglob("*.sol")):
        for artifact in sorted((OUT / source.name).glob("*.json")):
            data = json.loads(artifact.read_text())
            bytecode = data.get("bytecode", {}).get("object", "0x")
            if bytecode in ("0x", ""):
                continue  # interfaces and abstract contracts have nothing to deploy
            exported = {
                "contractName": artifact.stem,
                "sourceName": str(source.relative_to(ROOT)),
                "abi": data["abi"],
                "bytecode": bytecode,
                "deployedBytecode": data.get("deployedBytecode", {}).get("object", "0x"),
            }
            (DEST / f"{artifact.stem}.json").write_text(json.dumps(exported, indent=1) + "\n")
            written += 1
    print(f"exported {written} contract artifacts to {DEST.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
