"""The guardian's side of an Era recovery: accept a guardianship, ask for a new passkey, and after the delay
send the *finishing transaction*: a 0x71 transaction from the account calling ``addValidationKey`` on the
WebAuthValidator with the requested passkey, whose custom signature only names the module (nothing is signed;
the account pays the fee unless a paymaster is given)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from eth_account.signers.local import LocalAccount

from sso_signer._shell import flow_method
from sso_signer.accounts._era import find_account_flow, prepare_era_transaction_flow, webauthn_validation_gas
from sso_signer.accounts._era_recovery import (
    _guardian_flow,
    _module,
    _pending_flow,
    _refusals,
    _reported_request_flow,
    _view_flow,
)
from sso_signer.accounts._sessions import latest_block_flow
from sso_signer.exceptions import AlreadyExists, ErrorCode, NotFound, StateError
from sso_signer.rpc import Receipt
from sso_signer.rpc._eth import ETH_FLOWS, _EthMethods
from sso_signer.rpc._flow import Flow
from sso_signer.sso._era_guardian import EraGuardian, EraRecoveryRequest, GuardianRecoveryValidator
from sso_signer.sso._owner import _coordinates
from sso_signer.sso._signature import checksum_address

if TYPE_CHECKING:
    from sso_signer.accounts._deployment import EraNetwork
    from sso_signer.webauthn import P256PublicKey
    from sso_signer.zksync import Eip712Transaction

#: The module's ``validateTransaction`` reads the request and the account's key: far cheaper than the P-256
#: verification :func:`webauthn_validation_gas` budgets for, which is used as the bound here.
_FINISH_SIGNATURE_LENGTH: Final = 160


class _EraGuardianMethods:
    """The guardian's side of an Era recovery: the ``era_*`` methods of ``Guardian`` and ``AsyncGuardian``."""

    signer: LocalAccount
    if TYPE_CHECKING:

        @property
        def address(self) -> str: ...

    def _era_send_flow(
        self, network: EraNetwork, account: str, origin: str, data: bytes, timeout: float
    ) -> Flow[Receipt]:
        with _refusals(account, origin):  # from the gas estimate: nothing was sent
            receipt: Receipt = yield from _EthMethods.send_transaction.flow(
                ETH_FLOWS, self.signer, to=_module(network), data=data, timeout=timeout
            )
        return receipt

    @flow_method
    def era_status(self, network: EraNetwork, account: str, origin: str) -> Flow[EraGuardian]:
        """This guardian's entry for ``account`` on ``origin`` (``exists``: proposed; ``is_ready``: ready)."""
        account = checksum_address(account, field="account")
        return (yield from _guardian_flow(_module(network), origin, account, self.address))

    @flow_method
    def era_accept(
        self, network: EraNetwork, account: str, origin: str, *, timeout: float = 120.0
    ) -> Flow[Receipt | None]:
        """Accept the guardianship ``account`` proposed for ``origin`` (``addGuardian``).

        Returns:
            The receipt, or None when this guardian is already ready (nothing is sent).

        Raises:
            NotFound (``NOT_A_GUARDIAN``): ``account`` has not proposed this guardian for ``origin``.
            AfterSendError: After the transaction left (it carries the hash).
        """
        account = checksum_address(account, field="account")
        if (yield from _guardian_flow(_module(network), origin, account, self.address)).is_ready:
            return None
        data = GuardianRecoveryValidator.add_guardian(origin, account)
        return (yield from self._era_send_flow(network, account, origin, data, timeout))

    @flow_method
    def era_initiate_recovery(
        self,
        network: EraNetwork,
        account: str,
        credential_id: bytes,
        public_key: P256PublicKey | tuple[int, int],
        origin: str,
        *,
        timeout: float = 120.0,
    ) -> Flow[Receipt]:
        """Ask that the passkey ``(credential_id, public_key)`` of ``origin`` be added to ``account``: from
        24 h to 72 h later anyone may send the finishing transaction (:meth:`era_finish_recovery`), and
        meanwhile the account's own passkey may discard it.

        Raises:
            NotFound (``NOT_A_GUARDIAN``): Not a guardian of ``account`` for ``origin``.
            StateError (``GUARDIAN_NOT_ACTIVE``): Proposed but not accepted yet (:meth:`era_accept`).
            AlreadyExists (``RECOVERY_IN_PROGRESS``): A request younger than 72 h is pending.
            SsoEncodingError (``BAD_CREDENTIAL_ID_LENGTH``, ``BAD_DOMAIN_LENGTH``, ``EMPTY_PUBLIC_KEY``): The
                WebAuthValidator would refuse the key when the recovery finishes.
            AfterSendError: After the transaction left.
        """
        account = checksum_address(account, field="account")
        data = GuardianRecoveryValidator.init_recovery(account, credential_id, public_key, origin)
        status = yield from _guardian_flow(_module(network), origin, account, self.address)
        if status.exists and not status.is_ready:
            raise StateError(
                f"{self.address} was proposed by {account} for {origin} but has not accepted (era_accept)",
                rule=ErrorCode.GUARDIAN_NOT_ACTIVE,
            )
        return (yield from self._era_send_flow(network, account, origin, data, timeout))

    @flow_method
    def era_pending_recovery(
        self, network: EraNetwork, account: str, origin: str
    ) -> Flow[EraRecoveryRequest]:
        """``account``'s pending request for ``origin`` (``exists`` is False when there is none; ``fulfilled``
        when its passkey is on the account already)."""
        account = checksum_address(account, field="account")
        return (yield from _reported_request_flow(network, origin, account))

    @flow_method
    def era_recovery_transaction(
        self,
        network: EraNetwork,
        account: str,
        credential_id: bytes,
        public_key: P256PublicKey | tuple[int, int],
        origin: str,
        /,
        **overrides: Any,
    ) -> Flow[Eip712Transaction]:
        """The finishing transaction (a 0x71 from ``account``, no signature), checked against the pending
        request and the chain's time first.

        Args:
            overrides: As ``EraAccount.prepare`` (``gas_limit``, fees, ``paymaster`` to sponsor the fee). The
                gas limit is at least ``GuardianRecoveryValidator.FINISH_MIN_GAS_LIMIT`` (the module refuses
                less; a lower one given or estimated is raised to it).

        Raises:
            NotFound (``NO_PENDING_RECOVERY``), StateError (``RECOVERY_DATA_MISMATCH``,
                ``RECOVERY_TOO_EARLY``, ``RECOVERY_EXPIRED``): The module would refuse it (nothing built).
            StateError (``RECOVERY_RETRY_TOO_EARLY``): A finish validated less than
                ``FINISH_RETRY_DELAY_SECONDS`` ago and failed in execution: the module refuses another yet.
            AlreadyExists (``PASSKEY_ALREADY_REGISTERED``): The passkey is registered already: this
                recovery finished (its request stays stored until it expires), or another account holds it.
        """
        module = _module(network)
        account = checksum_address(account, field="account")
        data = GuardianRecoveryValidator.finish_calldata(credential_id, public_key, origin)
        # The module only returns false on these: say why before building anything.
        request = yield from _pending_flow(module, origin, account)
        if not request.exists:
            raise NotFound(
                f"{account} has no pending recovery for {origin}", rule=ErrorCode.NO_PENDING_RECOVERY
            )
        if not request.matches(bytes(credential_id), _coordinates(public_key)):
            raise StateError(
                f"the passkey {bytes(credential_id).hex()} is not the one the pending recovery of {account} "
                f"for {origin} asks for",
                rule=ErrorCode.RECOVERY_DATA_MISMATCH,
            )
        now = (yield from latest_block_flow())[0] + 1  # the earliest the next block can be
        if now < request.earliest_finish:
            raise StateError(
                f"the recovery of {account} cannot be finished yet: the 24 h delay ends at block timestamp "
                f"{request.earliest_finish} (about {request.earliest_finish - now} s from now); finish it "
                f"before {request.expires_at}",
                rule=ErrorCode.RECOVERY_TOO_EARLY,
            )
        if now > request.expires_at:
            raise StateError(
                f"the recovery of {account} for {origin} expired at block timestamp {request.expires_at}: a "
                "guardian must start a new one",
                rule=ErrorCode.RECOVERY_EXPIRED,
            )
        holder = yield from find_account_flow(network.passkey_validator, origin, credential_id)
        if holder is None or holder.lower() != account.lower():
            # Not finished: the module records each finish that validates and refuses another within its
            # retry delay (the last one failed in execution, e.g. another account holds the credential).
            attempt = GuardianRecoveryValidator.last_finish_attempt(origin, account)
            answer = yield from _view_flow(module, attempt)
            last = GuardianRecoveryValidator.decode_last_finish_attempt(answer)
            retry_at = last + GuardianRecoveryValidator.FINISH_RETRY_DELAY_SECONDS
            if last and now < retry_at:
                raise StateError(
                    f"a finishing transaction of {account}'s recovery validated at block timestamp {last} "
                    "and its passkey is still not on the account (its execution failed): the module refuses "
                    f"another until {retry_at} (about {retry_at - now} s from now)",
                    rule=ErrorCode.RECOVERY_RETRY_TOO_EARLY,
                )
        # The module leaves a finished request in place and refuses its replay.
        if holder is not None:
            raise AlreadyExists(
                f"the passkey is already registered to {holder}", rule=ErrorCode.PASSKEY_ALREADY_REGISTERED
            )
        overrides.setdefault("validation_gas", webauthn_validation_gas(_FINISH_SIGNATURE_LENGTH))
        # The module refuses a lower limit (a starved finish would fail at the account's fee); unused gas is
        # refunded, so raising an estimate or a given limit to the floor costs only up-front balance.
        floor = GuardianRecoveryValidator.FINISH_MIN_GAS_LIMIT
        given = overrides.get("gas_limit")
        if isinstance(given, int) and not isinstance(given, bool):
            overrides["gas_limit"] = max(given, floor)
        plan = yield from prepare_era_transaction_flow(
            account, to=network.passkey_validator, data=data, min_gas_limit=floor, **overrides
        )
        signature = GuardianRecoveryValidator.finish_custom_signature(module)
        transaction: Eip712Transaction = plan.transaction.replace(custom_signature=signature)
        return transaction

    @flow_method
    def era_finish_recovery(
        self,
        network: EraNetwork,
        account: str,
        credential_id: bytes,
        public_key: P256PublicKey | tuple[int, int],
        origin: str,
        /,
        *,
        timeout: float = 120.0,
        **overrides: Any,
    ) -> Flow[Receipt]:
        """Send the finishing transaction: the account adds the requested passkey (it pays the fee unless
        ``paymaster`` is given). Anyone may send it; this guardian's key signs nothing.

        Raises:
            As :meth:`era_recovery_transaction`; TransactionRejected, TransactionReverted,
            SendOutcomeUnknown once sent.
        """
        transaction = yield from _EraGuardianMethods.era_recovery_transaction.flow(
            self, network, account, credential_id, public_key, origin, **overrides
        )
        return (yield from _EthMethods.send_and_confirm.flow(ETH_FLOWS, transaction.serialize(), timeout))
