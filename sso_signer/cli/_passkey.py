"""``passkey create|register``: a headless passkey key file, and the relying-party registration ceremony."""

from __future__ import annotations

import argparse
import os

from sso_signer._codec import b64url_encode
from sso_signer.cli._ceremony import register_passkey
from sso_signer.cli._context import (
    check_out_path,
    check_passkey_scope,
    load_passkey,
    passphrase_from_env,
    store_at,
    writing,
)
from sso_signer.cli._output import Reporter
from sso_signer.webauthn import HeadlessPasskey, RelyingParty

__all__ = ["create", "register"]


def create(args: argparse.Namespace, out: Reporter) -> None:
    """Create a headless passkey and save it as a PKCS#8 PEM key file (mode 0600)."""
    check_out_path(args.out)
    check_passkey_scope(args.rp_id, args.origin)
    passkey = HeadlessPasskey.generate(rp_id=args.rp_id, origin=args.origin, user_name=args.user_name)
    passphrase = passphrase_from_env(args)
    with writing(args.out):
        passkey.save(args.out, passphrase=passphrase, overwrite=args.force)
    out.result(
        {
            "key_file": os.path.abspath(args.out),
            "credential_id": b64url_encode(passkey.credential_id),
            "rp_id": passkey.rp_id,
            "origin": passkey.origin,
            "public_key": {"x": passkey.public_key.x_bytes, "y": passkey.public_key.y_bytes},
            "encrypted": passphrase is not None,
        },
        summary=f"passkey created in {args.out} (mode 0600{', encrypted' if passphrase else ''})",
    )


def register(args: argparse.Namespace, out: Reporter) -> None:
    """Run the relying-party registration ceremony with the passkey against the ``--store`` URL's store."""
    passkey = load_passkey(args)
    with store_at(args.store) as store:
        rp = RelyingParty(rp_id=passkey.rp_id, rp_name=args.rp_name, origins=[passkey.origin], store=store)
        out.step(f"registration options issued by the relying party {passkey.rp_id!r}")
        credential, _ = register_passkey(rp, passkey, user_name=args.user_name or passkey.rp_id)
        out.step("response verified (py_webauthn) and stored")
        out.result(
            {
                "store": args.store if "://" in args.store else os.path.abspath(args.store),
                "credential_id": b64url_encode(credential.credential_id),
                "user_handle": b64url_encode(credential.user_handle),
                "origin": credential.origin,
                "rp_id": credential.rp_id,
            },
            summary=f"passkey registered in {args.store}",
        )
