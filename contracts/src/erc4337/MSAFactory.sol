// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BeaconProxy} from "@openzeppelin/contracts/proxy/beacon/BeaconProxy.sol";
import {Create2} from "@openzeppelin/contracts/utils/Create2.sol";

/// @title MSAFactory
/// @notice Deploys modular smart accounts as beacon proxies with CREATE2.
/// @dev The effective salt is `keccak256(caller ‖ salt)`, so the same salt gives different accounts to different
/// callers (an EOA deploying directly, or the EntryPoint's SenderCreator for a UserOperation's initCode), and
/// `initData` (the proxy's constructor argument) is part of the address.
contract MSAFactory {
    /// @notice The beacon every account proxy follows.
    address public immutable BEACON;

    event AccountCreated(address indexed account, address indexed deployer);

    constructor(address beacon) {
        BEACON = beacon;
    }

    /// @notice Deploys an account whose proxy constructor delegate-calls `initData` (`initializeAccount(...)`).
    function deployAccount(bytes32 salt, bytes calldata initData) external returns (address account) {
        bytes32 effectiveSalt = keccak256(abi.encodePacked(msg.sender, salt));
        account = address(new BeaconProxy{salt: effectiveSalt}(BEACON, initData));
        emit AccountCreated(account, msg.sender);
    }

    /// @notice The address `deployAccount(salt, initData)` gives when called by `caller`.
    function getAddress(address caller, bytes32 salt, bytes calldata initData) external view returns (address) {
        bytes32 effectiveSalt = keccak256(abi.encodePacked(caller, salt));
        bytes32 initCodeHash = keccak256(abi.encodePacked(type(BeaconProxy).creationCode, abi.encode(BEACON, initData)));
        return Create2.computeAddress(effectiveSalt, initCodeHash);
    }
}
