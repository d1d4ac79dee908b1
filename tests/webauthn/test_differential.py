"""Differential test: the SDK's assertion verifier against py_webauthn's ``verify_authentication_response``.

``verify_assertion`` claims to make every check py_webauthn makes (so ``cross_check`` is optional). Over many
assertions with mutated flags, counters, rpIdHash, origin, type, challenge, signature and backup flags, both
must give the same verdict. The only differences allowed are the SDK's stricter, documented rules, which
py_webauthn cannot know: the BE flag must equal the registered one, and ``crossOrigin: true`` is refused (the
SSO validator would refuse it on-chain). Mutations: flags (UP, UV, BE, BS), counters, rpIdHash, origin, type,
challenge, signature, crossOrigin, tokenBinding.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass, replace

import pytest
import webauthn
from webauthn.helpers.exceptions import WebAuthnException

from sso_signer.exceptions import SsoSignerError
from sso_signer.webauthn import Assertion, AuthenticatorData, HeadlessPasskey, verify_assertion
from sso_signer.webauthn._authenticator_data import AuthenticatorFlags
from sso_signer.webauthn._client_data import CollectedClientData
from sso_signer.webauthn._p256 import ECDSA_SHA256

RP_ID = "example.com"
ORIGIN = "https://example.com"
CHALLENGE = b"\x5a" * 32
FLAGS = (AuthenticatorFlags.UP, AuthenticatorFlags.UV, AuthenticatorFlags.BE, AuthenticatorFlags.BS)


@dataclass(frozen=True)
class Case:
    flags: AuthenticatorFlags
    counter: int
    stored_counter: int
    registered_be: bool
    rp_id: str = RP_ID
    origin: str = ORIGIN
    type: str = "webauthn.get"
    challenge: bytes = CHALLENGE
    cross_origin: bool | None = False
    signature: str = "valid"  # "valid", "other message", "other key"
    token_binding: object = None  # a clientDataJSON tokenBinding member, if not None

    @property
    def stricter(self) -> bool:
        """A rule the SDK adds on purpose (py_webauthn has no registered BE and accepts crossOrigin)."""
        return bool(self.flags & AuthenticatorFlags.BE) != self.registered_be or self.cross_origin is True


PASSKEY = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
OTHER = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)


def build(case: Case) -> Assertion:
    auth = AuthenticatorData.create(rp_id=case.rp_id, flags=case.flags, counter=case.counter)
    client = CollectedClientData.create(
        type=case.type,
        challenge=case.challenge,
        origin=case.origin,
        cross_origin=case.cross_origin,
        extra=None if case.token_binding is None else {"tokenBinding": case.token_binding},
    )
    message = bytes(auth) + hashlib.sha256(bytes(client)).digest()
    if case.signature == "other message":
        message += b"!"
    signer = OTHER if case.signature == "other key" else PASSKEY
    signature = signer._key.sign(message, ECDSA_SHA256)  # test-only signing
    return Assertion(PASSKEY.credential_id, auth, client, signature)


def verdicts(case: Case) -> tuple[str, str]:
    assertion = build(case)
    credential = replace(
        PASSKEY.credential, sign_count=case.stored_counter, backup_eligible=case.registered_be
    )
    try:
        verify_assertion(assertion, credential, expected_challenge=CHALLENGE, rp_id=RP_ID, origins=[ORIGIN])
        ours = "accept"
    except SsoSignerError as exc:
        ours = type(exc).__name__
    try:
        webauthn.verify_authentication_response(
            credential=assertion.to_json(),
            expected_challenge=CHALLENGE,
            expected_rp_id=RP_ID,
            expected_origin=[ORIGIN],
            credential_public_key=credential.cose_key,
            credential_current_sign_count=case.stored_counter,
            require_user_verification=True,
        )
        theirs = "accept"
    except WebAuthnException as exc:
        theirs = f"{type(exc).__name__}: {exc}"
    return ours, theirs


def _flag_sets() -> list[AuthenticatorFlags]:
    sets = []
    for bits in itertools.product((False, True), repeat=len(FLAGS)):
        flags = AuthenticatorFlags(0)
        for flag, on in zip(FLAGS, bits, strict=True):
            if on:
                flags |= flag
        sets.append(flags)
    return sets


def _cases() -> list[Case]:
    full = AuthenticatorFlags.UP | AuthenticatorFlags.UV | AuthenticatorFlags.BE | AuthenticatorFlags.BS
    base = Case(flags=full, counter=0, stored_counter=0, registered_be=True)
    cases = [base]
    # Every flag combination against both kinds of registered credential.
    cases += [replace(base, flags=f, registered_be=be) for f in _flag_sets() for be in (False, True)]
    # Counters: no counter (0/0), increasing, equal, decreasing.
    cases += [replace(base, counter=n, stored_counter=s) for n in (0, 4, 5, 6) for s in (0, 5)]
    # One field at a time.
    cases += [
        replace(base, rp_id="evil.example"),
        replace(base, origin="https://evil.example"),
        replace(base, origin="http://example.com"),
        replace(base, type="webauthn.create"),
        replace(base, type="payment.get"),
        replace(base, challenge=b"\x5b" * 32),
        replace(base, challenge=CHALLENGE[:31]),
        replace(base, cross_origin=None),
        replace(base, cross_origin=True),
        replace(base, signature="other message"),
        replace(base, signature="other key"),
        replace(base, token_binding={"status": "present", "id": "AAAA"}),
        replace(base, token_binding={"status": "supported"}),
        replace(base, token_binding={"status": "not-supported"}),
        replace(base, token_binding={"id": "AAAA"}),
        replace(base, token_binding="present"),  # some U2F devices send a string: ignored
    ]
    # And a seeded random sample of combinations: each field mutated with probability 1/4.
    rng = random.Random(14)
    choices: dict[str, tuple[object, ...]] = {
        "flags": tuple(_flag_sets()),
        "counter": (1, 5, 6, 2**32 - 1),
        "stored_counter": (5,),
        "registered_be": (False,),
        "rp_id": ("evil.example",),
        "origin": ("https://evil.example",),
        "type": ("webauthn.create",),
        "challenge": (b"\x00" * 32,),
        "cross_origin": (None, True),
        "signature": ("other message", "other key"),
    }
    for _ in range(300):
        changes = {name: rng.choice(values) for name, values in choices.items() if rng.random() < 0.25}
        cases.append(replace(base, **changes))  # type: ignore[arg-type]
    return cases


CASES = _cases()


def test_the_sample_has_both_verdicts() -> None:
    accepted = sum(verdicts(case)[1] == "accept" for case in CASES)
    assert 20 < accepted < len(CASES) - 20  # a differential test needs accepts and refusals to compare


@pytest.mark.parametrize("index", range(len(CASES)))
def test_same_verdict_as_py_webauthn(index: int) -> None:
    case = CASES[index]
    ours, theirs = verdicts(case)
    if case.stricter:
        assert ours != "accept", (case, theirs)
    else:
        assert (ours == "accept") == (theirs == "accept"), (case, ours, theirs)
