"""One signature per validator rule (and the accepted shapes), built from real keys against a real chain.

:func:`build_cases` registers the keys it needs on the deployed validator, then returns the cases; the tests
compare, for each case, the on-chain rule and verdict with what is expected and with the Python preflight.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from eth_abi.abi import encode as abi_encode

from sso_signer.node import AnvilNode
from sso_signer.sso import FatSignature
from sso_signer.webauthn import HeadlessPasskey, P256PublicKey
from sso_signer.webauthn._authenticator_data import AuthenticatorFlags
from sso_signer.webauthn._p256 import P256_N
from tests.contracts.era_chain import CraftingSigner, EraValidator, Rule, high_s, new_account

ORIGIN = "https://sso.example.org"
RP_ID = "sso.example.org"
UP = AuthenticatorFlags.UP
UV = AuthenticatorFlags.UV


@dataclass(frozen=True, slots=True)
class Case:
    """A signature presented to the validator.

    Attributes:
        name: What the case shows.
        signed_hash: The hash the account asks about (the challenge it expects).
        fat: The fat signature bytes.
        account: The account that calls the validator (msg.sender).
        expected: The rule the validator must name.
    """

    name: str
    signed_hash: bytes
    fat: bytes
    account: str
    expected: Rule


@dataclass(frozen=True, slots=True)
class Keys:
    """The keys :func:`build_cases` registered (so preflight can be given the same key table)."""

    account: str
    other_account: str
    signer: CraftingSigner
    passkey: HeadlessPasskey
    other_signer: CraftingSigner

    def key_table(self, account: str) -> dict[tuple[str, bytes], P256PublicKey]:
        """What the chain stores for ``account``: (origin, credential id) -> key, as preflight takes it."""
        if account == self.other_account:
            return {(ORIGIN, self.other_signer.credential_id): self.other_signer.public_key}
        return {
            (ORIGIN, self.signer.credential_id): self.signer.public_key,
            (ORIGIN, self.passkey.credential_id): self.passkey.public_key,
        }


def register_keys(node: AnvilNode, validator: EraValidator) -> Keys:
    """Two fresh accounts: the first holds a crafting key and a headless passkey, the second its own key."""
    owner = new_account(node)
    other = new_account(node)
    signer = CraftingSigner(secrets.token_bytes(20), ORIGIN, RP_ID)
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    other_signer = CraftingSigner(secrets.token_bytes(32), ORIGIN, RP_ID)
    validator.add_key(owner, signer.credential_id, signer.public_key, ORIGIN)
    validator.add_key(owner, passkey.credential_id, passkey.public_key, ORIGIN)
    validator.add_key(other, other_signer.credential_id, other_signer.public_key, ORIGIN)
    return Keys(owner.address, other.address, signer, passkey, other_signer)


def _headless_pair(passkey: HeadlessPasskey, signed_hash: bytes) -> tuple[FatSignature, FatSignature]:
    """Sign until the authenticator's raw signature is high-s; return (raw high-s, normalised)."""
    for _ in range(64):  # each try is high-s with probability 1/2
        assertion = passkey.sign(signed_hash)
        if not assertion.ecdsa_signature.is_low_s:
            return FatSignature.from_assertion(assertion, normalize=False), FatSignature.from_assertion(
                assertion
            )
    raise AssertionError("64 headless signatures in a row were low-s")


