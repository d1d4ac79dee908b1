"""Session keys on the Era account: a 0x71 transaction from the account signed by a session key, no passkey.

Its custom signature is ``abi.encode(bytes sig, address sessionValidator, abi.encode(spec, uint64[]
periodIds))``, ``sig`` the session key's raw signature of the EIP-712 signed hash (``sso-sessions.md``
§4.2). The preflight applies the Era validator's rules (``check_era_call``) to the session's state and the
chain's time, before the gas estimate and again with the transaction's maximum fee. Creating and revoking
sessions are passkey transactions to the validator (``SessionKeyValidator.era_create_session`` /
``revoke_key`` with :meth:`EraAccount.send`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Final, cast

from sso_signer._artifacts import load_artifact
from sso_signer._shell import flow_method
from sso_signer.accounts._base import validator_answer
from sso_signer.accounts._deployment import required_contract
from sso_signer.accounts._sessions import (
    SessionSigner,
    _refusal,
    _same_signer,
    _signed,
    _state_flow,
    decoded_error,
    latest_block_flow,
)
from sso_signer.exceptions import (
    ErrorCode,
    ExecutionReverted,
    SessionRefused,
    StateError,
    TransactionRejected,
)
from sso_signer.rpc import Receipt
from sso_signer.rpc._eth import ETH_FLOWS, _EthMethods
from sso_signer.sso._session_spec import (
    EraApproval,
    LimitType,
    SessionCall,
    SessionKeyValidator,
    SessionSpec,
    SessionUsage,
    SessionVerdict,
    check_era_call,
    era_period_ids,
)

if TYPE_CHECKING:
    from sso_signer.accounts._deployment import EraNetwork
    from sso_signer.zksync import Eip712Transaction

__all__ = ["ERA_SESSION_CHAINS", "era_session_validation_gas"]

#: The chains whose TimestampAsserter the Era session validator knows (anvil-zksync, Era Sepolia and mainnet).
ERA_SESSION_CHAINS: Final = frozenset({260, 300, 324})

#: ``EraSessionKeyValidator.validateTransaction`` measured on anvil (EVM, osaka) with ``eth_estimateGas``
#: (21,000 intrinsic and the calldata included: an upper bound of the execution), tests/contracts/
#: era_session_chain.py: a transfer writing one limit, 864-byte custom signature: 70,835; a transfer writing
#: two, 2,304 bytes: 110,285; a call with six constraints writing three, 2,496 bytes: 128,355. Each is
#: covered by ``45,000 + 20 × bytes + 25,000 × limits written``
#: (checked by tests/contracts/test_era_session_parity.py).
_SESSION_BASE_GAS = 45_000
_SESSION_GAS_PER_BYTE = 20
_SESSION_GAS_PER_LIMIT = 25_000
#: As for passkeys (``webauthn_validation_gas``): EraVM is not priced like the EVM and cannot be measured
#: here, so the EVM figure is doubled; the signature bytes beyond the node's 65-byte dummy count as calldata.
_ERAVM_MARGIN = 2.0
_GAS_PER_SIGNATURE_BYTE = 16
_DUMMY_SIGNATURE_BYTES = 65

_VALIDATE_TRANSACTION = "validateTransaction"

# The Era validator's error names (and the asserter's, and Panic) and the SessionRefused rule of each.
_ERA_RULES: Final[dict[str, ErrorCode]] = {
    "SESSION_NOT_ACTIVE": ErrorCode.SESSION_NOT_ACTIVE,
    "SESSION_CALL_POLICY_VIOLATED": ErrorCode.SESSION_CALL_NOT_ALLOWED,
    "SESSION_TRANSFER_POLICY_VIOLATED": ErrorCode.SESSION_TRANSFER_NOT_ALLOWED,
    "SESSION_MAX_VALUE_EXCEEDED": ErrorCode.SESSION_VALUE_PER_USE,
    "SESSION_INVALID_DATA_LENGTH": ErrorCode.SESSION_CALL_DATA,
    "SESSION_CONDITION_FAILED": ErrorCode.SESSION_CONSTRAINT,
    "SESSION_LIFETIME_USAGE_EXCEEDED": ErrorCode.SESSION_LIFETIME_LIMIT,
    "SESSION_ALLOWANCE_EXCEEDED": ErrorCode.SESSION_PERIOD_LIMIT,
    "TimestampOutOfRange": ErrorCode.SESSION_PERIOD_IDS,
    "Panic": ErrorCode.SESSION_PERIOD_IDS,
}


def era_session_validation_gas(
    spec: SessionSpec, call: SessionCall, custom_signature_length: int, approval: EraApproval | None = None
) -> int:
    """Gas to add to a node's estimate for the session validation it did not run (it estimates with a dummy
    65-byte signature, so the account takes its secp256k1 path).

    ``ceil(2 × (45,000 + 20 × bytes + 25,000 × limits)) + 16 × (bytes − 65)``, where ``limits`` counts
    the limits the transaction writes (the fee limit, the matched policy's value limit and its constraints'
    limits that are not unlimited): the measured EVM cost of ``validateTransaction``, doubled for EraVM, plus
    the custom signature's bytes.
    """
    limits = 1  # the fee limit is never unlimited
    policies = []
    if approval is not None:
        found = spec.call_policy(approval.token, approval.call.data[:4])
        policies.extend([found[1].constraints] if found is not None else [])
    if len(call.data) >= 4:
        matched = spec.call_policy(call.target, call.data[:4])
        if matched is not None:
            limits += matched[1].value_limit.limit_type is not LimitType.UNLIMITED
            policies.append(matched[1].constraints)
    else:
        transfer = spec.transfer_policy(call.target)
        if transfer is not None:
            limits += transfer.value_limit.limit_type is not LimitType.UNLIMITED
    limits += sum(
        c.limit.limit_type is not LimitType.UNLIMITED for constraints in policies for c in constraints
    )
    evm = (
        _SESSION_BASE_GAS + _SESSION_GAS_PER_BYTE * custom_signature_length + _SESSION_GAS_PER_LIMIT * limits
    )
    extra = max(0, custom_signature_length - _DUMMY_SIGNATURE_BYTES)
    return math.ceil(_ERAVM_MARGIN * evm) + _GAS_PER_SIGNATURE_BYTE * extra


def _refused(
    spec: SessionSpec,
    verdict: SessionVerdict,
    call: SessionCall,
    now: int,
    usage: SessionUsage,
    approval: EraApproval | None,
) -> SessionRefused:
    """The preflight's :class:`SessionRefused` of an Era verdict."""
    return _refusal(
        spec,
        verdict,
        _ERA_RULES,
        passes_without_fee=lambda: (
            check_era_call(spec, call, now, usage, fee=None, approval=approval).accepted
        ),
    )


