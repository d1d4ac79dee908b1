// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IERC7579Module, IERC7579Validator, MODULE_TYPE_VALIDATOR} from
    "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

/// @title EOAKeyValidator
/// @notice ERC-7579 validator accepting a secp256k1 signature by one of the account's owners.
/// @dev The signature (after the account strips the 20-byte validator prefix) is `r ‖ s ‖ v` (65 bytes) over
/// the raw hash, without an EIP-191 prefix. Malleable (high-s) or malformed signatures fail without reverting.
contract EOAKeyValidator is IERC7579Validator, IERC165 {
    error NotInitialized(address account);
    error OwnerAlreadyExists(address owner);
    error OwnerNotFound(address owner);
    error ZeroOwner();

    event OwnerAdded(address indexed account, address indexed owner);
    event OwnerRemoved(address indexed account, address indexed owner);

    /// @dev Head and tail of each account's owner list; also the "installed" mark (a non-zero entry).
    address private constant SENTINEL = address(1);

    // Each account's owners as a circular singly linked list through SENTINEL, newest first:
    // `_next[account][SENTINEL]` is the first owner (SENTINEL itself when installed without owners, zero when
    // not installed), `_next[account][owner]` the owner after `owner`. One storage write per owner plus the
    // head, where an enumerable set with an "installed" flag costs four for the first owner.
    mapping(address account => mapping(address owner => address next)) private _next;

    /// @notice Marks the module installed for the caller and adds `abi.decode(data, (address[]))` as owners.
    function onInstall(bytes calldata data) external {
        mapping(address => address) storage next = _next[msg.sender];
        address head = next[SENTINEL];
        if (head == address(0)) head = SENTINEL;
        if (data.length > 0) {
            address[] memory owners = abi.decode(data, (address[]));
            for (uint256 i = 0; i < owners.length; ++i) {
                address owner = owners[i];
                _checkNew(next, owner);
                next[owner] = head;
                head = owner;
                emit OwnerAdded(msg.sender, owner);
            }
        }
        next[SENTINEL] = head;
    }

    /// @notice Removes every owner of the caller and forgets it.
    function onUninstall(bytes calldata) external {
        mapping(address => address) storage next = _next[msg.sender];
        address owner = next[SENTINEL];
        if (owner == address(0)) return;
        while (owner != SENTINEL) {
            address following = next[owner];
            delete next[owner];
            emit OwnerRemoved(msg.sender, owner);
            owner = following;
        }
        delete next[SENTINEL];
    }

    function isModuleType(uint256 moduleTypeId) external pure returns (bool) {
        return moduleTypeId == MODULE_TYPE_VALIDATOR;
    }

    function isInitialized(address account) external view returns (bool) {
        return _next[account][SENTINEL] != address(0);
    }

    /// @notice Adds an owner for the calling account, which must have installed this module.
    function addOwner(address owner) external {
        mapping(address => address) storage next = _next[msg.sender];
        address head = next[SENTINEL];
        require(head != address(0), NotInitialized(msg.sender));
        _checkNew(next, owner);
        next[owner] = head;
        next[SENTINEL] = owner;
        emit OwnerAdded(msg.sender, owner);
    }

    /// @notice Removes an owner of the calling account.
    function removeOwner(address owner) external {
        mapping(address => address) storage next = _next[msg.sender];
        require(owner != SENTINEL && next[owner] != address(0), OwnerNotFound(owner));
        address previous = SENTINEL;
        while (next[previous] != owner) {
            previous = next[previous];
        }
        next[previous] = next[owner];
        delete next[owner];
        emit OwnerRemoved(msg.sender, owner);
    }

    function isOwnerOf(address account, address owner) external view returns (bool) {
        return _isOwner(account, owner);
    }

    /// @notice The owners of `account`, most recently added first.
    function getOwners(address account) external view returns (address[] memory owners) {
        mapping(address => address) storage next = _next[account];
        uint256 count = 0;
        address owner = next[SENTINEL];
        if (owner == address(0)) return owners;
        for (; owner != SENTINEL; owner = next[owner]) {
            ++count;
        }
        owners = new address[](count);
        owner = next[SENTINEL];
        for (uint256 i = 0; i < count; ++i) {
            owners[i] = owner;
            owner = next[owner];
        }
    }

    function validateUserOp(PackedUserOperation calldata userOp, bytes32 userOpHash) external view returns (uint256) {
        return _isOwnerSignature(msg.sender, userOpHash, userOp.signature) ? 0 : 1;
    }

    function isValidSignatureWithSender(address, bytes32 hash, bytes calldata signature)
        external
        view
        returns (bytes4)
    {
        return _isOwnerSignature(msg.sender, hash, signature) ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC165).interfaceId || interfaceId == type(IERC7579Validator).interfaceId
            || interfaceId == type(IERC7579Module).interfaceId;
    }

    function _isOwner(address account, address owner) private view returns (bool) {
        return owner != SENTINEL && _next[account][owner] != address(0);
    }

    function _isOwnerSignature(address account, bytes32 hash, bytes calldata signature) private view returns (bool) {
        (address signer, ECDSA.RecoverError recoverError,) = ECDSA.tryRecoverCalldata(hash, signature);
        return recoverError == ECDSA.RecoverError.NoError && _isOwner(account, signer);
    }

    /// @dev An owner can be added: not zero, not the sentinel (address(1) has no known key), not listed yet.
    function _checkNew(mapping(address => address) storage next, address owner) private view {
        require(owner != address(0) && owner != SENTINEL, ZeroOwner());
        require(next[owner] == address(0), OwnerAlreadyExists(owner));
    }
}
