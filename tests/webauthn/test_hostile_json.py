"""Hostile JSON given to the passkey side and the other outside-input parsers (issue #14, defects 1 and 8).

Registration and authentication JSON, clientDataJSON, key-file metadata and deployment files with a nesting
deep enough to overrun the C stack, or a 5000-digit number (a bare ``ValueError`` from Python's int
conversion): each must raise the parser's typed error. Every case runs in a fresh interpreter with the
recursion limit an application gets after importing web3 or py_ecc itself (100000), so that a segfault fails
the test instead of killing pytest.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

_CHILD = textwrap.dedent(
    """
    import json, sqlite3, sys, tempfile, pathlib
    from sso_signer._codec import b64url_encode
    from sso_signer.webauthn import (
        Assertion, HeadlessPasskey, RegistrationResponse, RelyingParty, SQLiteStore,
    )
    from sso_signer.webauthn._client_data import CollectedClientData
    from sso_signer.webauthn._keyfile import read_key_file
    from sso_signer.accounts import EraNetwork, MsaDeployment
    from sso_signer.sso._preflight import parse_client_data_json
    from sso_signer.cli._deploy import load_deployment

    case, payload = sys.argv[1], sys.argv[2]
    sys.setrecursionlimit(100_000)  # what an application that imported web3 or py_ecc first runs with
    DEPTHS = {"deep": 100_000, "deep-small": 30_000, "deep-tiny": 4_000}
    if payload in DEPTHS:
        d = DEPTHS[payload]
        doc = '{"a":' + "[" * d + "]" * d + "}"
    else:
        doc = '{"a":' + "1" * 5000 + "}"
    tmp = pathlib.Path(tempfile.mkdtemp())

    def registration_with_client_data(cdj):
        return json.dumps({"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {
            "clientDataJSON": b64url_encode(cdj), "attestationObject": "oA"}})

    def assertion_with_client_data(cdj):
        return json.dumps({"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {
            "clientDataJSON": b64url_encode(cdj), "authenticatorData": b64url_encode(bytes(37)),
            "signature": "MAYCAQECAQE"}})

    def relying_party():
        store = SQLiteStore(tmp / "rp.sqlite")
        rp = RelyingParty(rp_id="a.example", rp_name="A", origins="https://a.example", store=store)
        rp.registration_options(user_name="alice", user_handle=b"h" * 16)
        return rp, store

    def dump():
        with sqlite3.connect(tmp / "rp.sqlite") as conn:
            return list(conn.iterdump())

    def run():
        if case == "registration_json":
            RegistrationResponse.from_json(doc)
        elif case == "registration_client_data":
            RegistrationResponse.from_json(registration_with_client_data(doc.encode()))
        elif case == "authentication_json":
            Assertion.from_json(doc)
        elif case == "authentication_client_data":
            Assertion.from_json(assertion_with_client_data(doc.encode()))
        elif case == "client_data":
            CollectedClientData(doc.encode())
        elif case == "sso_client_data":
            parse_client_data_json(doc.encode())
        elif case in ("rp_registration", "rp_authentication"):
            rp, store = relying_party()
            before = dump()
            try:
                if case == "rp_registration":
                    rp.verify_registration(doc, user_handle=b"\x01")  # the hostile answer fails before
                else:
                    rp.verify_authentication(assertion_with_client_data(doc.encode()))
            finally:
                store.close()
                assert dump() == before, "the store changed"
        elif case == "key_file":
            passkey = HeadlessPasskey.generate(rp_id="a.example", origin="https://a.example")
            path = tmp / "key.pem"
            passkey.save(path)
            text = path.read_text()
            head, _, pem = text.partition("\\n")
            path.write_text(head[:-1] + ',"extra":' + doc + "}\\n" + pem)
            HeadlessPasskey.load(path)
        elif case == "key_file_raw":
            path = tmp / "key.pem"
            passkey = HeadlessPasskey.generate(rp_id="a.example", origin="https://a.example")
            passkey.save(path)
            pem = path.read_text().partition("\\n")[2]
            path.write_text("sso-signer-passkey: " + doc + "\\n" + pem)
            read_key_file(path)
        elif case == "deployment_file":
            (tmp / "d.json").write_text(doc)
            load_deployment(tmp / "d.json")
        elif case == "era_deployment":
            (tmp / "d.json").write_text(doc)
            EraNetwork.from_deployment(tmp / "d.json")
        elif case == "msa_deployment":
            MsaDeployment.from_json(doc)
        else:
            raise AssertionError(case)

    try:
        run()
        print(json.dumps({"result": "accepted"}))
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "classes": [c.__name__ for c in type(exc).__mro__],
                          "rule": str(getattr(exc, "rule", "")), "message": str(exc)[:300]}))
    """
)

# case -> the rules of the typed error it may raise (the old class and its subclasses).
_CREDENTIAL_JSON = {"invalid_credential_json", "invalid_credential_type", "credential_id_mismatch"}
_CLIENT_DATA = {"invalid_client_data", "client_data_not_json", "duplicate_client_data_key"}
CASES = {
    "registration_json": _CREDENTIAL_JSON,
    "registration_client_data": _CLIENT_DATA,
    "authentication_json": _CREDENTIAL_JSON,
    "authentication_client_data": _CLIENT_DATA,
    "client_data": _CLIENT_DATA,
    "sso_client_data": {"client_data_not_json"},
    "rp_registration": _CREDENTIAL_JSON,
    "rp_authentication": _CLIENT_DATA,
    "key_file": {"invalid_key_file"},
    "key_file_raw": {"invalid_key_file"},
    "deployment_file": {"invalid_deployment"},
    "era_deployment": {"invalid_deployment"},
    "msa_deployment": {"signer_configuration"},
}


def _run_child(case: str, payload: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, case, payload], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"the process died (status {done.returncode}): {done.stderr[-2000:]}"
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-2000:]
    outcome: dict[str, object] = json.loads(lines[-1])
    return outcome


@pytest.mark.parametrize("payload", ["deep", "deep-small", "deep-tiny", "big-number"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_document_raises_the_typed_error(case: str, payload: str) -> None:
    outcome = _run_child(case, payload)
    classes = outcome.get("classes")
    assert isinstance(classes, list), outcome
    assert "SsoSignerError" in classes, outcome
    if outcome["rule"] not in ("field_too_large", "invalid_key_file"):  # a size bound may answer first
        assert outcome["rule"] in CASES[case], outcome
