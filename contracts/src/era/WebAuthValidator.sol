// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {Transaction} from "@matterlabs/zksync-contracts/contracts/system-contracts/libraries/TransactionHelper.sol";
import {Base64} from "solady/utils/Base64.sol";

import {ClientDataJSON} from "../common/ClientDataJSON.sol";
import {IEraModule} from "./IEraModule.sol";
import {IEraModuleValidator} from "./IEraModuleValidator.sol";
import {IEraWebAuthValidator} from "./IEraWebAuthValidator.sol";

/// @title WebAuthValidator
/// @notice Passkey validator for ZKsync SSO accounts (Era native account abstraction).
/// @dev Byte-compatible with the official WebAuthValidator: same storage layout, selectors, events, errors,
///      fat-signature format and check order, so a signature this contract accepts is one the official
///      contract accepts. Two gaps are closed: a public key must be on the P-256 curve to be registered, and
///      the precompile's answer counts as "valid" only when it is exactly the 32-byte word 1.
///
///      Fat signature: abi.encode(bytes authenticatorData, string clientDataJSON, bytes32[2] [r, s],
///      bytes credentialId). Transaction signature: abi.encode(bytes fatSignature, address validator, bytes),
///      where the official SDK writes `bytes[] [""]` as the third item (the decoder accepts both).
contract WebAuthValidator is IEraWebAuthValidator {
    /// @dev RIP-7212 / EIP-7951 P-256 verifier; the same address on ZKsync Era and on an osaka EVM.
    address private constant P256_VERIFIER = address(0x100);
    /// @dev authenticatorData flags: user present (bit 0) and user verified (bit 2) are both required.
    bytes1 private constant REQUIRED_FLAGS = 0x05;
    /// @dev authenticatorData = rpIdHash (32 bytes) || flags (1 byte) || ...; the flags sit at index 32.
    uint256 private constant FLAGS_OFFSET = 32;
    uint256 private constant MIN_CREDENTIAL_ID_LENGTH = 16;
    uint256 private constant MAX_DOMAIN_LENGTH = 253;
    uint256 private constant HALF_N = P256.N / 2;

    // Storage layout of the official validator (slot 0, slot 1). The account is the innermost key because an
    // account may only read storage keyed by its own address while ZKsync validates its transaction.
    mapping(string originDomain => mapping(bytes credentialId => mapping(address account => bytes32[2] publicKey)))
        private publicKeys;

    /// @inheritdoc IEraWebAuthValidator
    mapping(string originDomain => mapping(bytes credentialId => address account)) public registeredAddress;

    // ------------------------------------------------------------------------------------------------------
    // Module life cycle and key management (msg.sender is the account)
    // ------------------------------------------------------------------------------------------------------

    /// @inheritdoc IEraModule
    /// @dev `data` is empty or abi.encode(bytes credentialId, bytes32[2] [x, y], string originDomain).
    function onInstall(bytes calldata data) external override {
        if (data.length > 0) {
            (bytes memory credentialId, bytes32[2] memory publicKey, string memory originDomain) =
                abi.decode(data, (bytes, bytes32[2], string));
            addValidationKey(credentialId, publicKey, originDomain);
        }
    }

    /// @inheritdoc IEraModule
    /// @dev `data` is abi.encode(PasskeyId[]); every listed key must belong to the caller.
    function onUninstall(bytes calldata data) external override {
        PasskeyId[] memory passkeys = abi.decode(data, (PasskeyId[]));
        for (uint256 i = 0; i < passkeys.length; ++i) {
            removeValidationKey(passkeys[i].credentialId, passkeys[i].domain);
        }
    }

    /// @inheritdoc IEraWebAuthValidator
    function addValidationKey(bytes memory credentialId, bytes32[2] memory rawPublicKey, string memory originDomain)
        public
    {
        bytes32[2] storage slot = publicKeys[originDomain][credentialId][msg.sender];
        // Keys are never overwritten: replacing one means remove, then add.
        if (slot[0] != 0 || slot[1] != 0) revert WEBAUTHN_KEY_EXISTS();
        // One account per (origin, credential id): this is how an SDK finds the account of a passkey.
        if (registeredAddress[originDomain][credentialId] != address(0)) revert WEBAUTHN_ACCOUNT_EXISTS();
        if (rawPublicKey[0] == 0 && rawPublicKey[1] == 0) revert WEBAUTHN_EMPTY_KEY();
        // An off-curve key can never verify, so accepting it would brick that passkey until removed.
        if (!P256.isValidPublicKey(rawPublicKey[0], rawPublicKey[1])) revert WEBAUTHN_KEY_NOT_ON_CURVE();
        uint256 domainLength = bytes(originDomain).length;
        if (domainLength == 0 || domainLength > MAX_DOMAIN_LENGTH) revert WEBAUTHN_BAD_DOMAIN_LENGTH();
        if (credentialId.length < MIN_CREDENTIAL_ID_LENGTH) revert WEBAUTHN_BAD_CREDENTIAL_ID_LENGTH();

        slot[0] = rawPublicKey[0];
        slot[1] = rawPublicKey[1];
        registeredAddress[originDomain][credentialId] = msg.sender;
        emit PasskeyCreated(msg.sender, originDomain, credentialId);
    }

    /// @inheritdoc IEraWebAuthValidator
    function removeValidationKey(bytes memory credentialId, string memory domain) public {
        address owner = registeredAddress[domain][credentialId];
        if (owner != msg.sender) revert WEBAUTHN_NOT_KEY_OWNER(owner);
        delete registeredAddress[domain][credentialId];
        delete publicKeys[domain][credentialId][msg.sender];
        emit PasskeyRemoved(msg.sender, domain, credentialId);
    }

    /// @inheritdoc IEraWebAuthValidator
    function getAccountKey(string calldata originDomain, bytes calldata credentialId, address accountAddress)
        external
        view
        returns (bytes32[2] memory)
    {
        return publicKeys[originDomain][credentialId][accountAddress];
    }

    // ------------------------------------------------------------------------------------------------------
    // Verification
    // ------------------------------------------------------------------------------------------------------

    /// @inheritdoc IEraModuleValidator
    /// @dev Reverts (like the official validator) when the signature cannot be decoded.
    function validateTransaction(bytes32 signedHash, Transaction calldata transaction)
        external
        view
        returns (bool)
    {
        (bytes memory fatSignature,,) = abi.decode(transaction.signature, (bytes, address, bytes));
        return _check(signedHash, fatSignature, msg.sender) == Rule.Valid;
    }

    /// @inheritdoc IEraModuleValidator
    /// @dev Reverts (like the official validator) when the signature cannot be decoded.
    function validateSignature(bytes32 signedHash, bytes calldata signature) external view returns (bool) {
        return _check(signedHash, signature, msg.sender) == Rule.Valid;
    }

    /// @inheritdoc IEraWebAuthValidator
    function checkSignature(bytes32 signedHash, bytes calldata fatSignature, address account)
        external
        view
        returns (Rule)
    {
        // A self-call turns the reverts of undecodable input into the rule that names them.
        try this.checkSignatureOrRevert(signedHash, fatSignature, account) returns (Rule rule) {
            return rule;
        } catch (bytes memory reason) {
            if (reason.length == 36 && bytes4(reason) == WEBAUTHN_UNDECODABLE.selector) {
                return abi.decode(_slice4(reason), (Rule));
            }
            // The clientDataJSON reader reverts ParsingFailed() (solady's selector); anything else is ABI decoding.
            if (reason.length == 4 && bytes4(reason) == ClientDataJSON.ParsingFailed.selector) {
                return Rule.ClientDataNotJson;
            }
            return Rule.Malformed;
        }
    }

    /// @notice Like `checkSignature`, but reverts where `validateSignature` reverts (undecodable input).
    /// @param signedHash The hash that must be the WebAuthn challenge.
    /// @param fatSignature abi.encode(bytes authenticatorData, string clientDataJSON, bytes32[2] rs, bytes credentialId).
    /// @param account The account whose key is looked up (msg.sender in the validating entry points).
    /// @return The first rule that fails, or `Rule.Valid`.
    function checkSignatureOrRevert(bytes32 signedHash, bytes calldata fatSignature, address account)
        external
        view
        returns (Rule)
    {
        return _check(signedHash, fatSignature, account);
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC165).interfaceId || interfaceId == type(IEraModuleValidator).interfaceId
            || interfaceId == type(IEraModule).interfaceId;
    }

    /// @dev The checks of the official validator, in its order; returns the first that fails. Where the official
    ///      validator reverts (input it cannot decode), this reverts too.
    function _check(bytes32 signedHash, bytes memory fatSignature, address account) private view returns (Rule) {
        (bytes memory authenticatorData, string memory clientDataJSON, bytes32[2] memory rs, bytes memory credentialId)
        = abi.decode(fatSignature, (bytes, string, bytes32[2], bytes));

        // 1. r, s non-zero and s low. The bounds are the official ones (r <= n); the precompile rejects r = n.
        //    It accepts high s, so signature malleability is stopped here.
        uint256 r = uint256(rs[0]);
        uint256 s = uint256(rs[1]);
        if (r == 0 || r > P256.N || s == 0 || s >= P256.N) return Rule.SignatureOutOfRange;
        if (s > HALF_N) return Rule.HighS;

        // 2. User present and user verified. rpIdHash and the sign counter are deliberately not checked.
        if (authenticatorData.length <= FLAGS_OFFSET) revert WEBAUTHN_UNDECODABLE(Rule.AuthDataTooShort);
        if (authenticatorData[FLAGS_OFFSET] & REQUIRED_FLAGS != REQUIRED_FLAGS) return Rule.MissingUserFlags;

        // 3-5. Challenge and type (reverting unless clientDataJSON is strict JSON), then the signed origin.
        (Rule rule, string memory origin, bool crossOriginOk) = _readClientData(bytes(clientDataJSON), signedHash);
        if (rule != Rule.Valid) return rule;

        // 6. The signed origin selects the key; this is the (implicit) origin check.
        bytes32[2] memory publicKey = publicKeys[origin][credentialId][account];
        if (publicKey[0] == 0 && publicKey[1] == 0) return Rule.UnknownKey;

        // 7. Cross-origin (iframe) ceremonies are refused; an absent key is fine (Safari omits it).
        if (!crossOriginOk) return Rule.CrossOrigin;

        // 8-9. ECDSA over sha256(authenticatorData || sha256(clientDataJSON)).
        bytes32 message = sha256(bytes.concat(authenticatorData, sha256(bytes(clientDataJSON))));
        return _p256Verify(message, rs[0], rs[1], publicKey[0], publicKey[1]) ? Rule.Valid : Rule.BadSignature;
    }

    /// @dev Rules 3-5 on clientDataJSON, plus what rules 6-7 need: the origin and whether crossOrigin is absent
    ///      or `false`. Reverts ParsingFailed() unless `json` is strict JSON without a repeated or escaped name
    ///      of a member it reads (see ClientDataJSON), and WEBAUTHN_UNDECODABLE for a missing or non-string
    ///      challenge, type or origin.
    function _readClientData(bytes memory json, bytes32 signedHash)
        private
        pure
        returns (Rule rule, string memory origin, bool crossOriginOk)
    {
        (uint256 challengeAt, uint256 typeAt, uint256 originAt, uint256 crossOriginAt) = ClientDataJSON.read(json);
        // 3-4. The challenge is the base64url (or base64) encoding of exactly the signed hash.
        if (!ClientDataJSON.isString(challengeAt)) revert WEBAUTHN_UNDECODABLE(Rule.ChallengeMissing);
        bytes memory challenge = Base64.decode(string(ClientDataJSON.stringValue(json, challengeAt)));
        if (challenge.length != 32) return (Rule.ChallengeLength, origin, false);
        // forge-lint: disable-next-line(unsafe-typecast)
        if (bytes32(challenge) != signedHash) return (Rule.ChallengeMismatch, origin, false); // length is 32 here

        // 5. An assertion ("get"), never a registration ("create").
        if (!ClientDataJSON.isString(typeAt)) revert WEBAUTHN_UNDECODABLE(Rule.WrongType);
        if (!ClientDataJSON.isWebauthnGet(json, typeAt)) return (Rule.WrongType, origin, false);

        if (!ClientDataJSON.isString(originAt)) revert WEBAUTHN_UNDECODABLE(Rule.UnknownKey);
        origin = string(ClientDataJSON.stringValue(json, originAt));
        crossOriginOk = crossOriginAt == 0 || ClientDataJSON.isFalse(json, crossOriginAt);
        return (Rule.Valid, origin, crossOriginOk);
    }

    /// @dev `data` without its first 4 bytes (a revert reason without its selector).
    function _slice4(bytes memory data) private pure returns (bytes memory rest) {
        rest = new bytes(data.length - 4);
        for (uint256 i = 0; i < rest.length; ++i) {
            rest[i] = data[i + 4];
        }
    }

    /// @dev Asks the precompile. Valid only if it answers exactly one word equal to 1: an empty answer (the
    ///      RIP-7212 "invalid", or no precompile at all) or any other shape is invalid.
    function _p256Verify(bytes32 message, bytes32 r, bytes32 s, bytes32 x, bytes32 y)
        private
        view
        returns (bool valid)
    {
        (bool success, bytes memory answer) = P256_VERIFIER.staticcall(abi.encodePacked(message, r, s, x, y));
        return success && answer.length == 32 && abi.decode(answer, (uint256)) == 1;
    }
}
