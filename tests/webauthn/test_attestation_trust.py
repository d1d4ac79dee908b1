"""Full ``packed`` attestation with a certificate chain, and relying parties that pin attestation roots.

The chains are issued by :class:`AttestationAuthority` with ``cryptography``; py_webauthn's own
``verify_registration_response`` (with its ``pem_root_certs_bytes_by_fmt``) is the independent judge of the
headless passkey's output.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
import webauthn
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers.structs import AttestationFormat

from sso_signer._codec import b64url_decode, b64url_encode
from sso_signer.exceptions import ErrorCode
from sso_signer.webauthn import (
    AttestationAuthority,
    HeadlessPasskey,
    RelyingParty,
    SQLiteStore,
    verify_registration_response,
)
from sso_signer.webauthn._attestation import (
    AAGUID_EXTENSION_OID,
    AttestationCertificate,
    certificate_aaguid,
    load_trust_roots,
)
from tests.errors import raises_rule

RP_ID = "localhost"
ORIGIN = "http://localhost:5173"
CHALLENGE = hashlib.sha256(b"registration challenge").digest()
AAGUID = bytes.fromhex("5ca1ab1e" * 4)


@pytest.fixture(scope="module")
def authority() -> AttestationAuthority:
    return AttestationAuthority("Example Keys Inc")


@pytest.fixture(scope="module")
def certificate(authority: AttestationAuthority) -> AttestationCertificate:
    return authority.issue(AAGUID)


def _passkey(aaguid: bytes = AAGUID) -> HeadlessPasskey:
    return HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN, aaguid=aaguid)


def _verify(response: dict[str, Any], roots: dict[str, list[bytes]] | None) -> Any:
    return verify_registration_response(
        response, expected_challenge=CHALLENGE, rp_id=RP_ID, origins=[ORIGIN], attestation_roots=roots
    )


def _py_webauthn(response: dict[str, Any], root_pem: bytes) -> Any:
    """py_webauthn's own verdict, with ``root_pem`` as its only root for ``packed``."""
    return webauthn.verify_registration_response(
        credential=response,
        expected_challenge=CHALLENGE,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
        pem_root_certs_bytes_by_fmt={AttestationFormat.PACKED: [root_pem]},
    )


def _statement(response: dict[str, Any]) -> dict[str, Any]:
    attestation: dict[str, Any] = cbor2.loads(b64url_decode(response["response"]["attestationObject"]))
    return dict(attestation["attStmt"])


# --- the authority's certificates -----------------------------------------------------------------------


def test_issued_certificate_follows_the_packed_rules(
    authority: AttestationAuthority, certificate: AttestationCertificate
) -> None:
    leaf = certificate.leaf
    assert leaf.version == x509.Version.v3
    subject = {attr.oid: attr.value for attr in leaf.subject}
    assert subject[x509.NameOID.ORGANIZATIONAL_UNIT_NAME] == "Authenticator Attestation"
    assert subject[x509.NameOID.ORGANIZATION_NAME] == "Example Keys Inc"
    assert subject[x509.NameOID.COUNTRY_NAME] == "US"
    assert x509.NameOID.COMMON_NAME in subject
    constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca is False
    aaguid_extension = leaf.extensions.get_extension_for_oid(AAGUID_EXTENSION_OID)
    assert aaguid_extension.critical is False
    assert certificate_aaguid(leaf) == certificate.aaguid == AAGUID
    assert leaf.issuer == authority.root.subject
    # The root signed it.
    root_key = authority.root.public_key()
    assert isinstance(root_key, ec.EllipticCurvePublicKey)
    root_key.verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    assert "PRIVATE" not in repr(certificate)
    assert authority.issue().aaguid is None  # no model named: no extension


