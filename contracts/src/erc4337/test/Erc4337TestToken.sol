// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Erc4337TestToken
/// @notice An ERC-20 anyone can mint, for end-to-end tests of accounts on a local chain only.
contract Erc4337TestToken is ERC20 {
    constructor() ERC20("sso-signer test token", "SSOT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
