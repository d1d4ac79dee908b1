"""EntryPoint v0.8: deployment at its canonical address and the read calls an SSO client needs.

The canonical EntryPoint v0.8 is the npm ``@account-abstraction/contracts@0.8.0`` artifact sent through the
deterministic-deployment proxy with a fixed salt. Its ``SenderCreator`` remembers the EntryPoint in an
immutable, so copying code to the address (``anvil_setCode``) is not equivalent: initCode deployments then
fail with AA97. :func:`deploy_entry_point_v08` therefore always goes through the deployer, and skips when
code is already there.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from sso_signer._codec import hex_decode
from sso_signer._json import ARTIFACT_LIMITS, read_json_file
from sso_signer._shell import AsyncShell, SyncShell, flow_method
from sso_signer._toolchain import TOOLS, locate_tool
from sso_signer.erc4337._user_operation import ENTRY_POINT_V08, UserOperation, _check_address, _check_uint
from sso_signer.exceptions import EntryPointError, ErrorCode, ExecutionReverted
from sso_signer.rpc import EthClient, Receipt
from sso_signer.rpc._eth import _EthMethods
from sso_signer.rpc._flow import Flow

__all__ = ["AsyncEntryPoint", "EntryPoint", "deploy_entry_point_v08", "load_entry_point_v08_initcode"]

DETERMINISTIC_DEPLOYER: Final = "0x4e59b44847b379578588920ca78fbf26c0b4956c"
"""The deterministic-deployment proxy (``salt ‖ initcode`` → CREATE2); anvil pre-deploys it."""

ENTRY_POINT_V08_SALT: Final = bytes.fromhex(
    "0a59dbff790c23c976a548690c27297883cc66b4c67024f9117b0238995e35e9"
)
ENTRY_POINT_V08_INITCODE_HASH: Final = bytes.fromhex(
    "2a7c999e10f113d5f71f2abb9069a95091852afbd016309139559b9e47bb59dd"
)

_ZERO_ADDRESS: Final = "0x" + "00" * 20

_GET_NONCE: Final = keccak(b"getNonce(address,uint192)")[:4]
_GET_USER_OP_HASH: Final = keccak(
    b"getUserOpHash((address,uint256,bytes,bytes,bytes32,uint256,bytes32,bytes,bytes))"
)[:4]
_GET_SENDER_ADDRESS: Final = keccak(b"getSenderAddress(bytes)")[:4]
_SENDER_ADDRESS_RESULT: Final = keccak(b"SenderAddressResult(address)")[:4]
_BALANCE_OF: Final = keccak(b"balanceOf(address)")[:4]
_DEPOSIT_TO: Final = keccak(b"depositTo(address)")[:4]
_PACKED_OP: Final = "(address,uint256,bytes,bytes,bytes32,uint256,bytes32,bytes,bytes)"
# Measured: the v0.8 deployment takes ~5.03M gas; a fixed limit avoids an estimate of a 24 KB initcode.
_DEPLOY_GAS: Final = 6_000_000


def load_entry_point_v08_initcode(node_modules: str | pathlib.Path | None = None) -> bytes:
    """Read the EntryPoint v0.8 creation bytecode from the npm artifact and check it is the canonical one.

    Args:
        node_modules: The ``node_modules`` directory holding ``@account-abstraction/contracts@0.8.0``;
            default: ``$SSO_SIGNER_ENTRY_POINT`` (the artifact file itself), the copy ``sso-signer setup``
            installs, then the checkout's ``node_modules``.

    Returns:
        The initcode (its keccak256 is :data:`ENTRY_POINT_V08_INITCODE_HASH`).

    Raises:
        ToolNotFound: If the artifact is not installed (``sso-signer setup`` installs it).
        EntryPointError (``ENTRY_POINT_ARTIFACT_MISMATCH``): If the artifact is unreadable or not the
            canonical v0.8 bytecode.
    """
    given = None if node_modules is None else pathlib.Path(node_modules) / TOOLS["entry-point"].npm_path
    path = pathlib.Path(locate_tool("entry-point", given))
    try:
        artifact = read_json_file(
            path,
            limits=ARTIFACT_LIMITS,
            error=functools.partial(EntryPointError, rule=ErrorCode.ENTRY_POINT_ARTIFACT_MISMATCH),
            what=str(path),
        )
        initcode = hex_decode(artifact["bytecode"], field="EntryPoint.bytecode")
    except (ValueError, KeyError, TypeError) as exc:
        raise EntryPointError(
            f"cannot read the EntryPoint v0.8 artifact {path}: {exc}",
            rule=ErrorCode.ENTRY_POINT_ARTIFACT_MISMATCH,
        ) from exc
    if keccak(initcode) != ENTRY_POINT_V08_INITCODE_HASH:
        raise EntryPointError(
            f"{path} is not the canonical EntryPoint v0.8 (initcode hash {keccak(initcode).hex()})",
            rule=ErrorCode.ENTRY_POINT_ARTIFACT_MISMATCH,
        )
    return initcode


def deploy_entry_point_v08(
    eth: EthClient, deployer: LocalAccount, *, node_modules: str | pathlib.Path | None = None
) -> str:
    """Put EntryPoint v0.8 at its canonical address through the deterministic deployer; no-op if present.

    Args:
        eth: A client of the chain.
        deployer: A funded account that sends the deployment transaction (~5M gas).
        node_modules: Where the npm artifact lives (see :func:`load_entry_point_v08_initcode`).

    Returns:
        The EntryPoint address (:data:`ENTRY_POINT_V08`).

    Raises:
        EntryPointError (``ENTRY_POINT_ARTIFACT_MISMATCH``): If the artifact is not the canonical bytecode.
        EntryPointError (``ENTRY_POINT_DEPLOYMENT_FAILED``): If the deterministic deployer is missing or no
            code landed at the address.
    """
    if eth.get_code(ENTRY_POINT_V08):
        return ENTRY_POINT_V08
    if not eth.get_code(DETERMINISTIC_DEPLOYER):
        raise EntryPointError(
            f"no deterministic deployer at {DETERMINISTIC_DEPLOYER} on this chain; deploy it first",
            rule=ErrorCode.ENTRY_POINT_DEPLOYMENT_FAILED,
        )
    initcode = load_entry_point_v08_initcode(node_modules)
    eth.send_transaction(
        deployer,
        to=to_checksum_address(DETERMINISTIC_DEPLOYER),
        data=ENTRY_POINT_V08_SALT + initcode,
        gas=_DEPLOY_GAS,
    )
    if not eth.get_code(ENTRY_POINT_V08):
        raise EntryPointError(
            f"the deployment transaction left no code at {ENTRY_POINT_V08}",
            rule=ErrorCode.ENTRY_POINT_DEPLOYMENT_FAILED,
        )
    return ENTRY_POINT_V08


def _word(raw: bytes, what: str) -> bytes:
    if len(raw) < 32:
        raise EntryPointError(f"{what}: expected a 32-byte word, got {len(raw)} bytes (no EntryPoint code?)")
    return raw


class _EntryPointMethods:
    """Calls on an EntryPoint v0.8 through a chain client, each a flow written once for :class:`EntryPoint`
    (on an :class:`~sso_signer.rpc.EthClient`) and :class:`AsyncEntryPoint` (on an ``AsyncEthClient``).

    Args:
        eth: The chain client (an ``EthClient`` for :class:`EntryPoint`, an ``AsyncEthClient`` for
            :class:`AsyncEntryPoint`; the flows alone need no client of either kind).
        address: The EntryPoint address; default the canonical v0.8 one.
    """

    eth: Any

    def __init__(self, eth: _EthMethods, address: str = ENTRY_POINT_V08) -> None:
        self.eth = eth
        self.address = _check_address(address, "entry point")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address})"

    def _call(self, data: bytes) -> Flow[bytes]:
        return (yield from _EthMethods.call.flow(self.eth, {"to": self.address, "data": data}))

    @flow_method
    def get_nonce(self, sender: str, key: int = 0) -> Flow[int]:
        """The next 2D nonce of ``sender`` for ``key`` (``getNonce``).

        Raises:
            InvalidEncoding (``INVALID_ADDRESS``), InvalidUserOperation (``FIELD_OUT_OF_RANGE``): On a bad
                sender or key.
            EntryPointError: If the answer is not a word (no EntryPoint here).
        """
        sender = _check_address(sender, "sender")
        _check_uint(key, (1 << 192) - 1, "nonce key")
        result = yield from self._call(_GET_NONCE + abi_encode(["address", "uint192"], [sender, key]))
        return int.from_bytes(_word(result, "getNonce")[:32], "big")

    @flow_method
    def get_user_op_hash(self, op: UserOperation) -> Flow[bytes]:
        """The userOpHash as the EntryPoint computes it (``getUserOpHash``)."""
        result = yield from self._call(_GET_USER_OP_HASH + abi_encode([_PACKED_OP], [op.packed()]))
        return _word(result, "getUserOpHash")[:32]

    @flow_method
    def get_sender_address(self, init_code: bytes) -> Flow[str]:
        """The account address an initCode deploys (``getSenderAddress`` reverting ``SenderAddressResult``).

        Raises:
            EntryPointError (``FACTORY_CALL_FAILED``): If the factory call fails (answered as the zero
                address): the account exists
                already, or the factory refuses the call.
            EntryPointError: If the EntryPoint answers anything else.
        """
        try:
            yield from self._call(_GET_SENDER_ADDRESS + abi_encode(["bytes"], [init_code]))
        except ExecutionReverted as exc:
            raw = exc.revert.raw if exc.revert is not None else b""
            if raw[:4] != _SENDER_ADDRESS_RESULT or len(raw) != 36:
                raise EntryPointError(
                    f"getSenderAddress reverted without SenderAddressResult (0x{raw.hex()}): "
                    "the factory call in initCode failed"
                ) from exc
            try:
                (address,) = abi_decode(["address"], raw[4:])
            except DecodingError as dexc:
                raise EntryPointError(f"malformed SenderAddressResult 0x{raw.hex()}") from dexc
            if address == _ZERO_ADDRESS:
                # The SenderCreator answers 0 for any failing factory call; for a CREATE2 factory the usual
                # cause is an account that already exists for this salt and init data.
                raise EntryPointError(
                    f"the factory call in initCode failed (getSenderAddress answered the zero address) for "
                    f"factory 0x{init_code[:20].hex()}: the account for this salt and init data may already "
                    "exist (use its address), or the factory refuses the init data",
                    rule=ErrorCode.FACTORY_CALL_FAILED,
                ) from exc
            return to_checksum_address(address)
        raise EntryPointError("getSenderAddress returned instead of reverting (no EntryPoint v0.8 code?)")

    @flow_method
    def balance_of(self, account: str) -> Flow[int]:
        """The account's deposit at the EntryPoint."""
        data = _BALANCE_OF + abi_encode(["address"], [_check_address(account, "account")])
        result = yield from self._call(data)
        return int.from_bytes(_word(result, "balanceOf")[:32], "big")

    @flow_method
    def deposit_to(self, funder: LocalAccount, account: str, value: int) -> Flow[Receipt]:
        """Deposit ``value`` wei for ``account`` from ``funder`` (``depositTo``); returns the receipt."""
        data = _DEPOSIT_TO + abi_encode(["address"], [_check_address(account, "account")])
        send = _EthMethods.send_transaction.flow
        return (yield from send(self.eth, funder, to=self.address, data=data, value=value))


class EntryPoint(_EntryPointMethods, SyncShell):
    __doc__ = _EntryPointMethods.__doc__

    def answer(self, step: Any) -> Any:
        return self.eth.answer(step)


class AsyncEntryPoint(_EntryPointMethods, AsyncShell):
    __doc__ = _EntryPointMethods.__doc__

    async def answer(self, step: Any) -> Any:
        return await self.eth.answer(step)
