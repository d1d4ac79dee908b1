"""Attestation certificates: the ``packed`` format's certificate rules, trust roots for a relying party, and
a small certificate authority that issues attestation certificates to headless passkeys.

A relying party that pins trust roots accepts only registrations whose attestation certificate chains to one
of them (an enterprise that allows only its own security keys, a test that wants "direct" attestation
exercised end to end). The authority here exists for the second case and for scripts; real authenticators
carry their vendor's certificates.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sso_signer.exceptions import ErrorCode, InvalidKey

__all__ = [
    "AAGUID_EXTENSION_OID",
    "AttestationAuthority",
    "AttestationCertificate",
    "certificate_aaguid",
    "load_trust_roots",
]

AAGUID_EXTENSION_OID: Final = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")
"""``id-fido-gen-ce-aaguid``: the authenticator model an attestation certificate vouches for."""

# The packed format's certificate subject must name this organisational unit (WebAuthn §8.2.1).
_PACKED_OU: Final = "Authenticator Attestation"
_DER_OCTET_STRING_16: Final = b"\x04\x10"


def certificate_aaguid(certificate: x509.Certificate) -> bytes | None:
    """The AAGUID in a certificate's ``id-fido-gen-ce-aaguid`` extension, or None without the extension.

    Raises:
        InvalidKey (``INVALID_ATTESTATION_CERTIFICATE``): If the extension is not an OCTET STRING of 16 bytes.
    """
    try:
        extension = certificate.extensions.get_extension_for_oid(AAGUID_EXTENSION_OID)
    except x509.ExtensionNotFound:
        return None
    value = extension.value
    raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    if len(raw) != 18 or raw[:2] != _DER_OCTET_STRING_16:
        raise InvalidKey(
            "the AAGUID extension is not an OCTET STRING of 16 bytes",
            rule=ErrorCode.INVALID_ATTESTATION_CERTIFICATE,
        )
    return raw[2:]


def load_trust_roots(roots: Mapping[str, Sequence[bytes]]) -> dict[str, tuple[bytes, ...]]:
    """Check a relying party's attestation trust roots: per format, one or more PEM X.509 certificates.

    Args:
        roots: Attestation format (``"packed"``, ``"fido-u2f"``, ``"tpm"``...) to PEM certificates.

    Returns:
        The same roots as tuples of bytes.

    Raises:
        InvalidKey (``INVALID_TRUST_ROOT``): If a format has no certificate or a certificate is not PEM X.509.
    """
    checked: dict[str, tuple[bytes, ...]] = {}
    for fmt, certificates in roots.items():
        if not isinstance(fmt, str) or not fmt:
            raise InvalidKey(
                f"an attestation format must be a non-empty string, got {fmt!r}",
                rule=ErrorCode.INVALID_TRUST_ROOT,
            )
        if isinstance(certificates, bytes | str) or not certificates:
            raise InvalidKey(
                f"attestation format {fmt!r} needs a sequence of one or more PEM roots",
                rule=ErrorCode.INVALID_TRUST_ROOT,
            )
        for index, pem in enumerate(certificates):
            try:
                x509.load_pem_x509_certificate(pem)
            except (TypeError, ValueError) as exc:
                raise InvalidKey(
                    f"trust root {index} for {fmt!r} is not a PEM X.509 certificate: {exc}",
                    rule=ErrorCode.INVALID_TRUST_ROOT,
                ) from exc
        checked[fmt] = tuple(bytes(pem) for pem in certificates)
    return checked


def _certificate_builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, valid_days: int
) -> x509.CertificateBuilder:
    # Valid from yesterday: a verifier whose clock lags a little still accepts a certificate made now.
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
    )


@dataclass(frozen=True, slots=True, repr=False)
class AttestationCertificate:
    """An authenticator's attestation key and its certificate chain, leaf first (DER), as ``x5c`` carries it.

    Args:
        private_key: The P-256 attestation key (shared by a batch of authenticators of one model).
        chain: DER certificates, the leaf (for ``private_key``) first, then intermediates; not the root.

    Raises:
        InvalidKey (``INVALID_ATTESTATION_CERTIFICATE``): If the chain is empty, a certificate is not DER
            X.509, or the leaf is not the key's certificate.
    """

    private_key: ec.EllipticCurvePrivateKey
    chain: tuple[bytes, ...]
    leaf: x509.Certificate = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            self.private_key.curve, ec.SECP256R1
        ):
            raise InvalidKey(
                "the attestation key must be a P-256 private key",
                rule=ErrorCode.INVALID_ATTESTATION_CERTIFICATE,
            )
        if not self.chain:
            raise InvalidKey("the attestation chain is empty", rule=ErrorCode.INVALID_ATTESTATION_CERTIFICATE)
        parsed = []
        for index, der in enumerate(self.chain):
            try:
                parsed.append(x509.load_der_x509_certificate(der))
            except (TypeError, ValueError) as exc:
                raise InvalidKey(
                    f"attestation certificate {index} is not DER X.509: {exc}",
                    rule=ErrorCode.INVALID_ATTESTATION_CERTIFICATE,
                ) from exc
        if parsed[0].public_key() != self.private_key.public_key():
            raise InvalidKey(
                "the leaf certificate is not the attestation key's",
                rule=ErrorCode.INVALID_ATTESTATION_CERTIFICATE,
            )
        object.__setattr__(self, "chain", tuple(bytes(der) for der in self.chain))
        object.__setattr__(self, "leaf", parsed[0])

    def __repr__(self) -> str:
        subject = self.leaf.subject.rfc4514_string()
        return f"AttestationCertificate(subject={subject!r}, chain={len(self.chain)})"

    @property
    def aaguid(self) -> bytes | None:
        """The AAGUID the leaf vouches for, or None if it names no model."""
        return certificate_aaguid(self.leaf)


class AttestationAuthority:
    """A root certificate authority that issues ``packed`` attestation certificates (for tests and scripts).

    Give :attr:`root_pem` to the relying party's ``attestation_roots``; give an issued
    :class:`AttestationCertificate` to ``HeadlessPasskey.register(attestation="packed", ...)``.

    Args:
        name: The vendor name written into the certificates.
        valid_days: How long the root and the certificates it issues stay valid.
    """

    def __init__(self, name: str = "sso-signer test authenticators", *, valid_days: int = 3650) -> None:
        self.name = name
        self.valid_days = valid_days
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} attestation root"),
            ]
        )
        self.root = (
            _certificate_builder(subject, subject, self._key.public_key(), valid_days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    def __repr__(self) -> str:
        return f"AttestationAuthority(name={self.name!r})"

    @property
    def root_pem(self) -> bytes:
        """The root certificate in PEM, as a relying party's trust roots take it."""
        return self.root.public_bytes(serialization.Encoding.PEM)

    def issue(self, aaguid: bytes | None = None, *, country: str = "US") -> AttestationCertificate:
        """A fresh attestation key and its certificate, following the ``packed`` format's rules.

        Version 3, subject C/O/OU="Authenticator Attestation"/CN, not a CA, and the AAGUID extension
        (not critical) when ``aaguid`` is given.

        Args:
            aaguid: The 16-byte authenticator model id to vouch for; None leaves the extension out.
            country: The subject's ISO 3166 country code.

        Returns:
            The key and its one-certificate chain (the root is the relying party's).

        Raises:
            InvalidKey (``INVALID_ATTESTATION_CERTIFICATE``): If ``aaguid`` is not 16 bytes.
        """
        if aaguid is not None and len(aaguid) != 16:
            raise InvalidKey(
                f"AAGUID must be 16 bytes, got {len(aaguid)}", rule=ErrorCode.INVALID_ATTESTATION_CERTIFICATE
            )
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.name),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _PACKED_OU),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{self.name} batch {secrets.token_hex(4)}"),
            ]
        )
        builder = (
            _certificate_builder(subject, self.root.subject, key.public_key(), self.valid_days)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        )
        if aaguid is not None:
            extension = x509.UnrecognizedExtension(AAGUID_EXTENSION_OID, _DER_OCTET_STRING_16 + aaguid)
            builder = builder.add_extension(extension, critical=False)
        leaf = builder.sign(self._key, hashes.SHA256())
        return AttestationCertificate(key, (leaf.public_bytes(serialization.Encoding.DER),))
