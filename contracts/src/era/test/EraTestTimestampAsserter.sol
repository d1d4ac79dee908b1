// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title EraTestTimestampAsserter
/// @notice A stand-in for ZKsync's TimestampAsserter system contract, for running the Era session validator on a
/// plain EVM chain (tests only): placed with `anvil_setCode` / `vm.etch` at the address the validator looks up.
/// @dev Same function and error as the ZKsync contract.
contract EraTestTimestampAsserter {
    error TimestampOutOfRange(uint256 currentTimestamp, uint256 start, uint256 end);

    function assertTimestampInRange(uint256 start, uint256 end) external view {
        if (block.timestamp < start || block.timestamp > end) {
            revert TimestampOutOfRange(block.timestamp, start, end);
        }
    }
}
