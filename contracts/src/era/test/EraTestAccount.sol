// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Transaction} from "@matterlabs/zksync-contracts/contracts/system-contracts/libraries/TransactionHelper.sol";

import {IEraModuleValidator} from "../IEraModuleValidator.sol";

/// @title EraTestAccount
/// @notice The part of the official SsoAccount an Era validator talks to, for running Era validators on a plain
/// EVM chain (tests only; anyone may drive it): module validators and hooks, call forwarding (so that the
/// validator sees the account as `msg.sender`), the account's own `batchCall`, and `validateTransaction` as the
/// account runs it.
contract EraTestAccount {
    /// @notice One call of a `batchCall`, laid out as the official account's `Call`.
    struct Call {
        address target;
        bool allowFailure;
        uint256 value;
        bytes callData;
    }
    mapping(address => bool) public isModuleValidator;
    mapping(address => bool) public isHook;

    receive() external payable {}

    /// @notice Registers `validator`, then calls its `onInstall(initData)` (the official order).
    function addModuleValidator(address validator, bytes calldata initData) external {
        isModuleValidator[validator] = true;
        IEraModuleValidator(validator).onInstall(initData);
    }

    /// @notice Unregisters `validator`, then calls its `onUninstall(data)`.
    function removeModuleValidator(address validator, bytes calldata data) external {
        isModuleValidator[validator] = false;
        IEraModuleValidator(validator).onUninstall(data);
    }

    function addHook(address hook) external {
        isHook[hook] = true;
    }

    /// @notice Makes a call as the account; bubbles a revert up unchanged.
    function execute(address target, uint256 value, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory result) = target.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 32), mload(result))
            }
        }
        return result;
    }

    /// @notice Several calls in one transaction, as the official account runs them: only the account itself may
    /// call it (a 0x71 transaction to the account); a failing call that may not fail reverts the whole batch
    /// with that call's revert data; the values must add up to `msg.value`.
    function batchCall(Call[] calldata calls) external payable {
        require(msg.sender == address(this), "batchCall: only the account itself");
        uint256 total;
        for (uint256 i = 0; i < calls.length; ++i) {
            total += calls[i].value;
            (bool ok, bytes memory result) = calls[i].target.call{value: calls[i].value}(calls[i].callData);
            if (!ok && !calls[i].allowFailure) {
                assembly ("memory-safe") {
                    revert(add(result, 32), mload(result))
                }
            }
        }
        require(total == msg.value, "batchCall: values do not add up to msg.value");
    }

    /// @notice What the account does with a transaction signed for a module validator: pick the validator from
    /// `abi.decode(signature, (bytes, address))`, require it installed, and ask it.
    function validateTransaction(bytes32 signedHash, Transaction calldata transaction) external returns (bool) {
        (, address validator) = abi.decode(transaction.signature, (bytes, address));
        require(isModuleValidator[validator], "validator not installed");
        return IEraModuleValidator(validator).validateTransaction(signedHash, transaction);
    }
}
