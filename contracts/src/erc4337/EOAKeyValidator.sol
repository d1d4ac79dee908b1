// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IERC7579Module, IERC7579Validator, MODULE_TYPE_VALIDATOR} from
    "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

/// @title EOAKeyValidator
/// @notice ERC-7579 validator accepting a secp256k1 signature by one of the account's owners.
/// @dev The signature (after the account strips the 20-byte validator prefix) is `r ‖ s ‖ v` (65 bytes) over
/// the raw hash, without an EIP-191 prefix. Malleable (high-s) or malformed signatures fail without reverting.
contract EOAKeyValidator is IERC7579Validator, IERC165 {
    using EnumerableSet for EnumerableSet.AddressSet;

    error NotInitialized(address account);
    error OwnerAlreadyExists(address owner);
    error OwnerNotFound(address owner);
    error ZeroOwner();

    event OwnerAdded(address indexed account, address indexed owner);
    event OwnerRemoved(address indexed account, address indexed owner);

    mapping(address account => EnumerableSet.AddressSet owners) private _owners;
    mapping(address account => bool installed) private _installed;

    /// @notice Marks the module installed for the caller and adds `abi.decode(data, (address[]))` as owners.
    function onInstall(bytes calldata data) external {
        _installed[msg.sender] = true;
        if (data.length > 0) {
            address[] memory owners = abi.decode(data, (address[]));
            for (uint256 i = 0; i < owners.length; ++i) {
                _addOwner(owners[i]);
            }
        }
    }

    /// @notice Removes every owner of the caller and forgets it.
    function onUninstall(bytes calldata) external {
        EnumerableSet.AddressSet storage owners = _owners[msg.sender];
        while (owners.length() > 0) {
            address owner = owners.at(owners.length() - 1);
            owners.remove(owner);
            emit OwnerRemoved(msg.sender, owner);
        }
        _installed[msg.sender] = false;
    }

    function isModuleType(uint256 moduleTypeId) external pure returns (bool) {
        return moduleTypeId == MODULE_TYPE_VALIDATOR;
    }

    function isInitialized(address account) external view returns (bool) {
        return _installed[account];
    }

    /// @notice Adds an owner for the calling account, which must have installed this module.
    function addOwner(address owner) external {
        require(_installed[msg.sender], NotInitialized(msg.sender));
        _addOwner(owner);
    }

    /// @notice Removes an owner of the calling account.
    function removeOwner(address owner) external {
        require(_owners[msg.sender].remove(owner), OwnerNotFound(owner));
        emit OwnerRemoved(msg.sender, owner);
    }

    function isOwnerOf(address account, address owner) external view returns (bool) {
        return _owners[account].contains(owner);
    }

    function getOwners(address account) external view returns (address[] memory) {
        return _owners[account].values();
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

    function _isOwnerSignature(address account, bytes32 hash, bytes calldata signature) private view returns (bool) {
        (address signer, ECDSA.RecoverError recoverError,) = ECDSA.tryRecoverCalldata(hash, signature);
        return recoverError == ECDSA.RecoverError.NoError && _owners[account].contains(signer);
    }

    function _addOwner(address owner) private {
        require(owner != address(0), ZeroOwner());
        require(_owners[msg.sender].add(owner), OwnerAlreadyExists(owner));
        emit OwnerAdded(msg.sender, owner);
    }
}
