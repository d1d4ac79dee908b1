"""Signature verification for web3.py users: ERC-6492, ERC-1271 and ``ecrecover`` in one ``eth_call``.

:func:`is_valid_signature` runs the creation code of the project's ``UniversalSignatureValidator``
(``contracts/src/common``) in an ``eth_call`` without ``to``: the constructor does the checks and returns the
verdict as its "deployed code", so nothing needs to be deployed and nothing is written. It answers for
accounts that exist (ERC-1271 ``isValidSignature``), accounts that do not exist yet (an ERC-6492-wrapped
signature: the call creates the account first, inside the call only) and EOAs (``ecrecover``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from functools import cache
from typing import TYPE_CHECKING, Any, Final, overload

from eth_abi.abi import encode as abi_encode
from eth_account.messages import SignableMessage, _hash_eip191_message

from sso_signer._artifacts import load_artifact
from sso_signer.exceptions import (
    ErrorCode,
    InvalidEncoding,
    MalformedRpcResponse,
    RpcError,
    RpcTransportError,
    SsoEncodingError,
    SsoSignerError,
)
from sso_signer.sso._erc7739 import eip191_hash
from sso_signer.sso._signature import checksum_address

if TYPE_CHECKING:
    from web3 import AsyncWeb3, Web3

__all__ = ["ERC6492_MAGIC", "is_valid_signature", "message_hash", "wrap_erc6492"]

#: The suffix that marks an ERC-6492 signature.
ERC6492_MAGIC: Final = bytes.fromhex("6492" * 16)
_TRUE: Final = (1).to_bytes(32, "big")
_FALSE: Final = bytes(32)


def wrap_erc6492(factory: str, factory_calldata: bytes, signature: bytes) -> bytes:
    """``abi.encode(factory, factoryCalldata, signature) ‖ 0x6492…6492``: a counterfactual account's signature
    with what creates the account (ERC-6492)."""
    encoded = abi_encode(
        ["address", "bytes", "bytes"],
        [checksum_address(factory, field="factory"), bytes(factory_calldata), bytes(signature)],
    )
    return bytes(encoded) + ERC6492_MAGIC


@cache
def _validator_code() -> bytes:
    return load_artifact("UniversalSignatureValidator").bytecode


def message_hash(message: SignableMessage | bytes | str) -> bytes:
    """The hash ``isValidSignature`` is asked about for ``message``: the EIP-191 hash of a
    ``SignableMessage``, or of raw bytes / UTF-8 text signed with ``personal_sign``.

    Raises:
        SsoEncodingError (``INVALID_TYPED_DATA``): If ``message`` is none of these.
    """
    if isinstance(message, SignableMessage):
        parts = (message.version, message.header, message.body)
        if not all(isinstance(part, bytes) for part in parts) or len(message.version) != 1:
            raise SsoEncodingError(
                "SignableMessage: version (one byte), header and body must be bytes",
                rule=ErrorCode.INVALID_TYPED_DATA,
            )
        return bytes(_hash_eip191_message(message))
    return eip191_hash(message)


def _hash_of(hash_or_message: object) -> bytes:
    if isinstance(hash_or_message, SignableMessage):
        return message_hash(hash_or_message)
    if isinstance(hash_or_message, str) and hash_or_message[:2] in ("0x", "0X"):
        with contextlib.suppress(ValueError):
            hash_or_message = bytes.fromhex(hash_or_message[2:])
    if isinstance(hash_or_message, bytes | bytearray) and len(hash_or_message) == 32:
        return bytes(hash_or_message)
    raise InvalidEncoding(
        "hash_or_message: expected a 32-byte hash (bytes or 0x-hex) or an eth-account SignableMessage",
        rule=ErrorCode.CHALLENGE_LENGTH,
    )


def _signature_bytes(signature: object) -> bytes:
    if isinstance(signature, str) and signature[:2] in ("0x", "0X"):
        with contextlib.suppress(ValueError):
            return bytes.fromhex(signature[2:])
    if isinstance(signature, bytes | bytearray):
        return bytes(signature)
    raise InvalidEncoding("signature: expected bytes or 0x-hex", rule=ErrorCode.INVALID_ENCODING)


def _request(account_address: str, hash_or_message: object, signature: object) -> dict[str, Any]:
    """The ``eth_call`` transaction: the validator's creation code and its constructor arguments."""
    args = abi_encode(
        ["address", "bytes32", "bytes"],
        [
            checksum_address(account_address, field="account_address"),
            _hash_of(hash_or_message),
            _signature_bytes(signature),
        ],
    )
    return {"data": "0x" + (_validator_code() + bytes(args)).hex()}


