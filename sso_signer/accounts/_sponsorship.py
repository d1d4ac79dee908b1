"""Sponsored UserOperations: an ERC-7677 paymaster service fills the paymaster fields while the op is built.

The steps, in the fewest round trips ERC-7677 allows: ``pm_getPaymasterStubData`` once the draft has its nonce
and fees (the stub goes into the bundler's estimate), then, with the gas set, ``pm_getPaymasterData`` for the
final data, which is skipped when the stub said ``isFinal``. Each depends on the answer before it, so none can
share a batch. A refusal (the client's local policy, or the service) is raised while building, before the
passkey is asked for anything.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from sso_signer._shell import AsyncShell
from sso_signer.accounts._deployment import MsaDeployment
from sso_signer.erc4337 import AsyncPaymasterClient, PaymasterClient, UserOperation
from sso_signer.erc4337._paymaster import PaymasterFields, _PaymasterMethods
from sso_signer.exceptions import ConfigurationError, ErrorCode, InvalidRpcParams, MalformedRpcResponse
from sso_signer.rpc._core import RpcCall, Sleep
from sso_signer.rpc._flow import Batch, relay
from sso_signer.zksync import PaymasterParams

__all__ = ["Paymaster", "Sponsorship"]


@dataclass(frozen=True, slots=True)
class Paymaster:
    """A JSON-RPC step for a paymaster service client; the account's shell hands it to ``client``."""

    client: Any
    step: RpcCall | Batch | Sleep


@dataclass(slots=True)
class Sponsorship:
    """One operation's dealings with a paymaster service: the client, the context, the stub it answered."""

    client: Any
    context: Mapping[str, Any] | None
    stub: PaymasterFields | None = None


class _SponsorshipMethods:
    """The ERC-4337 account's side of ERC-7677 (a mixin of :class:`_Erc4337Methods`).

    Attributes:
        paymaster: Who pays for every operation unless a call names its own paymaster (``paymaster=`` of
            ``build_user_operation`` / ``send_calls``): a paymaster service client
            (:class:`~sso_signer.erc4337.PaymasterClient` on a sync account,
            :class:`~sso_signer.erc4337.AsyncPaymasterClient` on an async one), a fixed paymaster and its
            data as on Era (:class:`~sso_signer.zksync.PaymasterParams`: ``paymaster_input`` is the
            ``paymasterData``), or ``None``: the account pays.
    """

    deployment: MsaDeployment
    paymaster: PaymasterClient | AsyncPaymasterClient | PaymasterParams | None = None

    def _paymaster_choice(
        self, paymaster: Any, paymaster_data: bytes, context: Mapping[str, Any] | None
    ) -> tuple[Sponsorship | None, str | None, bytes]:
        """``(service to ask or None, fixed paymaster or None, its data)`` for one operation."""
        chosen = self.paymaster if paymaster is None else paymaster
        if isinstance(chosen, PaymasterParams):
            if paymaster_data:
                raise InvalidRpcParams("paymaster_data: the account's PaymasterParams already carry the data")
            paymaster_data = chosen.paymaster_input
            chosen = chosen.paymaster
        if not isinstance(chosen, PaymasterClient | AsyncPaymasterClient):
            if context is not None:
                raise InvalidRpcParams("paymaster_context is for a paymaster service client, none is set")
            return None, chosen, paymaster_data
        if paymaster_data:
            raise InvalidRpcParams("paymaster_data comes from the paymaster service; do not pass it too")
        if isinstance(chosen, AsyncPaymasterClient) is not isinstance(self, AsyncShell):
            raise ConfigurationError(
                f"{type(self).__name__} cannot drive a {type(chosen).__name__}: a sync account takes a "
                "PaymasterClient, an async one an AsyncPaymasterClient",
                rule=ErrorCode.SIGNER_CONFIGURATION,
            )
        return Sponsorship(chosen, context), None, b""

    def _ask_paymaster(
        self, sponsorship: Sponsorship, op: UserOperation, *, final: bool
    ) -> Generator[Any, Any, PaymasterFields]:
        method = _PaymasterMethods.get_paymaster_data if final else _PaymasterMethods.get_paymaster_stub_data
        chain_id, entry_point = self.deployment.chain_id, self.deployment.entry_point
        flow = method.flow(
            sponsorship.client, op, chain_id=chain_id, entry_point=entry_point, context=sponsorship.context
        )
        fields: PaymasterFields = yield from relay(flow, partial(Paymaster, sponsorship.client))
        return fields

    def _paymaster_stub_flow(
        self, sponsorship: Sponsorship | None, op: UserOperation
    ) -> Generator[Any, Any, UserOperation]:
        """``op`` with the service's stub paymaster fields (unchanged without a service)."""
        if sponsorship is None:
            return op
        stub = yield from self._ask_paymaster(sponsorship, op, final=False)
        sponsorship.stub = stub
        return stub.apply(op)

    def _paymaster_final_flow(
        self, sponsorship: Sponsorship | None, op: UserOperation, *, estimated: bool
    ) -> Generator[Any, Any, UserOperation]:
        """``op`` (its gas set) with its final paymaster data (unchanged without a service). When the gas was
        ``estimated`` by the bundler, the stub's paymaster gas limits win (the service pays for them and knows
        them best); explicit gas is kept."""
        if sponsorship is None or sponsorship.stub is None:
            return op
        stub = sponsorship.stub
        if estimated:
            op = stub.apply(op)
        if stub.is_final:
            return op
        final = yield from self._ask_paymaster(sponsorship, op, final=True)
        if final.paymaster != stub.paymaster:
            raise MalformedRpcResponse(
                f"pm_getPaymasterData names paymaster {final.paymaster}, the stub named {stub.paymaster}: "
                "the gas was estimated for another contract",
                rule=ErrorCode.PAYMASTER_CHANGED,
            )
        return final.apply(op)
