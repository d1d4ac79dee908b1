// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title UniversalSignatureValidator
/// @notice Answers "did `signer` sign `hash` with `signature`?" for an EOA, a deployed ERC-1271 contract or a
/// counterfactual one (ERC-6492), without being deployed: an `eth_call` with no `to` and this contract's creation
/// code followed by `abi.encode(signer, hash, signature)` as `data` returns `abi.encode(bool)`.
/// @dev Order of checks, as ERC-6492 prescribes:
/// 1. a signature ending in the 32-byte magic `0x6492…6492` is `abi.encode(factory, factoryCalldata, inner)`
///    followed by the magic: when `signer` has no code, `factory` is called with `factoryCalldata` (the account's
///    deployment, undone at the end of the call), then `isValidSignature(hash, inner)` decides. When `signer`
///    already has code, `inner` is asked first; if refused, the calldata is run (a "prepare" step) and `inner`
///    asked again;
/// 2. otherwise, if `signer` has code: `isValidSignature(hash, signature)`;
/// 3. otherwise `ecrecover` of a 65-byte `r ‖ s ‖ v` (v 27 or 28, low s).
/// A contract that reverts, runs out of gas or answers anything but the ERC-1271 magic counts as "no". A wrapper
/// that does not ABI-decode makes the call revert.
contract UniversalSignatureValidator {
    bytes32 private constant ERC6492_MAGIC = 0x6492649264926492649264926492649264926492649264926492649264926492;
    bytes4 private constant ERC1271_MAGIC = 0x1626ba7e;
    /// @dev secp256k1 n / 2: a larger s is the malleable twin of a valid signature.
    uint256 private constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    constructor(address signer, bytes32 hash, bytes memory signature) {
        bool valid = _isValid(signer, hash, signature);
        assembly ("memory-safe") {
            mstore(0x00, valid)
            return(0x00, 0x20)
        }
    }

    function _isValid(address signer, bytes32 hash, bytes memory signature) private returns (bool) {
        uint256 length = signature.length;
        bytes32 last;
        if (length >= 32) {
            assembly ("memory-safe") {
                last := mload(add(signature, length))
            }
        }
        if (last == ERC6492_MAGIC) {
            assembly ("memory-safe") {
                mstore(signature, sub(length, 32)) // drop the magic in place: abi.decode reads the rest
            }
            (address factory, bytes memory factoryCalldata, bytes memory inner) =
                abi.decode(signature, (address, bytes, bytes));
            bool hadCode = signer.code.length != 0;
            if (!hadCode) {
                // The outcome of the call does not matter, only whether the account exists afterwards.
                (bool called,) = factory.call(factoryCalldata);
                called;
                if (signer.code.length == 0) return false;
            }
            if (_erc1271(signer, hash, inner)) return true;
            if (!hadCode) return false;
            (bool prepared,) = factory.call(factoryCalldata);
            return prepared && _erc1271(signer, hash, inner);
        }
        if (signer.code.length != 0) return _erc1271(signer, hash, signature);
        return _ecrecover(signer, hash, signature);
    }

    function _erc1271(address signer, bytes32 hash, bytes memory signature) private view returns (bool) {
        // The ERC-1271 magic is also the selector of isValidSignature(bytes32,bytes).
        (bool ok, bytes memory answer) =
            signer.staticcall(abi.encodeWithSelector(ERC1271_MAGIC, hash, signature));
        return ok && answer.length >= 32 && bytes4(abi.decode(answer, (bytes32))) == ERC1271_MAGIC;
    }

    function _ecrecover(address signer, bytes32 hash, bytes memory signature) private pure returns (bool) {
        if (signer == address(0) || signature.length != 65) return false;
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
            v := byte(0, mload(add(signature, 0x60)))
        }
        if (uint256(s) > HALF_N || (v != 27 && v != 28)) return false;
        return ecrecover(hash, v, r, s) == signer;
    }
}