def test_attestation_certificate_is_checked_when_made(certificate: AttestationCertificate) -> None:
    with raises_rule(ErrorCode.INVALID_ATTESTATION_CERTIFICATE, match="empty"):
        AttestationCertificate(certificate.private_key, ())
    with raises_rule(ErrorCode.INVALID_ATTESTATION_CERTIFICATE, match="not DER"):
        AttestationCertificate(certificate.private_key, (b"\x30\x03junk",))
    with raises_rule(ErrorCode.INVALID_ATTESTATION_CERTIFICATE, match="not the attestation key"):
        AttestationCertificate(ec.generate_private_key(ec.SECP256R1()), certificate.chain)
    with raises_rule(ErrorCode.INVALID_ATTESTATION_CERTIFICATE, match="P-256"):
        AttestationCertificate(ec.generate_private_key(ec.SECP384R1()), certificate.chain)
    with raises_rule(ErrorCode.INVALID_ATTESTATION_CERTIFICATE, match="16 bytes"):
        AttestationAuthority("x").issue(b"short")


def test_trust_roots_must_be_pem_certificates(authority: AttestationAuthority) -> None:
    assert load_trust_roots({"packed": [authority.root_pem]}) == {"packed": (authority.root_pem,)}
    with raises_rule(ErrorCode.INVALID_TRUST_ROOT, match="not a PEM"):
        load_trust_roots({"packed": [b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]})
    with raises_rule(ErrorCode.INVALID_TRUST_ROOT, match="one or more"):
        load_trust_roots({"packed": []})
    with raises_rule(ErrorCode.INVALID_TRUST_ROOT, match="one or more"):
        load_trust_roots({"packed": authority.root_pem})  # type: ignore[dict-item]
    with raises_rule(ErrorCode.INVALID_TRUST_ROOT, match="non-empty string"):
        load_trust_roots({"": [authority.root_pem]})


# --- the headless passkey's full attestation ---------------------------------------------------------


def test_full_packed_attestation_verifies_with_py_webauthn_and_the_pinned_root(
    authority: AttestationAuthority, certificate: AttestationCertificate
) -> None:
    passkey = _passkey()
    response = passkey.register(CHALLENGE, attestation="packed", attestation_certificate=certificate)
    statement = _statement(response)
    assert statement["x5c"] == list(certificate.chain)
    assert statement["alg"] == -7
    verified = _py_webauthn(response, authority.root_pem)
    assert verified.fmt == AttestationFormat.PACKED
    assert verified.aaguid.replace("-", "") == AAGUID.hex()
    # py_webauthn refuses it against another vendor's root: the chain is really checked.
    with pytest.raises(webauthn.helpers.exceptions.InvalidRegistrationResponse):
        _py_webauthn(response, AttestationAuthority("Other").root_pem)
    credential = _verify(response, {"packed": [authority.root_pem]})
    assert credential.aaguid == AAGUID
    assert credential.public_key == passkey.public_key
    # Without a trust policy a valid full attestation is accepted as before.
    assert _verify(response, None).credential_id == passkey.credential_id


def test_the_passkey_refuses_a_certificate_for_another_model(certificate: AttestationCertificate) -> None:
    with raises_rule(ErrorCode.INVALID_ATTESTATION_CERTIFICATE, match="AAGUID"):
        _passkey(aaguid=bytes(16)).register(
            CHALLENGE, attestation="packed", attestation_certificate=certificate
        )
    with raises_rule(
        ErrorCode.INVALID_CREDENTIAL_JSON,
        ErrorCode.INVALID_CREDENTIAL_TYPE,
        ErrorCode.CREDENTIAL_ID_MISMATCH,
        match="packed",
    ):
        _passkey().register(CHALLENGE, attestation="none", attestation_certificate=certificate)


# --- the trust policy -----------------------------------------------------------------------------------