def _verdict(answer: object) -> bool:
    raw = bytes(answer) if isinstance(answer, bytes | bytearray) else None
    if raw == _TRUE:
        return True
    if raw == _FALSE:
        return False
    raise MalformedRpcResponse(
        f"eth_call of the signature validator answered {answer!r}; expected a 32-byte boolean "
        "(does the node run creation code in eth_call without 'to'?)",
        rule=ErrorCode.MALFORMED_RPC_RESPONSE,
    )


def _failure(exc: BaseException) -> bool:
    """What a failed ``eth_call`` means: the validator reverted (a wrapper that does not decode, or out of
    gas) is a refused signature; anything else becomes the SDK's error."""
    from web3.exceptions import ContractLogicError, ProviderConnectionError, Web3Exception, Web3RPCError

    if isinstance(exc, SsoSignerError):
        raise exc  # the SDK's own (a middleware's), some a ValueError: not the node's malformed answer
    if isinstance(exc, ContractLogicError):
        return False
    if isinstance(exc, Web3RPCError):
        error = exc.rpc_response.get("error", {}) if isinstance(exc.rpc_response, dict) else {}
        code = error.get("code", 0) if isinstance(error, dict) else 0
        raise RpcError(code if isinstance(code, int) else 0, str(exc.message), method="eth_call") from exc
    if isinstance(exc, ProviderConnectionError | OSError | asyncio.TimeoutError):
        raise RpcTransportError(f"eth_call: {exc}", method="eth_call", rule=ErrorCode.RPC_CONNECTION) from exc
    if isinstance(exc, Web3Exception):
        raise RpcTransportError(f"eth_call: {exc}", method="eth_call") from exc
    if isinstance(exc, TypeError | ValueError):
        # web3.py's result formatter on an answer that is no hex data (an object, null, "0xzz"): the request
        # is this module's own and well formed, so the fault is the node's.
        raise MalformedRpcResponse(
            f"eth_call of the signature validator: the node's answer is not hex data ({exc})",
            rule=ErrorCode.MALFORMED_RPC_RESPONSE,
        ) from exc
    raise exc


async def _verify_async(w3: AsyncWeb3[Any], request: dict[str, Any]) -> bool:
    try:
        answer = await w3.eth.call(request)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - sorted by _failure, anything unknown is re-raised there
        return _failure(exc)
    return _verdict(answer)


@overload
def is_valid_signature(
    w3: AsyncWeb3[Any], account_address: str, hash_or_message: Any, signature: bytes | str
) -> Coroutine[Any, Any, bool]: ...


@overload
def is_valid_signature(
    w3: Web3, account_address: str, hash_or_message: Any, signature: bytes | str
) -> bool: ...


def is_valid_signature(
    w3: Web3 | AsyncWeb3[Any], account_address: str, hash_or_message: Any, signature: bytes | str
) -> bool | Coroutine[Any, Any, bool]:
    """Whether ``signature`` is ``account_address``'s signature of a hash, asked of the chain ``w3`` reaches
    in one ``eth_call`` (nothing is deployed or sent).

    Deployed contract accounts answer through ERC-1271 ``isValidSignature``; an ERC-6492-wrapped signature of
    an account not deployed yet is checked by creating the account inside the call first (and, once the
    account exists, by its ``isValidSignature`` with the inner signature, as the standard says); an address
    without code is checked by ``ecrecover`` (65-byte ``r ‖ s ‖ v``, low s). With an ``AsyncWeb3`` it returns
    a coroutine: ``await is_valid_signature(async_w3, ...)``.

    Args:
        w3: A ``Web3`` or ``AsyncWeb3`` connected to the account's chain.
        account_address: The account (or EOA) said to have signed.
        hash_or_message: The 32-byte hash the signature is for (bytes or 0x-hex), or an eth-account
            ``SignableMessage`` (its EIP-191 / EIP-712 hash is used).
        signature: The signature (bytes, a :class:`PasskeySignedMessage`, or 0x-hex).

    Returns:
        ``True`` if the account accepts the signature for that hash; ``False`` if it refuses, reverts, or a
        wrapped signature does not decode.

    Raises:
        InvalidEncoding (``CHALLENGE_LENGTH``, ``INVALID_ADDRESS``, ``INVALID_ENCODING``): If an argument is
            malformed (checked before any request).
        RpcError: If the node answers the call with a JSON-RPC error other than a revert.
        RpcTransportError: If the node cannot be reached.
        MalformedRpcResponse: If the answer is not a 32-byte boolean.
    """
    from web3 import AsyncWeb3

    request = _request(account_address, hash_or_message, signature)
    if isinstance(w3, AsyncWeb3):
        return _verify_async(w3, request)
    try:
        answer = w3.eth.call(request)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - sorted by _failure, anything unknown is re-raised there
        return _failure(exc)
    return _verdict(answer)
