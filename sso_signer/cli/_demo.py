"""``demo``: the strongest real passkey flow this machine allows, from nothing, in under a minute.

1. Start a chain (``anvil --hardfork osaka``: P-256 precompile at ``0x100``), deploy EntryPoint v0.8, the
   ERC-4337 SSO contracts and the Era ``WebAuthValidator``, start the Alto bundler.
2. Register a passkey through the full relying-party ceremony: registration options → a headless passkey
   answers like a browser → verified with py_webauthn → stored in a temporary SQLite store.
3. Create the passkey's ERC-4337 account (counterfactual: its first UserOperation deploys it) and fund it.
4. Era: build a type 0x71 transfer, sign it through the authentication ceremony (the EIP-712 signed hash is
   the challenge; the relying party verifies the assertion; preflight against the validator's rules) and
   have the deployed Era validator verify the transaction's custom signature (``validateTransaction`` through
   ``eth_call``, from the account). A tampered copy is shown to fail. Executing 0x71 needs a ZKsync node
   with EraVM builds of the SSO contracts, which this machine cannot install: the Era path stops there.
5. ERC-4337: the same passkey signs a UserOperation (userOpHash as the challenge, same ceremony); Alto bundles
   it, the EntryPoint validates it on chain and the transfer executes. Final balances are printed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

from eth_utils.crypto import keccak

from sso_signer._artifacts import load_artifact
from sso_signer._codec import b64url_encode
from sso_signer.accounts import CeremonyAssertionProvider, EraAccount, EraNetwork, Erc4337Account
from sso_signer.accounts._era import add_passkey_calldata, webauthn_validation_gas
from sso_signer.cli._ceremony import headless_browser, register_passkey
from sso_signer.cli._context import format_ether as _ether
from sso_signer.cli._context import parse_wei
from sso_signer.cli._output import Reporter
from sso_signer.exceptions import CliUsageError, VerificationError
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.sso import account_salt, eip191_hash
from sso_signer.sso._signature import checksum_address
from sso_signer.webauthn import HeadlessPasskey, RelyingParty, SQLiteStore

__all__ = ["DEMO_ORIGIN", "DEMO_RP_ID", "demo", "run_demo"]

DEMO_RP_ID = "localhost"
DEMO_ORIGIN = "http://localhost:5173"
_FUNDING = 10**17  # 0.1 ETH for the account: enough for the transfer and the first UserOperation's gas


def demo(args: argparse.Namespace, out: Reporter) -> None:
    """The whole flow on a local chain this command starts (see :func:`run_demo`)."""
    summary = run_demo(out, amount_wei=parse_wei(args.amount))
    if out.json_mode:
        out.result(summary)
    else:
        out.lines([f"demo complete in {summary['seconds']} s", *summary["final"]])


def run_demo(out: Reporter, *, amount_wei: int = 10**16) -> dict[str, Any]:
    """Run the demo, reporting each step through ``out``; return the figures as a JSON-ready dict.

    Args:
        out: The CLI reporter (human lines or silent for ``--json``).
        amount_wei: The transfer amount (the account is funded with 0.1 ETH).

    Returns:
        The summary: chain, passkey, Era verification and ERC-4337 execution figures, timings.

    Raises:
        ToolNotFound, NodeStartFailed: anvil, node or Alto missing / not starting.
        ConfigurationError (``ARTIFACT_NOT_FOUND``): The contracts are not built (scripts/build-contracts.sh).
        VerificationError and its subclasses: A signature failed a check (the demo stops there).
        UserOperationRejected, UserOperationReverted: The bundler or the chain refused the operation.
    """
    if amount_wei <= 0 or amount_wei >= _FUNDING:
        raise CliUsageError(f"--amount must be between 1 wei and {_ether(_FUNDING)} (the account's funding)")
    started = time.monotonic()
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sso-signer-demo-") as workdir:
        out.step(
            "starting anvil --hardfork osaka, deploying EntryPoint v0.8 + the SSO contracts, starting Alto"
        )
        with LocalErc4337Stack(test_token=False) as stack:
            eth = stack.eth
            deployment = stack.deployment
            era_validator, _ = eth.deploy_contract(
                stack.deployer, load_artifact("WebAuthValidator").deploy_data()
            )
            chain_id = deployment.chain_id
            out.detail(f"chain {chain_id} at {stack.node.url}; bundler {stack.bundler_url}")
            out.detail(f"EntryPoint {deployment.entry_point}, MSAFactory {deployment.factory}")
            out.detail(f"WebAuthnValidator (4337) {deployment.webauthn_validator}")
            out.detail(f"WebAuthValidator (Era) {era_validator}")
            summary["chain"] = {
                "chain_id": chain_id,
                "entry_point": deployment.entry_point,
                "factory": deployment.factory,
                "erc4337_validator": deployment.webauthn_validator,
                "era_validator": era_validator,
                "setup_seconds": round(time.monotonic() - started, 2),
            }

            # -- 2. registration ceremony -----------------------------------------------------------------
            with SQLiteStore(os.path.join(workdir, "passkeys.sqlite")) as store:
                rp = RelyingParty(
                    rp_id=DEMO_RP_ID, rp_name="sso-signer demo", origins=[DEMO_ORIGIN], store=store
                )
                passkey = HeadlessPasskey.generate(
                    rp_id=DEMO_RP_ID, origin=DEMO_ORIGIN, user_name="demo@localhost"
                )
                credential, _ = register_passkey(rp, passkey, user_name="demo@localhost")
                out.step(
                    "passkey registered through the relying-party ceremony (verified by py_webauthn, "
                    f"stored in SQLite): credential {b64url_encode(credential.credential_id)[:16]}…, "
                    f"origin {credential.origin}"
                )
                browser = headless_browser(passkey)
                verified = 0

                def counted_browser(options: dict[str, Any]) -> dict[str, Any]:
                    nonlocal verified
                    answer = browser(options)
                    # The relying party verifies each answer before the account sees it (or the demo stops).
                    verified += 1
                    return answer

                provider = CeremonyAssertionProvider(
                    rp, user_handle=credential.user_handle, callback=counted_browser
                )
                summary["passkey"] = {
                    "credential_id": b64url_encode(credential.credential_id),
                    "origin": credential.origin,
                    "rp_id": credential.rp_id,
                }

                # -- 3. the ERC-4337 account ----------------------------------------------------------------
                account = Erc4337Account.counterfactual(
                    deployment=deployment,
                    eth=eth,
                    bundler=stack.bundler,
                    credential=passkey,
                    salt=account_salt(b64url_encode(passkey.credential_id)),
                    provider=provider,
                )
                eth.send_transaction(stack.funder, to=account.address, value=_FUNDING)
                out.step(
                    f"ERC-4337 account {account.address} (counterfactual: created by its first "
                    f"UserOperation), funded with {_ether(_FUNDING)}"
                )
                recipient = checksum_address(
                    "0x" + keccak(b"sso-signer demo recipient" + passkey.credential_id)[12:].hex()
                )

                # -- 4. Era: 0x71 signed by the passkey, verified by the Era validator on chain -------------
                # anvil cannot run EraVM accounts; an address stands in for the Era account and registers the
                # key as its onInstall would (an impersonated call from that address: real chain state).
                era_account = checksum_address(
                    "0x" + keccak(b"sso-signer demo era account" + passkey.credential_id)[12:].hex()
                )
                eth.rpc.request("anvil_impersonateAccount", [era_account])
                eth.rpc.request("anvil_setBalance", [era_account, hex(_FUNDING)])
                register_tx = eth.rpc.request(
                    "eth_sendTransaction",
                    [
                        {
                            "from": era_account,
                            "to": era_validator,
                            "data": "0x"
                            + add_passkey_calldata(
                                passkey.credential_id, passkey.public_key, passkey.origin
                            ).hex(),
                        }
                    ],
                )
                eth.check_receipt(eth.wait_for_receipt(bytes.fromhex(str(register_tx)[2:])))
                eth.rpc.request("anvil_stopImpersonatingAccount", [era_account])
                # The node's own estimate needs a ZKsync node: a plain transfer's 21,000 stands in for it.
                network = EraNetwork(name="local", chain_id=chain_id, passkey_validator=era_validator)
                era = EraAccount(eth, network, era_account, passkey, provider=provider)
                plan = era.prepare(recipient, amount_wei, gas_limit=21_000 + webauthn_validation_gas())
                signed = era.sign_transaction(plan.transaction)
                verification = era.verify_onchain(signed)
                tampered = era.verify_onchain(signed.replace(value=signed.value + 1))
                out.step(
                    f"Era 0x71 transfer of {_ether(amount_wei)} from {era_account} signed through the "
                    f"ceremony (challenge = EIP-712 hash 0x{verification.signed_hash.hex()[:16]}…), "
                    f"gas limit {signed.gas_limit} incl. {webauthn_validation_gas()} for WebAuthn validation"
                )
                out.detail(
                    f"Era WebAuthValidator.validateTransaction (eth_call from the account): "
                    f"{'valid' if verification.valid else 'INVALID'} ({verification.rule}); "
                    f"tampered value: {'valid' if tampered.valid else 'rejected'} ({tampered.rule})"
                )
                out.detail(
                    "0x71 execution needs a ZKsync node (anvil-zksync) and EraVM builds of the SSO "
                    "contracts: on anvil, an EVM, the Era path ends at on-chain verification"
                )
                if not verification.valid or tampered.valid:
                    raise VerificationError(
                        f"Era validator answered valid={verification.valid} ({verification.rule}), "
                        f"tampered valid={tampered.valid}"
                    )
                summary["era"] = {
                    "account": era_account,
                    "validator": era_validator,
                    "signed_hash": verification.signed_hash,
                    "valid": verification.valid,
                    "rule": verification.rule,
                    "tampered_rule": tampered.rule,
                    "gas_limit": signed.gas_limit,
                    "validation_gas": webauthn_validation_gas(),
                    "raw_transaction_bytes": len(signed.serialize()),
                    "executed": False,
                }

                # -- 5. ERC-4337: executed through Alto ----------------------------------------------------
                before = {"account": account.get_balance(), "recipient": eth.get_balance(recipient)}
                receipt = account.send(recipient, amount_wei, timeout=30.0)
                after = {"account": account.get_balance(), "recipient": eth.get_balance(recipient)}
                out.step(
                    "ERC-4337 UserOperation signed through the ceremony, bundled by Alto, executed in block "
                    f"{receipt.receipt.block_number} (gas {receipt.actual_gas_used}; the account was created "
                    "on the way)"
                )
                out.detail(
                    f"account   {account.address}: {_ether(before['account'])} → {_ether(after['account'])}"
                )
                out.detail(
                    f"recipient {recipient}: {_ether(before['recipient'])} → {_ether(after['recipient'])}"
                )
                if not receipt.success or after["recipient"] - before["recipient"] != amount_wei:
                    raise VerificationError("the transfer did not arrive")
                message_signature = account.sign_message("hello from sso-signer")
                erc1271 = account.is_valid_signature(eip191_hash("hello from sso-signer"), message_signature)
                verdict = "valid" if erc1271 else "INVALID"
                out.detail(f"ERC-1271 (ERC-7739) message signature checked by the account: {verdict}")
                summary["erc4337"] = {
                    "account": account.address,
                    "recipient": recipient,
                    "amount_wei": str(amount_wei),
                    "user_operation": receipt.user_op_hash,
                    "transaction": receipt.receipt.transaction_hash,
                    "block": receipt.receipt.block_number,
                    "actual_gas_used": receipt.actual_gas_used,
                    "balances_before": {k: str(v) for k, v in before.items()},
                    "balances_after": {k: str(v) for k, v in after.items()},
                    "erc1271_valid": erc1271,
                }
                summary["assertions_verified_by_rp"] = verified
    summary["seconds"] = round(time.monotonic() - started, 2)
    summary["final"] = [
        f"verified signature: Era WebAuthValidator accepted the passkey-signed 0x71 transaction "
        f"0x{summary['era']['signed_hash'].hex()} ({summary['era']['rule']})",
        f"executed transfer: {_ether(amount_wei)} from {summary['erc4337']['account']} to "
        f"{summary['erc4337']['recipient']} in transaction 0x{summary['erc4337']['transaction'].hex()}",
    ]
    return summary
