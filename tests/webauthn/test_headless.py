"""The headless passkey: real attestation objects and assertions that py_webauthn verifies; key files."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
import webauthn
from cryptography.hazmat.primitives import serialization
from webauthn.helpers.structs import AttestationFormat

from sso_signer._codec import b64url_decode
from sso_signer.exceptions import ErrorCode, WrongPassphrase
from sso_signer.webauthn import HeadlessPasskey, P256PublicKey
from sso_signer.webauthn._authenticator_data import AuthenticatorFlags
from tests.errors import raises_rule

RP_ID = "localhost"
ORIGIN = "http://localhost:5173"
CHALLENGE = bytes(range(32))


def _verify_get(passkey: HeadlessPasskey, challenge: bytes, count: int = 0, **kwargs: object) -> int:
    assertion = passkey.sign(challenge, **kwargs)  # type: ignore[arg-type]
    result = webauthn.verify_authentication_response(
        credential=assertion.to_json(),
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=passkey.public_key.to_cose(),
        credential_current_sign_count=count,
        require_user_verification=True,
    )
    return result.new_sign_count


@pytest.mark.parametrize("fmt", ["none", "packed"])
def test_registration_verifies_with_py_webauthn(fmt: str) -> None:
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    response = passkey.register(CHALLENGE, attestation=fmt)  # type: ignore[arg-type]
    verified = webauthn.verify_registration_response(
        credential=response,
        expected_challenge=CHALLENGE,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
    )
    assert verified.fmt == AttestationFormat(fmt)
    assert verified.credential_id == passkey.credential_id
    assert P256PublicKey.from_cose(verified.credential_public_key) == passkey.public_key
    assert verified.user_verified
    assert verified.credential_backed_up


def test_packed_attestation_with_wrong_key_is_rejected_by_py_webauthn() -> None:
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    other = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN, credential_id=passkey.credential_id)
    good = passkey.register(CHALLENGE, attestation="packed")
    forged = other.register(CHALLENGE, attestation="packed")
    # authData/cose of one key, attestation signature of another
    import cbor2

    att = cbor2.loads(b64url_decode(good["response"]["attestationObject"]))
    att["attStmt"] = cbor2.loads(b64url_decode(forged["response"]["attestationObject"]))["attStmt"]
    from sso_signer._codec import b64url_encode

    good["response"]["attestationObject"] = b64url_encode(cbor2.dumps(att))
    with pytest.raises(webauthn.helpers.exceptions.InvalidRegistrationResponse):
        webauthn.verify_registration_response(
            credential=good, expected_challenge=CHALLENGE, expected_rp_id=RP_ID, expected_origin=ORIGIN
        )


def test_assertions_verify_and_are_high_s_like_real_authenticators() -> None:
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    high = 0
    for i in range(64):
        challenge = i.to_bytes(32, "big")
        assertion = passkey.sign(challenge)
        assert passkey.public_key.verify(assertion.ecdsa_signature, assertion.signed_message)
        high += not assertion.ecdsa_signature.is_low_s
        if i < 8:
            assert _verify_get(passkey, challenge) == 0
    # Raw ECDSA: P(high-s) = 1/2; 64 draws outside [12, 52] has probability < 1e-6.
    assert 12 <= high <= 52


def test_assertion_shape_and_flags() -> None:
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN, backup_eligible=False, backup_state=False)
    assertion = passkey.sign(CHALLENGE, user_verified=False, cross_origin=None, extra_client_data={"k": "v"})
    assert bytes(assertion.client_data).startswith(b'{"type":"webauthn.get","challenge":"AAECAwQF')
    assert assertion.client_data.cross_origin is None
    assert assertion.client_data.data["k"] == "v"
    assert assertion.authenticator_data.flags == AuthenticatorFlags.UP
    assert assertion.user_handle == passkey.user_handle
    synced = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN).sign(CHALLENGE)
    expected = AuthenticatorFlags.UP | AuthenticatorFlags.UV | AuthenticatorFlags.BE | AuthenticatorFlags.BS
    assert synced.authenticator_data.flags == expected
    other_origin = passkey.sign(CHALLENGE, origin="https://elsewhere.example")
    assert other_origin.client_data.origin == "https://elsewhere.example"


def test_counter_modes() -> None:
    fixed = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    assert [fixed.sign(CHALLENGE).authenticator_data.counter for _ in range(3)] == [0, 0, 0]
    counting = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN, counter_mode="increment")
    assert [counting.sign(CHALLENGE).authenticator_data.counter for _ in range(3)] == [1, 2, 3]
    assert _verify_get(counting, CHALLENGE, count=3) == 4


def test_private_key_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    secret = passkey._key.private_numbers().private_value  # test-only peek at the secret
    secret_texts = {str(secret), f"{secret:x}", f"{secret:064x}"}
    logging.getLogger("test").warning("passkey %r %s", passkey, passkey)
    shown = repr(passkey) + str(passkey) + caplog.text + repr(passkey.credential)
    assert not any(t in shown for t in secret_texts)
    assert f"{passkey.public_key.x:064x}" in shown  # the repr does show the public key
    assert not hasattr(passkey, "__dict__")  # slots only: no stray attribute can leak the key via vars()


def test_save_load_plain(tmp_path: Path) -> None:
    passkey = HeadlessPasskey.generate(
        rp_id=RP_ID, origin=ORIGIN, user_name="alice", counter_mode="increment"
    )
    passkey.sign(CHALLENGE)
    path = tmp_path / "alice.pem"
    passkey.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "-----BEGIN PRIVATE KEY-----" in text
    # The PEM block is plain PKCS#8 that other tools read.
    block = text[text.index("-----BEGIN") :].encode()
    assert (
        P256PublicKey.from_cryptography(serialization.load_pem_private_key(block, None)) == passkey.public_key
    )
    loaded = HeadlessPasskey.load(path)
    assert loaded.public_key == passkey.public_key
    assert loaded.credential == passkey.credential
    assert loaded.counter == 1
    assert loaded.sign(CHALLENGE).authenticator_data.counter == 2
    with raises_rule(ErrorCode.KEY_FILE_EXISTS):
        passkey.save(path)
    passkey.save(path, overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_load_encrypted(tmp_path: Path) -> None:
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    path = tmp_path / "k.pem"
    passkey.save(path, passphrase="correct horse")
    assert "ENCRYPTED PRIVATE KEY" in path.read_text()
    assert HeadlessPasskey.load(path, passphrase="correct horse").public_key == passkey.public_key
    with pytest.raises(WrongPassphrase) as info:
        HeadlessPasskey.load(path, passphrase="wrong")
    assert "correct horse" not in str(info.value)
    with pytest.raises(WrongPassphrase):
        HeadlessPasskey.load(path)
    plain = tmp_path / "plain.pem"
    passkey.save(plain)
    with pytest.raises(WrongPassphrase):
        HeadlessPasskey.load(plain, passphrase="x")


def test_passphrases_a_key_file_cannot_hold_are_typed_errors(tmp_path: Path) -> None:
    """Empty, longer than OpenSSL's 1023 bytes, or not text: refused before anything is written (they were
    a bare ValueError / UnicodeEncodeError), and a str from a non-UTF-8 environment variable (surrogate
    escaped) is the variable's bytes, as the CLI's ``--passphrase-env`` reads them."""
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    path = tmp_path / "k.pem"
    for bad, rule in (
        ("", ErrorCode.INVALID_ENCODING),
        (b"", ErrorCode.INVALID_ENCODING),
        ("\ud800", ErrorCode.INVALID_ENCODING),
        ("p" * 1024, ErrorCode.FIELD_TOO_LARGE),
    ):
        with raises_rule(rule):
            passkey.save(path, passphrase=bad)
        assert list(tmp_path.iterdir()) == []
    passkey.save(path, passphrase="\udcff")  # os.environ's form of the byte 0xff
    assert HeadlessPasskey.load(path, passphrase=b"\xff").public_key == passkey.public_key
    for wrong in ("\ud800", "", "p" * 1024):
        with pytest.raises(WrongPassphrase):
            HeadlessPasskey.load(path, passphrase=wrong)


def test_a_user_name_that_looks_like_a_pem_boundary_still_loads(tmp_path: Path) -> None:
    """The user name comes from the relying party's options and is kept in the metadata line: text in it
    that looks like the PEM block's start must not make the saved key unloadable."""
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN, user_name="-----BEGIN PRIVATE KEY-----\n")
    passkey.save(tmp_path / "k.pem")
    loaded = HeadlessPasskey.load(tmp_path / "k.pem")
    assert loaded.public_key == passkey.public_key
    from sso_signer.webauthn._keyfile import read_key_file

    assert read_key_file(tmp_path / "k.pem")[1]["user_name"] == "-----BEGIN PRIVATE KEY-----\n"


def test_load_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("hello")
    with raises_rule(ErrorCode.INVALID_KEY_FILE):
        HeadlessPasskey.load(bad)
    with raises_rule(ErrorCode.INVALID_KEY_FILE):
        HeadlessPasskey.load(tmp_path / "missing.pem")
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    good = tmp_path / "good.pem"
    passkey.save(good)
    text = good.read_text()
    (tmp_path / "nometa.pem").write_text(text[text.index("-----BEGIN") :])
    with raises_rule(ErrorCode.INVALID_KEY_FILE):
        HeadlessPasskey.load(tmp_path / "nometa.pem")
    (tmp_path / "badmeta.pem").write_text(
        'sso-signer-passkey: {"rp_id": 1}\n' + text[text.index("-----BEGIN") :]
    )
    with raises_rule(ErrorCode.INVALID_KEY_FILE):
        HeadlessPasskey.load(tmp_path / "badmeta.pem")
    (tmp_path / "corrupt.pem").write_text(text.replace(text.splitlines()[2], "A" * 64))
    with raises_rule(ErrorCode.INVALID_KEY_FILE):
        HeadlessPasskey.load(tmp_path / "corrupt.pem")
