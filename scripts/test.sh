#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then lint, types and tests.
# Extra arguments go to pytest (e.g. scripts/test.sh -k preflight). The pytest run includes the wheel job
# (tests/test_wheel.py, marker `wheel`, ~4 min): a wheel built from a clean clone of HEAD, installed and used
# from outside the checkout; `-m "not wheel"` leaves it out while iterating.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh python node contracts browser fixtures postgres
echo "== ruff" && .venv/bin/ruff check .
echo "== ruff format" && .venv/bin/ruff format --check .
echo "== mypy --strict" && .venv/bin/mypy
echo "== pytest" && exec .venv/bin/pytest "$@"
