// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IEraModuleValidator} from "./IEraModuleValidator.sol";

/// @title IEraWebAuthValidator
/// @notice Passkey (P-256 / WebAuthn) validator for SSO accounts on ZKsync Era, call- and event-compatible with
///         the official WebAuthValidator: same selectors, same event topics, same custom errors.
interface IEraWebAuthValidator is IEraModuleValidator {
    /// @notice A passkey, named by the web origin it signs for and its raw credential id.
    struct PasskeyId {
        string domain;
        bytes credentialId;
    }

    /// @notice Why a signature was accepted or rejected, in the order the checks run (see `checkSignature`).
    /// @dev Rules marked "reverts" make `validateSignature` / `validateTransaction` revert, as the official
    ///      validator does for undecodable input; every other rule makes them return false.
    enum Rule {
        Valid, //                 0: every check passed
        SignatureOutOfRange, //   1: r or s is zero, or r > n (r = n passes here, as officially, and fails at 12)
        HighS, //                 2: s > n / 2 (the client must normalise s to n - s)
        AuthDataTooShort, //      3: authenticatorData has no flags byte (fewer than 33 bytes); reverts
        MissingUserFlags, //      4: flags lack user presence (0x01) or user verification (0x04)
        ClientDataNotJson, //     5: clientDataJSON is not strict JSON or repeats a member read; reverts
        ChallengeMissing, //      6: clientDataJSON has no "challenge" string; reverts
        ChallengeLength, //       7: the challenge does not base64-decode to exactly 32 bytes
        ChallengeMismatch, //     8: the challenge is not the signed hash
        WrongType, //             9: "type" is not "webauthn.get" (reverts if it is not a string at all)
        UnknownKey, //           10: no key for (origin, credential id, account) (reverts if "origin" is not a string)
        CrossOrigin, //          11: "crossOrigin" is present and not the literal `false`
        BadSignature, //         12: the P-256 precompile did not answer "valid"
        Malformed //             13: the fat signature is not abi.encode(bytes, string, bytes32[2], bytes); reverts
    }

    /// @notice Emitted when an account registers a passkey. Same topic as the official validator.
    event PasskeyCreated(address indexed keyOwner, string originDomain, bytes credentialId);

    /// @notice Emitted when an account removes a passkey. Same topic as the official validator.
    event PasskeyRemoved(address indexed keyOwner, string originDomain, bytes credentialId);

    /// @notice The caller is not the account the passkey is registered to.
    error WEBAUTHN_NOT_KEY_OWNER(address account);
    /// @notice The caller already holds a key for this (origin, credential id).
    error WEBAUTHN_KEY_EXISTS();
    /// @notice Another account already holds this (origin, credential id).
    error WEBAUTHN_ACCOUNT_EXISTS();
    /// @notice The public key is (0, 0).
    error WEBAUTHN_EMPTY_KEY();
    /// @notice The public key is not a point of the P-256 curve (not checked by the official validator).
    error WEBAUTHN_KEY_NOT_ON_CURVE();
    /// @notice The origin is empty or longer than 253 bytes.
    error WEBAUTHN_BAD_DOMAIN_LENGTH();
    /// @notice The credential id is shorter than 16 bytes.
    error WEBAUTHN_BAD_CREDENTIAL_ID_LENGTH();
    /// @notice A signature cannot be decoded far enough to be checked; `rule` says where it broke.
    error WEBAUTHN_UNDECODABLE(Rule rule);

    /// @notice Registers a passkey for the calling account.
    /// @param credentialId The raw credential id (at least 16 bytes).
    /// @param rawPublicKey The public key as [x, y], 32-byte big-endian coordinates.
    /// @param originDomain The web origin exactly as the browser writes it in clientDataJSON.origin.
    function addValidationKey(bytes memory credentialId, bytes32[2] memory rawPublicKey, string memory originDomain)
        external;

    /// @notice Removes a passkey of the calling account.
    /// @param credentialId The raw credential id.
    /// @param domain The origin the key was registered under.
    function removeValidationKey(bytes memory credentialId, string memory domain) external;

    /// @notice Reads the key an account holds for (origin, credential id); [0, 0] if none.
    function getAccountKey(string calldata originDomain, bytes calldata credentialId, address accountAddress)
        external
        view
        returns (bytes32[2] memory);

    /// @notice The account that owns (origin, credential id), or the zero address.
    function registeredAddress(string calldata originDomain, bytes calldata credentialId)
        external
        view
        returns (address);

    /// @notice Diagnostic: runs the same checks as `validateSignature` for `account` and names the first that fails.
    /// @dev Never reverts on bad signature data: undecodable input is reported as `Rule.Malformed`.
    function checkSignature(bytes32 signedHash, bytes calldata fatSignature, address account)
        external
        view
        returns (Rule);
}
