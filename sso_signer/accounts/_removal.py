"""Whether removing a passkey would lock an account out, for both SSO generations.

Removing an account's last way in bricks it for good: every later operation fails validation (AA24 on
ERC-4337, an invalid signature on Era) and nothing can add a key back. So before a removal is signed, what
would remain is read from the chain:

* ERC-4337: the other passkeys (``WebAuthnValidator.keyCount``), and the account's other validators
  (``getValidators``): an ``EOAKeyValidator``-like one counts when it lists owners (``getOwners``), one that
  cannot be read counts as a way in (it was installed on purpose and may hold keys this SDK cannot see);
* Era: the other passkeys, replayed from the validator's ``PasskeyCreated`` / ``PasskeyRemoved`` events (the
  validator keeps no count), and the account's secp256k1 owners (``listK1Owners``, on SSO accounts).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from sso_signer._codec import b64url_encode
from sso_signer.accounts._base import account_key_flow, passkey_logs_flow, registered_passkeys
from sso_signer.exceptions import RemovalWouldLockAccount, RpcError
from sso_signer.rpc._eth import ETH_FLOWS, _EthMethods
from sso_signer.rpc._flow import Flow
from sso_signer.sso._signature import abi_call, checksum_address, function_selector

__all__ = [
    "RemainingAccess",
    "check_passkey_removal",
    "era_remaining_access_flow",
    "msa_remaining_access_flow",
]


@dataclass(frozen=True, slots=True)
class RemainingAccess:
    """What would still control an account once one passkey is removed.

    Attributes:
        account: The account.
        other_passkeys: Passkeys left on the passkey validator (``None``: they could not be counted).
        owners: secp256k1 owners left (an ``EOAKeyValidator``'s owners, an Era account's K1 owners).
        other_validators: Other installed validators that could not be read but may hold keys.
        unknown: Why the passkeys could not be counted, when they could not.
        registered: Whether the passkey to remove is registered to the account (``None``: not checked).
    """

    account: str
    other_passkeys: int | None
    owners: tuple[str, ...] = ()
    other_validators: tuple[str, ...] = ()
    unknown: str = ""
    registered: bool | None = None

    @property
    def keeps_access(self) -> bool:
        """Whether something other than the removed passkey can still sign for the account."""
        return bool(self.other_passkeys) or bool(self.owners) or bool(self.other_validators)

    def describe(self) -> str:
        """``1 other passkey, owners 0x…`` — what remains, in words."""
        parts = []
        if self.other_passkeys is None:
            parts.append(f"other passkeys unknown ({self.unknown})")
        else:
            parts.append(f"{self.other_passkeys} other passkey{'' if self.other_passkeys == 1 else 's'}")
        if self.owners:
            parts.append("owners " + ", ".join(self.owners))
        if self.other_validators:
            parts.append("other validators " + ", ".join(self.other_validators))
        return "; ".join(parts)


def check_passkey_removal(
    access: RemainingAccess, *, credential_id: bytes, origin: str, force: bool = False
) -> None:
    """Refuse a removal that would leave the account without a way in, unless ``force``.

    Args:
        access: What remains (:func:`msa_remaining_access_flow`, :func:`era_remaining_access`).
        credential_id: The passkey to remove.
        origin: Its origin.
        force: Remove even so (the account becomes unusable for good).

    Raises:
        RemovalWouldLockAccount: If nothing else could sign for the account and ``force`` is false.
    """
    if force or access.keeps_access:
        return
    what = (
        "it is the account's last passkey and no other owner or validator could sign for it"
        if access.other_passkeys is not None
        else f"whether another passkey remains cannot be told ({access.unknown}) and no other owner or "
        "validator could sign for it"
    )
    raise RemovalWouldLockAccount(
        f"not removing passkey {b64url_encode(bytes(credential_id))} at {origin} from {access.account}: "
        f"{what}, so every later operation would fail validation and the account would be locked for good. "
        "Add another passkey first, or pass --force (Python: force=True) to remove it anyway",
        account=access.account,
        access=access,
    )


def _decode_addresses(answer: bytes) -> tuple[str, ...] | None:
    try:
        (addresses,) = abi_decode(["address[]"], answer)
    except (DecodingError, ValueError, OverflowError, TypeError):
        return None
    return tuple(checksum_address(str(a)) for a in addresses)


def _try_call(to: str, data: bytes) -> Flow[bytes | None]:
    # A view the contract may not have (an unknown validator, a non-SSO account): no answer, not an error.
    try:
        return (yield from _EthMethods.call.flow(ETH_FLOWS, {"to": to, "data": data}))
    except RpcError:
        return None


def msa_remaining_access_flow(
    webauthn_validator: str, account: str, credential_id: bytes, origin: str
) -> Flow[RemainingAccess]:
    """What would control the ERC-4337 ``account`` once ``(origin, credential_id)`` is removed from the
    deployment's ``webauthn_validator``.

    Raises:
        RpcError: The node failed on the validator's views.
    """
    account = checksum_address(account, field="account")
    count_answer = yield from _EthMethods.call.flow(
        ETH_FLOWS, {"to": webauthn_validator, "data": abi_call("keyCount", ["address"], [account])}
    )
    key = yield from account_key_flow(webauthn_validator, origin, credential_id, account)
    try:
        (count,) = abi_decode(["uint256"], count_answer)
    except (DecodingError, ValueError, OverflowError) as exc:
        return RemainingAccess(account, None, unknown=f"the validator's views do not decode: {exc}")
    if key is None:
        return RemainingAccess(account, None, unknown="the validator's views do not decode: getAccountKey")
    registered = key != (0, 0)
    others = max(int(count) - (1 if registered else 0), 0)
    owners: list[str] = []
    unread: list[str] = []
    validators = (
        _decode_addresses((yield from _try_call(account, function_selector("getValidators", []))) or b"")
        or ()
    )
    for validator in validators:
        if validator == checksum_address(webauthn_validator):
            continue
        listed = yield from _try_call(validator, abi_call("getOwners", ["address"], [account]))
        found = _decode_addresses(listed) if listed is not None else None
        if found is None:
            unread.append(validator)
        else:
            owners.extend(found)
    return RemainingAccess(account, others, tuple(owners), tuple(unread), registered=registered)


def era_remaining_access_flow(
    validator: str, account: str, credential_id: bytes, origin: str
) -> Flow[RemainingAccess]:
    """What would control the Era ``account`` once ``(origin, credential_id)`` is removed from the network's
    ``validator``. It keeps no key count: the account's keys are replayed from its events (``eth_getLogs``
    from the earliest block); a node that refuses so wide a query leaves the count unknown (``None``)."""
    account = checksum_address(account, field="account")
    others: int | None
    unknown = ""
    try:
        logs = yield from passkey_logs_flow(validator, account)
    except RpcError as exc:
        others, unknown = None, f"eth_getLogs failed: {exc}"
    else:
        others = len(set(registered_passkeys(logs)) - {(origin, bytes(credential_id))})
    owners = (
        _decode_addresses((yield from _try_call(account, function_selector("listK1Owners", []))) or b"") or ()
    )
    return RemainingAccess(account, others, owners, unknown=unknown)