def _approval(overrides: dict[str, Any]) -> EraApproval | None:
    paymaster = overrides.get("paymaster")
    if paymaster is None:
        return None
    return EraApproval.from_paymaster(paymaster.paymaster, paymaster.paymaster_input)


class _EraSessionMethods:
    """Session-key capabilities of the Era account (a base of ``_EraMethods``)."""

    network: EraNetwork
    address: str
    chain_id: int
    #: ``era_transaction_struct`` of ``_era`` (given by ``_EraMethods``, which imports this module).
    _transaction_struct: Callable[[Eip712Transaction], tuple[Any, ...]]

    def _era_session_validator(self) -> str:
        return required_contract(
            self.network.session_validator,
            f"network {self.network.name!r} has no session validator (EraNetwork.session_validator)",
        )

    @flow_method
    def build_session_transaction(
        self,
        spec: SessionSpec,
        signer: SessionSigner,
        /,
        to: str,
        value: int = 0,
        data: bytes = b"",
        *,
        preflight: bool = True,
        **overrides: Any,
    ) -> Generator[Any, Any, Eip712Transaction]:
        """A 0x71 transaction from the account making one call, signed by the session key (no passkey).

        The preflight (on by default) reads the session's state and the latest block's time, applies the Era
        validator's rules before the gas estimate and again with the transaction's maximum fee, and raises
        before anything is signed. Gas: the node's estimate plus :func:`era_session_validation_gas`.

        Args:
            spec: The session (opened on the network's session validator).
            signer: The spec's signer (a :class:`~sso_signer.accounts.SessionSigner`, e.g. a
                :class:`~sso_signer.accounts.LocalSessionKey` or a KMS client; its ``sign_hash`` may be async
                on :class:`AsyncEraAccount`).
            to: The target (a transfer recipient, or the contract called).
            value: Wei sent.
            data: Calldata (fewer than 4 bytes is a transfer).
            preflight: ``False`` skips the preflight: **for tests only**, to show that the validator refuses
                what the preflight would.
            overrides: As :meth:`EraAccount.prepare` (``gas_limit``, fees, ``paymaster``; an approval-based
                paymaster needs an ``approve`` call policy on its token).

        Returns:
            The signed transaction (send it with :meth:`EraAccount.send_transaction`).

        Raises:
            SessionRefused: The session may not make this call; ``rule`` names why (``NO_TIMESTAMP_ASSERTER``
                on a chain without a TimestampAsserter is ``SESSION_REFUSED``).
            ConfigurationError (``SIGNER_CONFIGURATION``): ``signer`` is not a SessionSigner or not the spec's
                signer, or its ``sign_hash`` is async on the sync account.
            VerificationError (``SESSION_SIGNATURE_INVALID``): The signer's answer is not its signature.
            ConfigurationError (``MISSING_CONTRACT_ADDRESS``): The network has no session validator.
            StateError (``ACCOUNT_MISMATCH``): The node answered another chain id (nothing was signed).
            InsufficientBalance, ExecutionReverted, RpcError: As :meth:`EraAccount.prepare`.
        """
        validator = self._era_session_validator()
        call = SessionCall(to, value, data)
        approval = _approval(overrides)
        _same_signer(spec, signer)
        if preflight and self.chain_id not in ERA_SESSION_CHAINS:
            verdict = SessionVerdict("NO_TIMESTAMP_ASSERTER", (self.chain_id,))
            raise _refused(spec, verdict, call, 0, SessionUsage(), approval)
        block = yield from latest_block_flow()
        now, usage = block[0] + 1, SessionUsage()  # the earliest the next block can be
        if preflight:
            usage = (yield from _state_flow(validator, self.address, spec, block, era=True)).usage()
            verdict = check_era_call(spec, call, now, usage, fee=None, approval=approval)
            if not verdict.accepted:
                raise _refused(spec, verdict, call, now, usage, approval)
        ids = era_period_ids(spec, call, now, approval)
        length = len(SessionKeyValidator.era_signature(validator, bytes(65), spec, ids))
        overrides.setdefault("validation_gas", era_session_validation_gas(spec, call, length, approval))
        prepare = cast(Any, type(self)).prepare  # EraAccount.prepare (this class is a base of _EraMethods)
        plan = yield from prepare.flow(self, to, value, data, **overrides)
        tx: Eip712Transaction = plan.transaction
        if tx.chain_id != self.chain_id:
            # The 0x71 hash binds the node's chain id: a signature for another chain with the same session
            # (300 and 324 both have one) would be valid there.
            raise StateError(
                f"the node is on chain {tx.chain_id}, the account on chain {self.chain_id}: nothing signed",
                rule=ErrorCode.ACCOUNT_MISMATCH,
            )
        if preflight:
            fee = None if tx.paymaster_params is not None else tx.max_fee_per_gas * tx.gas_limit
            verdict = check_era_call(spec, call, now, usage, fee=fee, ids=ids, approval=approval)
            if not verdict.accepted:
                raise _refused(spec, verdict, call, now, usage, approval)
        signature = yield from _signed(signer, tx.signed_hash(), "era_transaction")
        return tx.replace(custom_signature=SessionKeyValidator.era_signature(validator, signature, spec, ids))

    @flow_method
    def check_session_onchain(
        self, spec: SessionSpec, transaction: Eip712Transaction
    ) -> Generator[Any, Any, SessionRefused | None]:
        """What the session validator says of a signed session transaction, asked with ``eth_call`` from the
        account (its ``validateTransaction`` on the exact ``Transaction`` struct the bootloader would pass).

        Returns:
            ``None`` when it accepts, else the :class:`SessionRefused` (``source == "validator"``) with the
            rule of the error it reverts with (``SESSION_REFUSED``, verdict ``"false"``, when it returns
            false: the signature recovers to no address).

        Raises:
            RemoteError (``UNEXPECTED_VALIDATOR_ANSWER``): The answer is not an ABI ``bool``.
        """
        artifact = load_artifact("EraSessionKeyValidator")
        data = artifact.encode_call(
            _VALIDATE_TRANSACTION, transaction.signed_hash(), self._transaction_struct(transaction)
        )
        request = {"from": self.address, "to": self._era_session_validator(), "data": data}
        try:
            answer = yield from _EthMethods.call.flow(ETH_FLOWS, request)
        except ExecutionReverted as exc:
            return _validator_refusal(spec, transaction, exc)
        if validator_answer(["bool"], answer, "validateTransaction")[0]:
            return None
        note = " (the validator returned false: the signature recovers to no address)"
        return _refusal(spec, SessionVerdict("false"), {}, source="validator", note=note)

    @flow_method
    def send_with_session(
        self,
        spec: SessionSpec,
        signer: SessionSigner,
        /,
        to: str,
        value: int = 0,
        data: bytes = b"",
        *,
        preflight: bool = True,
        timeout: float = 60.0,
        **overrides: Any,
    ) -> Generator[Any, Any, Receipt]:
        """Run one call from the account with the session key (no passkey): build, preflight, sign, send.

        Args:
            spec, signer, to, value, data, preflight, overrides: See :meth:`build_session_transaction`.
            timeout: Seconds to wait for the receipt.

        Returns:
            The successful receipt.

        Raises:
            SessionRefused: The preflight refused the call (nothing was signed), or the node refused the
                transaction and the validator, asked with ``eth_call``, names why (``source == "validator"``,
                the node's error as ``__cause__``).
            TransactionRejected, TransactionReverted, SendOutcomeUnknown: As
                :meth:`EraAccount.send_transaction`.
        """
        signed = yield from _EraSessionMethods.build_session_transaction.flow(
            self, spec, signer, to, value, data, preflight=preflight, **overrides
        )
        try:
            # As EraAccount.send_transaction: every failure once the node has the bytes carries them.
            receipt: Receipt = yield from _EthMethods.send_and_confirm.flow(
                ETH_FLOWS, signed.serialize(), timeout
            )
        except TransactionRejected as exc:
            refusal = yield from _EraSessionMethods.check_session_onchain.flow(self, spec, signed)
            if refusal is not None:
                raise refusal from exc
            raise
        return receipt


def _validator_refusal(
    spec: SessionSpec, transaction: Eip712Transaction, exc: ExecutionReverted
) -> SessionRefused:
    raw = exc.revert.raw if exc.revert is not None else b""
    found = decoded_error(raw, "EraSessionKeyValidator", "EraTestTimestampAsserter")
    name, args = found or ("0x" + raw[:4].hex(), ())
    # The asserter's (now, start, end): the session's own range [0, expiresAt] is the expiry check.
    expired = name == "TimestampOutOfRange" and len(args) == 3 and args[1] == 0 and args[0] > spec.expires_at
    refusal = _refusal(spec, SessionVerdict(name, args, expired=expired), _ERA_RULES, source="validator")
    refusal.__cause__ = exc
    return refusal
