"""Byte equality with the published official SDK (npm zksync-sso 0.4.1) on headless-passkey assertions.

One node run per module: every case goes in on stdin; see tests/peers/sso_sdk_encode.mjs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from sso_signer._codec import b64url_encode, hex_decode
from sso_signer.sso import (
    FatSignature,
    deploy_passkey_account_calldata,
    era_custom_signature,
    validator_init_data,
)
from sso_signer.sso._owner import (
    deploy_proxy_sso_account_calldata,
    legacy_account_unique_id,
    modular_account_unique_id,
    validator_module_entry,
)
from sso_signer.webauthn import Assertion, HeadlessPasskey

pytestmark = pytest.mark.node_peer

FACTORY = "0x7230ae6D4a2C367ff8493a76c15F8832c62f9fE9"
PASSKEY_V = "0x006ecc2D79242F1986b7cb5F636d6E3f499f1026"
SESSION_V = "0x64Fa4b6fCF655024e6d540E0dFcA4142107D4fBC"
RECOVERY_V = "0x6AA83E35439D71F28273Df396BC7768dbaA9849D"
OIDC_V = "0x6E4085794CaaEa6A24E1F9a1B9dAF155e57FD5bb"
OWNERS = ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"]

PASSKEYS = [
    HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173"),
    HeadlessPasskey.generate(rp_id="auth-test.zksync.dev", origin="https://auth-test.zksync.dev"),
    HeadlessPasskey.generate(
        rp_id="example.com",
        origin="android:apk-key-hash:" + b64url_encode(os.urandom(32)),
        credential_id=os.urandom(64),
    ),
]


def _assertions() -> list[tuple[HeadlessPasskey, Assertion]]:
    result = []
    for i, passkey in enumerate(PASSKEYS):
        for j in range(6):
            extra = {"other_keys_can_be_added_here": "do not compare clientDataJSON"} if j % 3 == 1 else None
            result.append(
                (
                    passkey,
                    passkey.sign(
                        os.urandom(32), cross_origin=None if (i + j) % 2 else False, extra_client_data=extra
                    ),
                )
            )
    return result


ASSERTIONS = _assertions()
MODULAR: list[dict[str, Any]] = [
    {"session": SESSION_V, "recovery": RECOVERY_V, "owners": OWNERS[:1], "unique": "cred"},
    {"session": None, "recovery": None, "owners": [], "unique": None},
    {"session": SESSION_V, "recovery": None, "owners": OWNERS, "unique": "my-app user 42 ✓"},
]
LEGACY = [None, "user@example.com"]


def _cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for _, assertion in ASSERTIONS:
        cases.append({"kind": "signature", "validator": PASSKEY_V, **_browser_json(assertion)})
    for passkey in PASSKEYS:
        cases.append(
            {
                "kind": "moduleData",
                "credentialId": b64url_encode(passkey.credential_id),
                "x": "0x" + passkey.public_key.x_bytes.hex(),
                "y": "0x" + passkey.public_key.y_bytes.hex(),
                "origin": passkey.origin,
                "validator": PASSKEY_V,
            }
        )
        common = {
            "factory": FACTORY,
            "passkey": PASSKEY_V,
            "credentialId": b64url_encode(passkey.credential_id),
            "cose": "0x" + passkey.public_key.to_cose().hex(),
            "origin": passkey.origin,
        }
        for m in MODULAR:
            unique = b64url_encode(passkey.credential_id) if m["unique"] == "cred" else m["unique"]
            cases.append(
                {
                    "kind": "deployModular",
                    **common,
                    "session": m["session"],
                    "recovery": m["recovery"],
                    "owners": m["owners"],
                    "uniqueAccountId": unique,
                }
            )
        for unique in LEGACY:
            cases.append(
                {
                    "kind": "deployLegacy",
                    **common,
                    "session": SESSION_V,
                    "recovery": RECOVERY_V,
                    "recoveryOidc": OIDC_V,
                    "uniqueAccountId": unique,
                }
            )
    return cases


def _browser_json(assertion: Assertion) -> dict[str, Any]:
    data = assertion.to_json()
    return {"id": data["id"], "response": data["response"]}


@pytest.fixture(scope="module")
def sdk(peer: Callable[..., list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return peer("sso_sdk_encode.mjs", _cases(), needs=("zksync-sso", "viem"))


def test_custom_signature_equals_sdk(sdk: list[dict[str, Any]]) -> None:
    answers = sdk[: len(ASSERTIONS)]
    high_s = 0
    for (_, assertion), answer in zip(ASSERTIONS, answers, strict=True):
        high_s += assertion.ecdsa_signature.s != FatSignature.from_assertion(assertion).s
        ours = era_custom_signature(FatSignature.from_assertion(assertion), PASSKEY_V)
        assert ours == hex_decode(answer["customSignature"])
    assert high_s > 0, "no high-s assertion among the cases: normalisation was not compared"


def test_module_data_and_deploy_calldata_equal_sdk(sdk: list[dict[str, Any]]) -> None:
    answers = iter(sdk[len(ASSERTIONS) :])
    for passkey in PASSKEYS:
        init = validator_init_data(passkey.credential_id, passkey.public_key, passkey.origin)
        module = next(answers)
        assert init == hex_decode(module["initData"])
        assert validator_module_entry(PASSKEY_V, init) == hex_decode(module["entry"])
        cred_b64u = b64url_encode(passkey.credential_id)
        for m in MODULAR:
            unique = cred_b64u if m["unique"] == "cred" else m["unique"]
            modules = []
            if m["session"]:
                modules.append(validator_module_entry(m["session"]))
            modules.append(validator_module_entry(PASSKEY_V, init))
            if m["recovery"]:
                modules.append(validator_module_entry(m["recovery"]))
            unique_id = modular_account_unique_id(
                unique_account_id=unique, owners=m["owners"], credential_id=passkey.credential_id
            )
            expected = hex_decode(next(answers)["calldata"])
            assert deploy_proxy_sso_account_calldata(unique_id, modules, m["owners"]) == expected
            if m["unique"] == "cred":  # the auth server's choice is the high-level default
                _, calldata = deploy_passkey_account_calldata(
                    passkey,
                    passkey_validator=PASSKEY_V,
                    session_validator=m["session"],
                    no_data_modules=[m["recovery"]] if m["recovery"] else [],
                    k1_owners=m["owners"],
                )
                assert calldata == expected
        for legacy_unique in LEGACY:
            account_id = legacy_unique if legacy_unique is not None else "0x" + init.hex()
            modules = [
                validator_module_entry(PASSKEY_V, init),
                validator_module_entry(SESSION_V),
                validator_module_entry(RECOVERY_V),
                validator_module_entry(OIDC_V),
            ]
            expected = hex_decode(next(answers)["calldata"])
            assert (
                deploy_proxy_sso_account_calldata(legacy_account_unique_id(account_id), modules, [])
                == expected
            )