def test_pinned_roots_refuse_what_they_do_not_vouch_for(
    authority: AttestationAuthority, certificate: AttestationCertificate
) -> None:
    roots = {"packed": [authority.root_pem]}
    passkey = _passkey()
    with raises_rule(ErrorCode.ATTESTATION_UNTRUSTED, match="'none' is not trusted"):
        _verify(passkey.register(CHALLENGE), roots)
    with raises_rule(ErrorCode.ATTESTATION_UNTRUSTED, match="self attestation"):
        _verify(passkey.register(CHALLENGE, attestation="packed"), roots)
    stranger = AttestationAuthority("Other Keys Ltd").issue(AAGUID)
    foreign = passkey.register(CHALLENGE, attestation="packed", attestation_certificate=stranger)
    with raises_rule(ErrorCode.ATTESTATION_UNTRUSTED, match="does not lead to a trusted root"):
        _verify(foreign, roots)
    # Roots for another format only: the packed chain has nothing to lead to.
    with raises_rule(ErrorCode.ATTESTATION_UNTRUSTED, match="'packed' is not trusted"):
        _verify(foreign, {"tpm": [authority.root_pem]})
    genuine = passkey.register(CHALLENGE, attestation="packed", attestation_certificate=certificate)
    assert _verify(genuine, roots).credential_id == passkey.credential_id


def test_an_untrusted_chain_is_untrusted_even_with_the_other_vendors_root_absent(
    authority: AttestationAuthority,
) -> None:
    other = AttestationAuthority("Other Keys Ltd")
    foreign = _passkey().register(
        CHALLENGE, attestation="packed", attestation_certificate=other.issue(AAGUID)
    )
    assert _verify(foreign, {"packed": [authority.root_pem, other.root_pem]}).aaguid == AAGUID
    with raises_rule(ErrorCode.ATTESTATION_UNTRUSTED):
        _verify(foreign, {"packed": [authority.root_pem]})


def _with_attestation(response: dict[str, Any], attestation: dict[str, Any]) -> dict[str, Any]:
    raw = b64url_encode(cbor2.dumps(attestation))
    return {**response, "response": {**response["response"], "attestationObject": raw}}


def _forged(
    certificate: AttestationCertificate, *, aaguid: bytes, sign_with: ec.EllipticCurvePrivateKey
) -> dict[str, Any]:
    """A packed registration whose authData names ``aaguid`` and whose statement, signed by ``sign_with``,
    carries ``certificate``'s chain (what a dishonest or broken authenticator could send)."""
    response = _passkey(aaguid).register(CHALLENGE)
    attestation: dict[str, Any] = cbor2.loads(b64url_decode(response["response"]["attestationObject"]))
    client_data = b64url_decode(response["response"]["clientDataJSON"])
    signed = attestation["authData"] + hashlib.sha256(client_data).digest()
    attestation["fmt"] = "packed"
    attestation["attStmt"] = {
        "alg": -7,
        "sig": sign_with.sign(signed, ec.ECDSA(hashes.SHA256())),
        "x5c": list(certificate.chain),
    }
    return _with_attestation(response, attestation)


def test_certificate_for_another_model_or_wrong_signature_is_invalid(
    authority: AttestationAuthority, certificate: AttestationCertificate
) -> None:
    roots = {"packed": [authority.root_pem]}
    other_model = _forged(certificate, aaguid=os.urandom(16), sign_with=certificate.private_key)
    for policy in (roots, None):
        with raises_rule(ErrorCode.ATTESTATION_INVALID, match="vouches for AAGUID"):
            _verify(other_model, policy)
    wrong_key = _forged(certificate, aaguid=AAGUID, sign_with=ec.generate_private_key(ec.SECP256R1()))
    for policy in (roots, None):
        with raises_rule(ErrorCode.ATTESTATION_INVALID, match="did not verify"):
            _verify(wrong_key, policy)
    honest = _forged(certificate, aaguid=AAGUID, sign_with=certificate.private_key)
    assert _verify(honest, roots).aaguid == AAGUID


