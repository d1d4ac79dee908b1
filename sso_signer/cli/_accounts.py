"""Resolving "the account of this passkey" for both SSO generations, as the CLI commands need it.

* ERC-4337: the ``WebAuthnValidator`` lists the accounts a passkey is registered to
  (``getAccountList(origin, credentialId)``); an account not created yet is the counterfactual one, whose
  address ``EntryPoint.getSenderAddress`` computes from the deterministic salt of the credential id.
* Era: ``WebAuthValidator.registeredAddress(origin, credentialId)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

from sso_signer._codec import b64url_encode
from sso_signer.exceptions import (
    ConfigurationError,
    EntryPointError,
    ErrorCode,
    InsufficientBalance,
    NotFound,
    RpcError,
    SsoSignerError,
    StateError,
    UserOperationRejected,
)

if TYPE_CHECKING:
    from sso_signer.erc4337 import BundlerClient
    from sso_signer.rpc import EthClient
    from sso_signer.sso import MsaDeployment, MsaPasskeyAccount

__all__ = [
    "accounts_that_removed",
    "counterfactual_salt",
    "erc4337_account",
    "erc4337_accounts_of",
    "insufficient_prefund",
    "prefund_explained",
    "require_zksync_node",
]

_GET_ACCOUNT_LIST = bytes(keccak(text="getAccountList(string,bytes)"))[:4]


def counterfactual_salt(credential_id: bytes) -> bytes:
    """The salt ``account create`` uses: the official SDK's user-id salt of the base64url credential id.

    Deterministic, so the counterfactual address can be recomputed by any later command.
    """
    from sso_signer.sso import account_salt

    return bytes(account_salt(b64url_encode(bytes(credential_id))))


def erc4337_accounts_of(eth: EthClient, validator: str, origin: str, credential_id: bytes) -> list[str]:
    """The deployed accounts a passkey is registered to (``WebAuthnValidator.getAccountList``).

    Raises:
        StateError: If the validator's answer does not decode (wrong address).
    """
    data = _GET_ACCOUNT_LIST + bytes(abi_encode(["string", "bytes"], [origin, bytes(credential_id)]))
    answer = eth.call({"to": validator, "data": data})
    try:
        (accounts,) = abi_decode(["address[]"], answer)
    except (DecodingError, ValueError, OverflowError) as exc:
        raise StateError(f"getAccountList answered {answer.hex()!r}: not a WebAuthnValidator?") from exc
    from sso_signer.sso import checksum_address

    return [checksum_address(str(a)) for a in accounts]


def erc4337_account(
    *,
    deployment: MsaDeployment,
    eth: EthClient,
    bundler: BundlerClient,
    passkey: Any,
    provider: Any = None,
    address: str | None = None,
) -> MsaPasskeyAccount:
    """The passkey's ERC-4337 account: the given address, else the first registered one, else the
    counterfactual one (created by its first UserOperation).
    """
    from sso_signer.sso import MsaPasskeyAccount

    if address is None:
        found = erc4337_accounts_of(eth, deployment.webauthn_validator, passkey.origin, passkey.credential_id)
        address = found[0] if found else None
    if address is not None:
        return MsaPasskeyAccount.at(
            address, deployment=deployment, eth=eth, bundler=bundler, credential=passkey, provider=provider
        )
    # Registered nowhere. If an account dropped this passkey, its own counterfactual account is a stranger
    # (or is that account): computing and creating it would silently move the user's funds elsewhere.
    dropped = accounts_that_removed(eth, deployment.webauthn_validator, passkey.origin, passkey.credential_id)
    if dropped:
        raise _removed_key(passkey, dropped)

    try:
        account = MsaPasskeyAccount.counterfactual(
            deployment=deployment,
            eth=eth,
            bundler=bundler,
            credential=passkey,
            salt=counterfactual_salt(passkey.credential_id),
            provider=provider,
        )
    except EntryPointError as exc:
        if exc.rule is not ErrorCode.FACTORY_CALL_FAILED:
            raise
        # Typically the account created from this passkey exists but no longer lists it (the passkey was
        # removed), so the validator cannot name it and the factory refuses to create it again.
        raise NotFound(
            f"passkey {b64url_encode(passkey.credential_id)} at {passkey.origin} is registered to no account "
            f"on this chain, and its counterfactual account cannot be created ({exc}): it most likely exists "
            "and no longer lists this passkey among its owners; pass --address ACCOUNT to use an account "
            "this passkey still controls",
            rule=ErrorCode.ACCOUNT_NOT_FOUND,
        ) from exc
    if eth.get_code(account.address):
        raise _removed_key(passkey, [account.address])
    return account


def _removed_key(passkey: Any, accounts: list[str]) -> NotFound:
    named = ", ".join(accounts)
    return NotFound(
        f"passkey {b64url_encode(passkey.credential_id)} at {passkey.origin} is not among the owners of "
        f"{named}: it was removed from {'that account' if len(accounts) == 1 else 'those accounts'}, so "
        "the key file no longer controls it. Sign with one of its remaining passkeys, or pass --address "
        "ACCOUNT for an account this passkey still controls; no new account is computed for it",
        rule=ErrorCode.ACCOUNT_NOT_FOUND,
    )


def accounts_that_removed(eth: EthClient, validator: str, origin: str, credential_id: bytes) -> list[str]:
    """The accounts that removed the passkey ``(origin, credential_id)`` and do not list it again.

    Read from the validator's ``PasskeyRemoved`` events (both SSO validators emit it) from the earliest block.
    A node that refuses so wide a log query yields ``[]``: this is a guard, not the source of truth.
    """
    from sso_signer.sso import PASSKEY_REMOVED_TOPIC, checksum_address, get_account_key

    try:
        logs = eth.get_logs(address=validator, topics=[PASSKEY_REMOVED_TOPIC])
    except RpcError:
        return []
    accounts: list[str] = []
    for log in logs:
        try:
            logged_origin, logged_id = abi_decode(["string", "bytes"], log.data)
        except (DecodingError, ValueError, OverflowError, UnicodeDecodeError):
            continue
        if logged_origin != origin or bytes(logged_id) != bytes(credential_id) or len(log.topics) < 2:
            continue
        account = checksum_address("0x" + log.topics[1][-20:].hex())
        if account in accounts:
            continue
        try:
            still = get_account_key(eth, validator, origin, credential_id, account)
        except SsoSignerError:
            still = None
        if still is None:
            accounts.append(account)
    return accounts


def require_zksync_node(eth: EthClient) -> None:
    """Check that the node speaks the ``zks_`` namespace before anything is signed for it.

    Raises:
        ConfigurationError (``ERA_NEEDS_ZKSYNC_NODE``): If ``zks_L1ChainId`` is unknown to the node (plain
            anvil, an L1).
    """

    try:
        eth.rpc.request("zks_L1ChainId")
    except RpcError as exc:
        raise ConfigurationError(
            "this node is not a ZKsync node (zks_L1ChainId failed): Era 0x71 transactions need anvil-zksync "
            "or ZKsync Era; on plain anvil use the ERC-4337 account (--kind erc4337)",
            rule=ErrorCode.ERA_NEEDS_ZKSYNC_NODE,
        ) from exc


@contextlib.contextmanager
def prefund_explained(account: MsaPasskeyAccount, calls: Sequence[tuple[str, int, bytes]]) -> Iterator[None]:
    """Turn a bundler's bare ``AA21 didn't pay prefund`` into how much is there and how much is needed.

    Raises:
        InsufficientBalance: In place of ``UserOperationRejected`` (``ErrorCode.INSUFFICIENT_PREFUND``) raised
            inside the block.
    """

    try:
        yield
    except UserOperationRejected as exc:
        if exc.rule is not ErrorCode.INSUFFICIENT_PREFUND:
            raise
        raise insufficient_prefund(account, calls, exc) from exc


def insufficient_prefund(
    account: MsaPasskeyAccount, calls: Sequence[tuple[str, int, bytes]], cause: Exception
) -> InsufficientBalance:
    """The balance, the EntryPoint deposit and the operation's maximum cost, as an ``InsufficientBalance``.

    The maximum cost (what the EntryPoint takes as prefund) is the sum of the gas limits times
    ``maxFeePerGas``; the limits come from an estimate run as if the account were funded (a state override),
    since the real estimate is what failed.
    """
    from sso_signer.cli._context import format_ether

    address = account.address
    balance = account.eth.get_balance(address)
    try:
        deposit = account.entry_point.balance_of(address)
    except SsoSignerError:
        deposit = 0
    value = sum(int(call[1]) for call in calls)
    prefund: int | None = None
    detail = ""
    try:
        zero = {"call_gas_limit": 0, "verification_gas_limit": 0, "pre_verification_gas": 0}
        draft = account.build_user_operation(list(calls), gas=zero)
        estimate = account.bundler.estimate_user_operation_gas(
            draft.replace(signature=account.stub_signature()),
            state_override={address: {"balance": hex(10**30)}},
        )
        op = estimate.apply(draft)
        prefund = op.required_prefund
        gas = prefund // op.max_fee_per_gas if op.max_fee_per_gas else 0
        detail = f" ({gas} gas of limits × maxFeePerGas {op.max_fee_per_gas} wei)"
    except SsoSignerError:
        prefund = None  # the bundler cannot say either: report what is known
    if prefund is None:
        return InsufficientBalance(
            f"{address} cannot pay for the UserOperation (AA21: {cause}): it holds {format_ether(balance)} "
            f"and an EntryPoint deposit of {format_ether(deposit)}; the operation needs its maximum gas cost "
            f"plus {format_ether(value)} sent. Fund it: send ETH to {address} (or depositTo it on the "
            "EntryPoint)",
            account=address,
            required=value,
            available=balance,
        )
    required = max(prefund - deposit, 0) + value
    return InsufficientBalance(
        f"{address} cannot pay for the UserOperation: it holds {format_ether(balance)} (EntryPoint deposit "
        f"{format_ether(deposit)}) and the operation needs {format_ether(required)}: a prefund of up to "
        f"{format_ether(prefund)}{detail} plus {format_ether(value)} sent. Fund it with at least "
        f"{format_ether(max(required - balance, 0))}: send ETH to {address} (or depositTo it on the "
        "EntryPoint)",
        account=address,
        required=required,
        available=balance,
    )
