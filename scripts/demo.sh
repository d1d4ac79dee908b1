#!/usr/bin/env bash
# The main job: the whole passkey flow on a local chain this script starts itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh python node contracts
exec .venv/bin/sso-signer demo "$@"
