// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC7579AccountConfig, IERC7579Execution, IERC7579ModuleConfig} from
    "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";

/// @title IMSA
/// @notice The surface of the sso-signer modular smart account that SDKs and modules rely on: ERC-7579 execution
/// and module configuration plus the one-shot initializer a factory passes to the beacon proxy.
interface IMSA is IERC7579Execution, IERC7579ModuleConfig, IERC7579AccountConfig {
    /// @notice Installs `modules[i]` with `data[i]`, each under every module type it declares (validator,
    /// executor). Callable once, from the proxy constructor.
    function initializeAccount(address[] calldata modules, bytes[] calldata data) external;
}
