// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, IPaymaster, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";

/// @title Erc4337TestPaymaster
/// @notice Sponsors every UserOperation whose paymasterData is empty, for local tests only. Counts sponsored
/// operations in postOp so a test can see that both paymaster phases ran.
contract Erc4337TestPaymaster is IPaymaster {
    IEntryPoint public immutable ENTRY_POINT;
    uint256 public sponsored;
    address public lastSender;

    error NotEntryPoint(address caller);

    constructor(IEntryPoint entryPoint_) {
        ENTRY_POINT = entryPoint_;
    }

    function validatePaymasterUserOp(PackedUserOperation calldata userOp, bytes32, uint256)
        external
        view
        returns (bytes memory context, uint256 validationData)
    {
        require(msg.sender == address(ENTRY_POINT), NotEntryPoint(msg.sender));
        // paymasterAndData = paymaster(20) ‖ uint128 ‖ uint128 ‖ paymasterData: anything extra means "refuse".
        bool refuse = userOp.paymasterAndData.length > 52;
        return (abi.encode(userOp.sender), refuse ? 1 : 0);
    }

    function postOp(PostOpMode, bytes calldata context, uint256, uint256) external {
        require(msg.sender == address(ENTRY_POINT), NotEntryPoint(msg.sender));
        ++sponsored;
        lastSender = abi.decode(context, (address));
    }

    /// @notice Adds to this paymaster's deposit at the EntryPoint.
    function deposit() external payable {
        ENTRY_POINT.depositTo{value: msg.value}(address(this));
    }
}
