// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {Transaction} from "@matterlabs/zksync-contracts/contracts/system-contracts/libraries/TransactionHelper.sol";

import {IEraModule} from "./IEraModule.sol";

/// @title IEraModuleValidator
/// @notice A validator module of an SSO account: it decides whether a transaction or a message hash was
///         authorised by one of the account's keys.
/// @dev Interface id validateTransaction ^ validateSignature = 0x8c2a9c6b, as checked by the official SsoAccount.
interface IEraModuleValidator is IEraModule, IERC165 {
    /// @notice Validates a transaction for the calling account.
    /// @param signedHash The EIP-712 hash of the transaction (what the key signed).
    /// @param transaction The transaction; its `signature` is `abi.encode(bytes, address validator, bytes)`.
    /// @return True if the transaction is authorised.
    function validateTransaction(bytes32 signedHash, Transaction calldata transaction) external returns (bool);

    /// @notice Validates a signature over a hash for the calling account (ERC-1271 path).
    /// @param signedHash The hash that was signed.
    /// @param signature The validator-specific signature.
    /// @return True if the signature is valid.
    function validateSignature(bytes32 signedHash, bytes calldata signature) external view returns (bool);
}
