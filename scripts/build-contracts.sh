#!/usr/bin/env bash
# Builds contracts/ with forge (npm Foundry + the npm solc wrapper) and exports the ABI and bytecode of each
# deployable contract to sso_signer/artifacts/<Name>.json, which the Python SDK loads at run time. The artifacts
# are committed and shipped in the wheel and sdist (users have no forge); tests/contracts/test_committed_artifacts.py
# checks that they match a fresh build, so run this after changing contracts/src and commit the result.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
forge=node_modules/@foundry-rs/forge-linux-amd64/bin/forge
[ -x "$forge" ] || { echo "build-contracts: forge not installed; run scripts/bootstrap.sh node" >&2; exit 1; }
"$forge" build --quiet
.venv/bin/python scripts/export_artifacts.py
