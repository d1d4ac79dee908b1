"""The owner's fee ceiling: the most a passkey operation may pay, checked before the passkey is asked.

The fees and gas limits of a passkey operation come from the node (Era: ``eth_gasPrice``, ``eth_estimateGas``)
or the bundler (ERC-4337: ``pimlico_getUserOperationGasPrice``, ``eth_estimateUserOperationGas``), and the
passkey signature authorises whatever they answered. A greedy or hostile remote can therefore make the user
pay up to the whole prefund. The ceiling bounds that by figures the owner chose, never by anything the remote
says: a default derived from the node's own gas price would be set by the party it guards against, and a fixed
wei figure means nothing across chains (a fair fee on one is a theft on another), so there is no default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sso_signer.exceptions import ErrorCode, InvalidInputError, RemoteError

if TYPE_CHECKING:
    from sso_signer.erc4337 import UserOperation
    from sso_signer.zksync import Eip712Transaction


def _ceiling(value: int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"{name}: expected a non-negative integer (wei) or None, got {value!r}")
    return value


def user_operation_gas(op: UserOperation) -> int:
    """All the gas an op may be charged for: what the EntryPoint's prefund multiplies by ``maxFeePerGas``."""
    return (
        op.verification_gas_limit
        + op.call_gas_limit
        + op.paymaster_verification_gas_limit
        + op.paymaster_post_op_gas_limit
        + op.pre_verification_gas
    )


class _FeeCeilingMethods:
    """The accounts' fee ceiling (a mixin of the Era and ERC-4337 accounts' methods).

    Attributes:
        fee_ceiling: The highest ``maxFeePerGas`` (wei per gas) a passkey operation of this account is signed
            with; ``None`` (default): no limit.
        cost_ceiling: The most (wei) a passkey operation may cost in fees: ``gasLimit × maxFeePerGas`` on Era,
            (verification + call + paymaster verification + paymaster postOp gas + preVerificationGas) ×
            ``maxFeePerGas`` for a UserOperation; ``None`` (default): no limit. It counts the fee whoever pays
            it (a sponsored operation over it is refused too) and not the value sent.

    A call may give its own ``fee_ceiling=`` / ``cost_ceiling=`` (``send``, ``send_calls``, the
    ``sign_*`` methods): it replaces the account's for that call. Session-key operations are bounded by their
    session's fee limit instead.
    """

    fee_ceiling: int | None = None
    cost_ceiling: int | None = None

    def _ceilings(self, fee_ceiling: int | None, cost_ceiling: int | None) -> tuple[int | None, int | None]:
        fee = _ceiling(self.fee_ceiling if fee_ceiling is None else fee_ceiling, "fee_ceiling")
        cost = _ceiling(self.cost_ceiling if cost_ceiling is None else cost_ceiling, "cost_ceiling")
        return fee, cost

    def _check_fee_ceiling(
        self, what: str, gas: int, max_fee_per_gas: int, fee_ceiling: int | None, cost_ceiling: int | None
    ) -> None:
        """Refuse ``gas`` at ``max_fee_per_gas`` over the ceilings (the call's, else the account's).

        Raises:
            RemoteError (``FEE_ABOVE_CEILING``, ``COST_ABOVE_CEILING``): Over a ceiling; nothing is signed.
            InvalidInputError: A ceiling is not a non-negative integer.
        """
        fee, cost = self._ceilings(fee_ceiling, cost_ceiling)
        if fee is not None and max_fee_per_gas > fee:
            raise RemoteError(
                f"{what}: maxFeePerGas {max_fee_per_gas} wei is above the fee ceiling {fee} wei; nothing was "
                "signed (the node or bundler asks more than the owner allowed: raise fee_ceiling if the fee "
                "is right)",
                rule=ErrorCode.FEE_ABOVE_CEILING,
            )
        if cost is not None and gas * max_fee_per_gas > cost:
            raise RemoteError(
                f"{what}: gas {gas} × maxFeePerGas {max_fee_per_gas} = {gas * max_fee_per_gas} wei is above "
                f"the cost ceiling {cost} wei; nothing was signed (raise cost_ceiling if the gas is right)",
                rule=ErrorCode.COST_ABOVE_CEILING,
            )

    def _check_user_operation_fees(
        self, op: UserOperation, fee_ceiling: int | None = None, cost_ceiling: int | None = None
    ) -> None:
        self._check_fee_ceiling(
            "user operation", user_operation_gas(op), op.max_fee_per_gas, fee_ceiling, cost_ceiling
        )

    def _check_era_fees(
        self, tx: Eip712Transaction, fee_ceiling: int | None = None, cost_ceiling: int | None = None
    ) -> None:
        self._check_fee_ceiling("transaction", tx.gas_limit, tx.max_fee_per_gas, fee_ceiling, cost_ceiling)