def test_malformed_x5c_is_an_invalid_attestation_object(certificate: AttestationCertificate) -> None:
    response = _forged(certificate, aaguid=AAGUID, sign_with=certificate.private_key)
    attestation = cbor2.loads(b64url_decode(response["response"]["attestationObject"]))
    for x5c in ([], "not a list", [b"ok", 7], [certificate.chain[0]] * 9):
        attestation["attStmt"]["x5c"] = x5c
        bad = _with_attestation(response, attestation)
        with raises_rule(ErrorCode.INVALID_ATTESTATION_OBJECT, match="x5c"):
            _verify(bad, None)


# --- a relying party with a trust policy, on SQLite ---------------------------------------------------


@pytest.fixture
def strict_rp(tmp_path: Path, authority: AttestationAuthority) -> Iterator[tuple[RelyingParty, Path]]:
    db = tmp_path / "rp.sqlite"
    store = SQLiteStore(db)
    yield (
        RelyingParty(
            rp_id=RP_ID,
            rp_name="Strict",
            origins=[ORIGIN],
            store=store,
            attestation_roots={"packed": [authority.root_pem]},
        ),
        db,
    )
    store.close()


def _rows(db: Path) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(db)
    try:
        return (
            conn.execute("SELECT * FROM credentials ORDER BY credential_id").fetchall(),
            conn.execute("SELECT * FROM challenges ORDER BY challenge").fetchall(),
        )
    finally:
        conn.close()


def test_relying_party_with_roots_asks_direct_and_stores_only_trusted_passkeys(
    strict_rp: tuple[RelyingParty, Path], certificate: AttestationCertificate
) -> None:
    rp, db = strict_rp
    options = rp.registration_options(user_name="carol")
    assert options["attestation"] == "direct"
    passkey = HeadlessPasskey.generate(
        rp_id=RP_ID, origin=ORIGIN, aaguid=AAGUID, user_handle=b64url_decode(options["user"]["id"])
    )
    before = _rows(db)
    with raises_rule(ErrorCode.ATTESTATION_UNTRUSTED):
        rp.verify_registration(
            passkey.register_from_options(options, attestation="packed"), user_handle=passkey.user_handle
        )
    assert _rows(db) == before  # nothing stored, the challenge still open
    stored = rp.verify_registration(
        passkey.register_from_options(options, attestation="packed", attestation_certificate=certificate),
        user_handle=passkey.user_handle,
    )
    assert stored.aaguid == AAGUID
    assert rp.store.get_credential(passkey.credential_id).public_key == passkey.public_key


def test_relying_party_roots_are_checked_at_construction(
    tmp_path: Path, authority: AttestationAuthority
) -> None:
    store = SQLiteStore(tmp_path / "rp.sqlite")
    try:
        common: dict[str, Any] = {"rp_id": RP_ID, "rp_name": "x", "origins": [ORIGIN], "store": store}
        with raises_rule(ErrorCode.INVALID_TRUST_ROOT):
            RelyingParty(**common, attestation_roots={"packed": [b"not a certificate"]})
        with raises_rule(
            ErrorCode.INVALID_CREDENTIAL_JSON,
            ErrorCode.INVALID_CREDENTIAL_TYPE,
            ErrorCode.CREDENTIAL_ID_MISMATCH,
            match="cannot satisfy",
        ):
            RelyingParty(**common, attestation="none", attestation_roots={"packed": [authority.root_pem]})
        rp = RelyingParty(**common, attestation_roots={"packed": [authority.root_pem]})
        with raises_rule(
            ErrorCode.INVALID_CREDENTIAL_JSON,
            ErrorCode.INVALID_CREDENTIAL_TYPE,
            ErrorCode.CREDENTIAL_ID_MISMATCH,
            match="cannot satisfy",
        ):
            rp.registration_options(user_name="dave", attestation="none")
        assert RelyingParty(**common).registration_options(user_name="erin")["attestation"] == "none"
    finally:
        store.close()