def build_cases(keys: Keys) -> list[Case]:
    """Every rule of the validator, plus the accepted shapes, for the accounts in ``keys``."""
    h = secrets.token_bytes(32)
    signer, passkey, owner = keys.signer, keys.passkey, keys.account
    auth = signer.auth_data()
    client = signer.client_data(h)
    good = signer.signature(auth, client)
    high, normalised = _headless_pair(passkey, h)

    def case(name: str, fat: bytes, expected: Rule, account: str = owner, signed_hash: bytes = h) -> Case:
        return Case(name, signed_hash, fat, account, expected)

    def crafted(auth_data: bytes, client_data: bytes) -> bytes:
        return signer.fat(auth_data, client_data)

    # The clientDataJSON a browser would send, with one member changed; still correctly signed.
    challenge_31 = signer.client_data(h[:31])
    no_challenge = b'{"type":"webauthn.get","origin":"' + ORIGIN.encode() + b'","crossOrigin":false}'
    cross_origin = passkey.sign(h, cross_origin=True)
    safari = passkey.sign(h, cross_origin=None)
    chromium_extra = passkey.sign(h, extra_client_data={"other_keys_can_be_added_here": "do not compare"})
    # The other account's key signs, presented with the owner's credential id: the owner's key must refuse it.
    stolen = keys.other_signer.signature(auth, client)
    return [
        # accepted
        case("crafted low-s", signer.fat(auth, client), Rule.VALID),
        case("headless, normalised high-s", normalised.encode(), Rule.VALID),
        case("crossOrigin absent (Safari)", FatSignature.from_assertion(safari).encode(), Rule.VALID),
        case(
            "extra clientDataJSON member (Chromium)",
            FatSignature.from_assertion(chromium_extra).encode(),
            Rule.VALID,
        ),
        # rule 1-2: r, s
        case("r = 0", signer.fat(auth, client, r=0), Rule.SIGNATURE_OUT_OF_RANGE),
        case("s = 0", signer.fat(auth, client, s=0), Rule.SIGNATURE_OUT_OF_RANGE),
        case("r = n + 1", signer.fat(auth, client, r=P256_N + 1), Rule.SIGNATURE_OUT_OF_RANGE),
        case("r = 2**256 - 1", signer.fat(auth, client, r=2**256 - 1), Rule.SIGNATURE_OUT_OF_RANGE),
        case("s = n", signer.fat(auth, client, s=P256_N), Rule.SIGNATURE_OUT_OF_RANGE),
        case(
            "r = n (official bound r <= n; the precompile refuses)",
            signer.fat(auth, client, r=P256_N),
            Rule.BAD_SIGNATURE,
        ),
        case("headless, raw high-s", high.encode(), Rule.HIGH_S),
        case("crafted, high-s twin", signer.fat(auth, client, s=high_s(good.s)), Rule.HIGH_S),
        # rule 3: authenticatorData flags
        case("authData 32 bytes (no flags byte)", crafted(auth[:32], client), Rule.AUTH_DATA_TOO_SHORT),
        case("flags UP only", crafted(signer.auth_data(UP), client), Rule.MISSING_USER_FLAGS),
        case("flags UV only", crafted(signer.auth_data(UV), client), Rule.MISSING_USER_FLAGS),
        case("flags none", crafted(signer.auth_data(0), client), Rule.MISSING_USER_FLAGS),
        case(
            "headless, user not verified",
            FatSignature.from_assertion(passkey.sign(h, user_verified=False)).encode(),
            Rule.MISSING_USER_FLAGS,
        ),
        # rules 4-5: clientDataJSON, challenge
        case("clientDataJSON not JSON", crafted(auth, client[:-1]), Rule.CLIENT_DATA_NOT_JSON),
        case("no challenge", crafted(auth, no_challenge), Rule.CHALLENGE_MISSING),
        case("challenge of 31 bytes", crafted(auth, challenge_31), Rule.CHALLENGE_LENGTH),
        case(
            "challenge for another hash",
            FatSignature.from_assertion(passkey.sign(secrets.token_bytes(32))).encode(),
            Rule.CHALLENGE_MISMATCH,
        ),
        # rule 6: type
        case(
            "type webauthn.create",
            crafted(auth, signer.client_data(h, type_="webauthn.create")),
            Rule.WRONG_TYPE,
        ),
        # rule 7: the origin selects the key
        case(
            "another origin",
            FatSignature.from_assertion(passkey.sign(h, origin="https://sso.example.org.evil")).encode(),
            Rule.UNKNOWN_KEY,
        ),
        case(
            "unknown credential id",
            FatSignature(auth, client, good.r, good.s, secrets.token_bytes(20)).encode(),
            Rule.UNKNOWN_KEY,
        ),
        case("right key, other account asks", signer.fat(auth, client), Rule.UNKNOWN_KEY, keys.other_account),
        case(
            "other account's credential",
            keys.other_signer.fat(auth, client),
            Rule.UNKNOWN_KEY,
        ),
        # rule 8: crossOrigin
        case("crossOrigin true", FatSignature.from_assertion(cross_origin).encode(), Rule.CROSS_ORIGIN),
        # rule 9: the P-256 signature itself
        case(
            "other account's key signed it",
            FatSignature(auth, client, stolen.r, stolen.s, signer.credential_id).encode(),
            Rule.BAD_SIGNATURE,
        ),
        case(
            "authData changed after signing",
            FatSignature(
                signer.auth_data(UP | UV | AuthenticatorFlags.BE),
                client,
                good.r,
                good.s,
                signer.credential_id,
            ).encode(),
            Rule.BAD_SIGNATURE,
        ),
        # not a fat signature at all
        case("not ABI", abi_encode(["bytes"], [b"\x01\x02"]), Rule.MALFORMED),
    ]


