// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IERC7579Module, IERC7579Validator, MODULE_TYPE_VALIDATOR} from
    "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {Base64} from "solady/utils/Base64.sol";
import {P256} from "solady/utils/P256.sol";

import {ClientDataJSON} from "../common/ClientDataJSON.sol";

/// @title WebAuthnValidator
/// @notice ERC-7579 validator that accepts a WebAuthn (passkey, P-256) assertion over the hash being validated.
/// @dev Keys are stored per (origin, credential ID, account). The signature ("fat signature") is
/// `abi.encode(bytes authenticatorData, string clientDataJSON, bytes32[2] rs, bytes credentialId)`.
/// Malformed assertions (flags without UP+UV, a type other than webauthn.get, crossOrigin not false) revert;
/// a wrong challenge, an unknown key or a bad/high-s signature make validation return failure.
contract WebAuthnValidator is IERC7579Validator, IERC165 {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice Identifies one passkey of an account: the origin it is bound to and its credential ID.
    struct PasskeyId {
        string domain;
        bytes credentialId;
    }

    error NotInitialized(address account);
    error KeyAlreadyExists();
    error KeyNotFound(string originDomain, bytes credentialId, address account);
    error EmptyKey();
    error BadDomainLength();
    error BadCredentialIDLength();
    error InvalidAuthDataFlags(bytes1 flags);
    error InvalidClientData(string field);

    event PasskeyCreated(address indexed keyOwner, string originDomain, bytes credentialId);
    event PasskeyRemoved(address indexed keyOwner, string originDomain, bytes credentialId);

    /// @dev UP (bit 0) and UV (bit 2) must both be set.
    bytes1 private constant REQUIRED_FLAGS = 0x05;

    mapping(string domain => mapping(bytes credentialId => mapping(address account => bytes32[2] key)))
        private _publicKeys;
    mapping(string domain => mapping(bytes credentialId => EnumerableSet.AddressSet accounts)) private _accounts;
    // The installed mark (bit 255) and the key count (low bits) share one slot: creating an account writes it
    // once instead of two cold slots.
    mapping(address account => uint256 state) private _state;
    uint256 private constant INSTALLED = 1 << 255;

    // ---------------------------------------------------------------- module lifecycle

    /// @notice Marks the module installed for the calling account; a non-empty `data` adds its first passkey
    /// `abi.encode(bytes credentialId, bytes32[2] [x, y], string originDomain)`.
    function onInstall(bytes calldata data) external {
        _state[msg.sender] |= INSTALLED;
        if (data.length > 0) {
            (bytes memory credentialId, bytes32[2] memory key, string memory domain) =
                abi.decode(data, (bytes, bytes32[2], string));
            _addKey(credentialId, key, domain);
        }
    }

    /// @notice Removes the listed passkeys (`abi.encode(PasskeyId[])`, empty for none) and forgets the account.
    function onUninstall(bytes calldata data) external {
        if (data.length > 0) {
            PasskeyId[] memory ids = abi.decode(data, (PasskeyId[]));
            for (uint256 i = 0; i < ids.length; ++i) {
                _removeKey(ids[i].credentialId, ids[i].domain);
            }
        }
        _state[msg.sender] &= ~INSTALLED;
    }

    function isModuleType(uint256 moduleTypeId) external pure returns (bool) {
        return moduleTypeId == MODULE_TYPE_VALIDATOR;
    }

    /// @notice Whether `account` has installed this validator.
    function isInitialized(address account) external view returns (bool) {
        return _state[account] & INSTALLED != 0;
    }

    // ---------------------------------------------------------------- key management

    /// @notice Adds a passkey for the calling account, which must have installed this module.
    function addValidationKey(bytes calldata credentialId, bytes32[2] calldata key, string calldata domain) external {
        require(_state[msg.sender] & INSTALLED != 0, NotInitialized(msg.sender));
        _addKey(credentialId, key, domain);
    }

    /// @notice Removes a passkey of the calling account.
    function removeValidationKey(bytes calldata credentialId, string calldata domain) external {
        _removeKey(credentialId, domain);
    }

    /// @notice The public key `[x, y]` of a passkey of `account` (zero when absent).
    function getAccountKey(string calldata domain, bytes calldata credentialId, address account)
        external
        view
        returns (bytes32[2] memory)
    {
        return _publicKeys[domain][credentialId][account];
    }

    /// @notice Every account that registered this (origin, credential ID).
    function getAccountList(string calldata domain, bytes calldata credentialId)
        external
        view
        returns (address[] memory)
    {
        return _accounts[domain][credentialId].values();
    }

    /// @notice How many passkeys `account` has registered.
    function keyCount(address account) external view returns (uint256) {
        return _state[account] & ~INSTALLED;
    }

    // ---------------------------------------------------------------- validation

    function validateUserOp(PackedUserOperation calldata userOp, bytes32 userOpHash) external view returns (uint256) {
        // The account has already stripped the 20-byte validator prefix.
        return webAuthVerify(userOpHash, userOp.signature) ? 0 : 1;
    }

    function isValidSignatureWithSender(address, bytes32 hash, bytes calldata signature)
        external
        view
        returns (bytes4)
    {
        return webAuthVerify(hash, signature) ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }

    /// @notice Checks a fat signature against `hash` and the calling account's passkey.
    /// @return valid True iff the challenge is `hash` and the low-s P-256 signature verifies.
    function webAuthVerify(bytes32 hash, bytes calldata fatSignature) public view returns (bool valid) {
        (bytes memory authData, string memory clientDataJSON, bytes32[2] memory rs, bytes memory credentialId) =
            abi.decode(fatSignature, (bytes, string, bytes32[2], bytes));

        require(authData[32] & REQUIRED_FLAGS == REQUIRED_FLAGS, InvalidAuthDataFlags(authData[32]));

        // Strict JSON, no repeated or escaped name among the four read (else ParsingFailed()); a missing or
        // non-string challenge, type or origin reverts ParsingFailed() as solady's decodeString of it did.
        bytes memory json = bytes(clientDataJSON);
        (uint256 challengeAt, uint256 typeAt, uint256 originAt, uint256 crossOriginAt) = ClientDataJSON.read(json);
        bytes memory challenge = Base64.decode(string(_stringMember(json, challengeAt)));
        // Not an early return: the P-256 check below still runs, so estimation with a stub costs what a real
        // signature costs.
        // forge-lint: disable-next-line(unsafe-typecast)
        bool challengeValid = challenge.length == 32 && bytes32(challenge) == hash;

        if (!ClientDataJSON.isString(typeAt)) revert ClientDataJSON.ParsingFailed();
        require(ClientDataJSON.isWebauthnGet(json, typeAt), InvalidClientData("type"));

        string memory origin = string(_stringMember(json, originAt));
        bytes32[2] memory key = _publicKeys[origin][credentialId][msg.sender];

        if (crossOriginAt != 0) require(ClientDataJSON.isFalse(json, crossOriginAt), InvalidClientData("crossOrigin"));

        bytes32 message = sha256(bytes.concat(authData, sha256(bytes(clientDataJSON))));
        // solady rejects s > n/2; an absent key is (0, 0), which never verifies.
        bool signatureValid = P256.verifySignature(message, rs[0], rs[1], key[0], key[1]);
        return signatureValid && challengeValid;
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC165).interfaceId || interfaceId == type(IERC7579Validator).interfaceId
            || interfaceId == type(IERC7579Module).interfaceId;
    }

    // ---------------------------------------------------------------- internals

    /// @dev The decoded value of a string member; a missing or non-string member reverts ParsingFailed().
    function _stringMember(bytes memory json, uint256 span) private pure returns (bytes memory) {
        if (!ClientDataJSON.isString(span)) revert ClientDataJSON.ParsingFailed();
        return ClientDataJSON.stringValue(json, span);
    }

    function _addKey(bytes memory credentialId, bytes32[2] memory key, string memory domain) private {
        bytes32[2] storage slot = _publicKeys[domain][credentialId][msg.sender];
        require(slot[0] == 0 && slot[1] == 0, KeyAlreadyExists());
        require(key[0] != 0 || key[1] != 0, EmptyKey());
        uint256 domainLength = bytes(domain).length;
        require(domainLength >= 1 && domainLength <= 255, BadDomainLength());
        // WebAuthn credential IDs are at least 16 bytes.
        require(credentialId.length >= 16, BadCredentialIDLength());
        slot[0] = key[0];
        slot[1] = key[1];
        _accounts[domain][credentialId].add(msg.sender);
        ++_state[msg.sender];
        emit PasskeyCreated(msg.sender, domain, credentialId);
    }

    function _removeKey(bytes memory credentialId, string memory domain) private {
        bytes32[2] storage slot = _publicKeys[domain][credentialId][msg.sender];
        require(slot[0] != 0 || slot[1] != 0, KeyNotFound(domain, credentialId, msg.sender));
        delete _publicKeys[domain][credentialId][msg.sender];
        _accounts[domain][credentialId].remove(msg.sender);
        --_state[msg.sender];
        emit PasskeyRemoved(msg.sender, domain, credentialId);
    }
}
