"""Paymaster parameters of a 0x71 transaction and the two standard paymaster flows.

``paymasterInput`` starts with the selector of one of the ``IPaymasterFlow`` functions, followed by its
ABI-encoded arguments: ``general(bytes)`` (selector ``0x8c5a3445``) and
``approvalBased(address,uint256,bytes)`` (selector ``0x949431dc``). The bootloader reads the selector to
decide whether to set an ERC-20 allowance before calling the paymaster.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError

from sso_signer.exceptions import ErrorCode, InvalidTransaction
from sso_signer.zksync._checks import UINT256_MAX, check_address, check_bytes, check_uint

GENERAL_SELECTOR = bytes.fromhex("8c5a3445")  # general(bytes)
APPROVAL_BASED_SELECTOR = bytes.fromhex("949431dc")  # approvalBased(address,uint256,bytes)
_FLOW_TYPES = {GENERAL_SELECTOR: ["bytes"], APPROVAL_BASED_SELECTOR: ["address", "uint256", "bytes"]}


@dataclass(frozen=True, slots=True)
class PaymasterParams:
    """Who pays the fee of a 0x71 transaction, and what the paymaster is told.

    Attributes:
        paymaster: Checksummed address of the paymaster contract (input in any valid case is normalised).
        paymaster_input: The bytes handed to the paymaster, usually built by :meth:`general` or
            :meth:`approval_based`.
    """

    paymaster: str
    paymaster_input: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "paymaster", check_address(self.paymaster, field="paymaster"))
        object.__setattr__(
            self, "paymaster_input", check_bytes(self.paymaster_input, field="paymaster_input")
        )

    @classmethod
    def general(cls, paymaster: str, inner: bytes = b"") -> PaymasterParams:
        """The general flow: ``0x8c5a3445 || abi.encode(bytes inner)`` (``inner`` is empty for most sponsors).

        Raises:
            InvalidEncoding (``INVALID_ADDRESS``): If ``paymaster`` is not an address.
            InvalidTransaction (``INVALID_FIELD_TYPE``): If ``inner`` is not bytes-like.
        """
        return cls(paymaster, general_paymaster_input(inner))

    @classmethod
    def approval_based(
        cls, paymaster: str, token: str, min_allowance: int, inner: bytes = b""
    ) -> PaymasterParams:
        """The approval-based flow: the bootloader approves ``min_allowance`` of the ERC-20 ``token`` to the
        paymaster before calling it, so the paymaster can take its fee in that token.

        Returns:
            Params with input ``0x949431dc || abi.encode(address token, uint256 minAllowance, bytes inner)``.

        Raises:
            InvalidEncoding (``INVALID_ADDRESS``): If ``paymaster`` or ``token`` is not an address.
            InvalidTransaction (``INTEGER_OUT_OF_RANGE``): If ``min_allowance`` is not a uint256.
            InvalidTransaction (``INVALID_FIELD_TYPE``): If ``min_allowance`` is not an int or ``inner`` not
                bytes-like.
        """
        return cls(paymaster, approval_based_paymaster_input(token, min_allowance, inner))

    def flow(self) -> GeneralFlow | ApprovalBasedFlow:
        """Decode :attr:`paymaster_input` as one of the two standard flows.

        Raises:
            InvalidTransaction (``INVALID_PAYMASTER_INPUT``): If the input is not the canonical encoding of
                either flow.
        """
        return decode_paymaster_input(self.paymaster_input)


@dataclass(frozen=True, slots=True)
class GeneralFlow:
    """A decoded ``general(bytes)`` paymaster input."""

    inner: bytes


@dataclass(frozen=True, slots=True)
class ApprovalBasedFlow:
    """A decoded ``approvalBased(address token, uint256 minAllowance, bytes innerInput)`` paymaster input."""

    token: str
    min_allowance: int
    inner: bytes


def general_paymaster_input(inner: bytes = b"") -> bytes:
    """The general flow's paymaster input (see :meth:`PaymasterParams.general`)."""
    return GENERAL_SELECTOR + encode(["bytes"], [check_bytes(inner, field="inner")])


def approval_based_paymaster_input(token: str, min_allowance: int, inner: bytes = b"") -> bytes:
    """The approval-based flow's paymaster input (see :meth:`PaymasterParams.approval_based`)."""
    address = check_address(token, field="token")
    allowance = check_uint(min_allowance, field="min_allowance", maximum=UINT256_MAX)
    body = encode(["address", "uint256", "bytes"], [address, allowance, check_bytes(inner, field="inner")])
    return APPROVAL_BASED_SELECTOR + body


def decode_paymaster_input(data: bytes) -> GeneralFlow | ApprovalBasedFlow:
    """Decode a paymaster input (see :meth:`PaymasterParams.flow`); ``data`` must be bytes-like."""
    raw = check_bytes(data, field="paymaster_input")
    selector = raw[:4]
    if selector not in _FLOW_TYPES:
        raise InvalidTransaction(
            f"paymaster_input: unknown flow selector 0x{selector.hex()}",
            rule=ErrorCode.INVALID_PAYMASTER_INPUT,
        )
    try:
        values = decode(_FLOW_TYPES[selector], raw[4:], strict=True)
    except DecodingError as exc:
        raise InvalidTransaction(
            f"paymaster_input: body does not decode ({exc})", rule=ErrorCode.INVALID_PAYMASTER_INPUT
        ) from exc
    flow: GeneralFlow | ApprovalBasedFlow
    if selector == GENERAL_SELECTOR:
        flow, rebuilt = GeneralFlow(inner=bytes(values[0])), general_paymaster_input(values[0])
    else:
        flow = ApprovalBasedFlow(
            token=check_address(values[0], field="token"), min_allowance=values[1], inner=values[2]
        )
        rebuilt = approval_based_paymaster_input(flow.token, flow.min_allowance, flow.inner)
    # eth-abi accepts some non-canonical padding layouts; only the canonical form round-trips.
    if rebuilt != raw:
        raise InvalidTransaction(
            "paymaster_input: not the canonical ABI encoding of its flow",
            rule=ErrorCode.INVALID_PAYMASTER_INPUT,
        )
    return flow
