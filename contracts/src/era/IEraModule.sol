// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IEraModule
/// @notice A module an SSO account (Era native account abstraction) installs and uninstalls.
/// @dev The interface id (onInstall ^ onUninstall = 0xe7f04e93) is the one the official SsoAccount checks
///      through ERC-165 before it installs a validator, so the selectors must not change.
interface IEraModule {
    /// @notice Called by the account when it installs the module.
    /// @param data Module-specific initialisation data (may be empty).
    function onInstall(bytes calldata data) external;

    /// @notice Called by the account when it uninstalls the module.
    /// @param data Module-specific clean-up data.
    function onUninstall(bytes calldata data) external;
}
