# Classes are named after the failed check, as docs/architecture.md asks (N818 is off project-wide).
"""Concrete errors of the ``sso_signer.zksync`` room.

Each class is named after the check that failed, so callers can branch on the class instead of the message.
All of them are :class:`~sso_signer._errors.InvalidInputError` (and therefore ``ValueError``) subclasses:
they describe malformed transactions, bytecodes, addresses or paymaster inputs, never remote failures.
"""

from __future__ import annotations

from sso_signer._errors import InvalidInputError

__all__ = [
    "BytecodeEvenWordCount",
    "BytecodeLengthNotWordAligned",
    "BytecodeTooLong",
    "ChainIdMismatch",
    "EcdsaSignatureFieldsSet",
    "IntegerOutOfRange",
    "InvalidAddress",
    "InvalidAddressLength",
    "InvalidBytecode",
    "InvalidBytecodeHash",
    "InvalidFieldType",
    "InvalidPaymasterInput",
    "InvalidSalt",
    "InvalidTransaction",
    "MalformedRlp",
    "NonCanonicalEncoding",
    "NonCanonicalInteger",
    "PriorityFeeAboveMaxFee",
    "TrailingRlpData",
    "WrongFieldCount",
    "WrongTransactionType",
    "ZkSyncInputError",
]


class ZkSyncInputError(InvalidInputError):
    """Base class of every input error raised by :mod:`sso_signer.zksync`."""


class InvalidTransaction(ZkSyncInputError):
    """A type-0x71 transaction (model fields or serialised bytes) is malformed."""


class WrongTransactionType(InvalidTransaction):
    """The serialised transaction does not start with the EIP-712 type byte ``0x71``."""


class MalformedRlp(InvalidTransaction):
    """The bytes after the type byte are not valid canonical RLP, or an item has the wrong shape."""


class TrailingRlpData(InvalidTransaction):
    """Bytes follow the end of the transaction's RLP list."""


class WrongFieldCount(InvalidTransaction):
    """The RLP list (or the paymaster sub-list) has the wrong number of items."""


class NonCanonicalInteger(InvalidTransaction):
    """An RLP integer has leading zero bytes (zero must be the empty string)."""


class IntegerOutOfRange(InvalidTransaction):
    """An integer field is negative, zero where it must be positive, or does not fit in 256 bits."""


class PriorityFeeAboveMaxFee(InvalidTransaction):
    """``max_priority_fee_per_gas`` exceeds ``max_fee_per_gas`` (nodes reject such transactions)."""


class InvalidFieldType(InvalidTransaction):
    """A field holds a value of the wrong Python type (e.g. ``str`` where ``bytes`` is required)."""


class InvalidAddress(ZkSyncInputError):
    """An address is not 20 bytes of ``0x`` hex, or its mixed-case checksum is wrong."""


class InvalidAddressLength(InvalidAddress, InvalidTransaction):
    """A serialised address field is not exactly 20 bytes."""


class ChainIdMismatch(InvalidTransaction):
    """The two chain-id slots of a serialised 0x71 transaction differ."""


class EcdsaSignatureFieldsSet(InvalidTransaction):
    """The legacy ``r``/``s`` slots are set; this SDK only handles the ``customSignature`` form."""


class NonCanonicalEncoding(InvalidTransaction):
    """The bytes parse, but re-serialising the parsed transaction gives different bytes."""


class InvalidBytecode(ZkSyncInputError):
    """An EraVM bytecode breaks a rule of the bytecode-hash format."""


class BytecodeLengthNotWordAligned(InvalidBytecode):
    """The bytecode length is not a multiple of 32 bytes."""


class BytecodeTooLong(InvalidBytecode):
    """The bytecode has 2**16 or more 32-byte words (the hash stores the count in 16 bits)."""


class BytecodeEvenWordCount(InvalidBytecode):
    """The bytecode has an even number of 32-byte words (including zero); EraVM requires an odd count."""


class InvalidBytecodeHash(ZkSyncInputError):
    """A bytecode hash is not 32 bytes, or its version/length header is not that of an EraVM bytecode."""


class InvalidSalt(ZkSyncInputError):
    """A CREATE2 salt is not exactly 32 bytes."""


class InvalidPaymasterInput(ZkSyncInputError):
    """Paymaster input could not be built or decoded (wrong selector, bad ABI body, bad argument)."""