def build_edge_cases(keys: Keys) -> list[Case]:
    """Hand-made clientDataJSON and encodings no browser or SDK emits, where parsers could disagree."""
    h = secrets.token_bytes(32)
    signer, owner = keys.signer, keys.account
    auth = signer.auth_data()
    challenge = signer.client_data(h).split(b'"challenge":"')[1].split(b'"')[0]
    origin = ORIGIN.encode()

    def json_case(name: str, client_data: bytes, expected: Rule) -> Case:
        return Case(name, h, signer.fat(auth, client_data), owner, expected)

    good = signer.fat(auth, signer.client_data(h))
    # Type, challenge and origin as a browser writes them, the origin string left open for the case to end.
    open_origin = b'{"type":"webauthn.get","challenge":"' + challenge + b'","origin":"' + origin
    return [
        json_case(
            "duplicate challenge is refused (solady would take the last one)",
            b'{"type":"webauthn.get","challenge":"AAAA","challenge":"'
            + challenge
            + b'","origin":"'
            + origin
            + b'"}',
            Rule.CLIENT_DATA_NOT_JSON,
        ),
        json_case(
            "type repeated under an escaped name is refused",
            b'{"type":"webauthn.create","\\u0074ype":"webauthn.get","challenge":"'
            + challenge
            + b'","origin":"'
            + origin
            + b'"}',
            Rule.CLIENT_DATA_NOT_JSON,
        ),
        json_case(
            "a read member named with escapes is refused (the official validators look names up raw)",
            b'{"\\u0074ype":"webauthn.get","challenge":"' + challenge + b'","origin":"' + origin + b'"}',
            Rule.CLIENT_DATA_NOT_JSON,
        ),
        json_case(
            "crossOrigin named with escapes is refused (the official validators would not see it)",
            open_origin + b'","cross\\u004frigin":true}',
            Rule.CLIENT_DATA_NOT_JSON,
        ),
        json_case(
            "escaped names nested deeper or naming other members are harmless",
            open_origin + b'","x":{"\\u0074ype":1},"\\u0074yp":2}',
            Rule.VALID,
        ),
        json_case(
            "origin with a lone high surrogate escape does not decode (solady)",
            open_origin + b'\\ud800"}',
            Rule.CLIENT_DATA_NOT_JSON,
        ),
        json_case(
            "origin with a lone low surrogate escape decodes to bytes no key has",
            open_origin + b'\\udc00"}',
            Rule.UNKNOWN_KEY,
        ),
        json_case(
            "origin with a high surrogate paired to a non-surrogate escape",
            open_origin + b'\\ud800\\u0041"}',
            Rule.UNKNOWN_KEY,
        ),
        json_case(
            "type with a lone high surrogate escape does not decode",
            b'{"type":"webauthn.get\\ud800","challenge":"' + challenge + b'","origin":"' + origin + b'"}',
            Rule.CLIENT_DATA_NOT_JSON,
        ),
        json_case(
            "challenge with a lone high surrogate escape does not decode",
            b'{"type":"webauthn.get","challenge":"' + challenge + b'\\udbff","origin":"' + origin + b'"}',
            Rule.CLIENT_DATA_NOT_JSON,
        ),
        json_case(
            "member name without its opening quote",
            b'{"challenge":"' + challenge + b'","origin":"' + origin + b'",Xtype":"webauthn.get"}',
            Rule.CLIENT_DATA_NOT_JSON,
        ),
        json_case(
            "raw control character inside a string",
            b'{"type":"webauthn.get","challenge":"' + challenge + b'","origin":"' + origin + b'","x":"\x01"}',
            Rule.CLIENT_DATA_NOT_JSON,
        ),
        json_case(
            "a spoofed member inside another string does not count",
            b'{"type":"webauthn.get","challenge":"'
            + challenge
            + b'","origin":"'
            + origin
            + b'","note":"\\",\\"crossOrigin\\":true"}',
            Rule.VALID,
        ),
        json_case(
            "nested objects and arrays are validated and skipped",
            b'{"tokenBinding":{"status":"present","type":[1,-2.5e3,true,null,{}]},"type":"webauthn.get",'
            b'"challenge":"' + challenge + b'","origin":"' + origin + b'","crossOrigin":false}',
            Rule.VALID,
        ),
        json_case(
            "standard base64 alphabet with padding",
            b'{"type":"webauthn.get","challenge":"' + base64.b64encode(h) + b'","origin":"' + origin + b'"}',
            Rule.VALID,
        ),
        json_case(
            "challenge not base64",
            b'{"type":"webauthn.get","challenge":"!!!!","origin":"' + origin + b'"}',
            Rule.CHALLENGE_LENGTH,
        ),
        json_case(
            'crossOrigin is the string "false"',
            b'{"type":"webauthn.get","challenge":"'
            + challenge
            + b'","origin":"'
            + origin
            + b'","crossOrigin":"false"}',
            Rule.CROSS_ORIGIN,
        ),
        json_case(
            "crossOrigin null",
            b'{"type":"webauthn.get","challenge":"'
            + challenge
            + b'","origin":"'
            + origin
            + b'","crossOrigin":null}',
            Rule.CROSS_ORIGIN,
        ),
        json_case(
            "type is not a string",
            b'{"type":1,"challenge":"' + challenge + b'","origin":"' + origin + b'"}',
            Rule.WRONG_TYPE,
        ),
        json_case(
            "origin is not a string",
            b'{"type":"webauthn.get","challenge":"' + challenge + b'","origin":["' + origin + b'"]}',
            Rule.UNKNOWN_KEY,
        ),
        json_case("clientDataJSON is an array", b"[1,2]", Rule.CHALLENGE_MISSING),
        Case("fat signature with trailing bytes", h, good + bytes(32), owner, Rule.VALID),
    ]
