"""Contract addresses on EraVM (CREATE2 and CREATE), which differ from Ethereum's formulas.

CREATE2: ``keccak256(keccak256("zksyncCreate2") || pad32(sender) || salt || bytecodeHash ||
keccak256(input))``, last 20 bytes. The constructor input is part of the preimage (on Ethereum it is folded
into the init code), and the code is named by its EraVM bytecode hash, not by ``keccak256(initcode)``.
CREATE: ``keccak256(keccak256("zksyncCreate") || pad32(sender) || uint256(deploymentNonce))``, last 20 bytes.
"""

from __future__ import annotations

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from sso_signer.exceptions import ErrorCode, InvalidBytecode
from sso_signer.zksync._checks import check_address, check_bytes, check_uint

CREATE2_PREFIX = keccak(b"zksyncCreate2")
CREATE_PREFIX = keccak(b"zksyncCreate")


def create2_address(sender: str, bytecode_hash: bytes, salt: bytes, constructor_input: bytes = b"") -> str:
    """Predict the address of a contract deployed with CREATE2 on EraVM.

    For an SSO account, ``sender`` is the factory (proxy) address, ``salt`` the factory's
    ``keccak256(uniqueId || deployer)``, ``bytecode_hash`` its ``beaconProxyBytecodeHash()`` and
    ``constructor_input`` its ``getEncodedBeacon()``.

    Args:
        sender: The address that calls the ContractDeployer (the deploying contract or EOA).
        bytecode_hash: The 32-byte bytecode hash of the deployed code (see :func:`bytecode_hash`).
        salt: The 32-byte salt.
        constructor_input: The ABI-encoded constructor arguments.

    Returns:
        The checksummed address.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``sender`` is not an address.
        InvalidBytecode (``INVALID_BYTECODE_HASH``): If ``bytecode_hash`` is not 32 bytes.
        InvalidBytecode (``INVALID_SALT``): If ``salt`` is not 32 bytes.
        InvalidTransaction (``INVALID_FIELD_TYPE``): If a bytes argument is not bytes-like.
    """
    sender_bytes = bytes.fromhex(check_address(sender, field="sender")[2:])
    code_hash = check_bytes(bytecode_hash, field="bytecode_hash")
    if len(code_hash) != 32:
        raise InvalidBytecode(
            f"bytecode_hash: expected 32 bytes, got {len(code_hash)}", rule=ErrorCode.INVALID_BYTECODE_HASH
        )
    salt_bytes = check_bytes(salt, field="salt")
    if len(salt_bytes) != 32:
        raise InvalidBytecode(f"salt: expected 32 bytes, got {len(salt_bytes)}", rule=ErrorCode.INVALID_SALT)
    input_hash = keccak(check_bytes(constructor_input, field="constructor_input"))
    preimage = CREATE2_PREFIX + sender_bytes.rjust(32, b"\x00") + salt_bytes + code_hash + input_hash
    return str(to_checksum_address(keccak(preimage)[12:]))


def create_address(sender: str, deployment_nonce: int) -> str:
    """Predict the address of a contract deployed with CREATE on EraVM.

    Args:
        sender: The deploying account or contract.
        deployment_nonce: The sender's deployment nonce (NonceHolder), not its transaction nonce.

    Returns:
        The checksummed address.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``sender`` is not an address.
        InvalidTransaction (``INTEGER_OUT_OF_RANGE``): If the nonce is negative or above 2**256 - 1.
        InvalidTransaction (``INVALID_FIELD_TYPE``): If the nonce is not an int.
    """
    sender_bytes = bytes.fromhex(check_address(sender, field="sender")[2:])
    nonce = check_uint(deployment_nonce, field="deployment_nonce")
    preimage = CREATE_PREFIX + sender_bytes.rjust(32, b"\x00") + nonce.to_bytes(32, "big")
    return str(to_checksum_address(keccak(preimage)[12:]))
