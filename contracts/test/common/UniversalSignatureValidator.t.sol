// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {UniversalSignatureValidator} from "../../src/common/UniversalSignatureValidator.sol";

interface VmUsv {
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function addr(uint256 privateKey) external pure returns (address);
}

/// @dev An ERC-1271 wallet owned by one EOA key; `ready` models a wallet that needs a "prepare" call (ERC-6492's
/// second case) before it can verify.
contract ToyWallet {
    address private immutable OWNER;
    bool public ready;

    constructor(address owner, bool ready_) {
        OWNER = owner;
        ready = ready_;
    }

    function prepare() external {
        ready = true;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        require(ready, "not ready");
        (bytes32 r, bytes32 s) = abi.decode(signature[:64], (bytes32, bytes32));
        return ecrecover(hash, uint8(signature[64]), r, s) == OWNER ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}

contract ToyFactory {
    function deploy(bytes32 salt, address owner) external returns (address) {
        return address(new ToyWallet{salt: salt}(owner, true));
    }

    function predict(bytes32 salt, address owner) external view returns (address) {
        bytes32 code = keccak256(abi.encodePacked(type(ToyWallet).creationCode, abi.encode(owner, true)));
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, code)))));
    }
}

/// @dev The deployless validator run as forge runs any constructor (`new`): the verdict is the created
/// contract's code, `abi.encode(bool)`, exactly what an `eth_call` without `to` returns.
contract UniversalSignatureValidatorTest {
    VmUsv private constant VM = VmUsv(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    bytes32 private constant MAGIC = 0x6492649264926492649264926492649264926492649264926492649264926492;
    uint256 private constant KEY = 0xB0B;
    bytes32 private constant HASH = keccak256("a message hash");
    uint256 private constant N_K1 = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    ToyFactory private factory = new ToyFactory();

    function check(bool condition, string memory what) private pure {
        require(condition, what);
    }

    function verdict(address signer, bytes32 hash, bytes memory signature) private returns (bool) {
        bytes memory answer = address(new UniversalSignatureValidator(signer, hash, signature)).code;
        check(answer.length == 32, "answer is not one word");
        return abi.decode(answer, (bool));
    }

    function sig(uint256 key, bytes32 hash) private pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(key, hash);
        return abi.encodePacked(r, s, v);
    }

    function wrap(address target, bytes memory data, bytes memory inner) private pure returns (bytes memory) {
        return abi.encodePacked(abi.encode(target, data, inner), MAGIC);
    }

    function testEoaByEcrecover() public {
        address owner = VM.addr(KEY);
        check(verdict(owner, HASH, sig(KEY, HASH)), "EOA signature refused");
        check(!verdict(owner, keccak256("other"), sig(KEY, HASH)), "other hash accepted");
        check(!verdict(VM.addr(KEY + 1), HASH, sig(KEY, HASH)), "other signer accepted");
        check(!verdict(owner, HASH, hex"1234"), "short signature accepted");
        check(!verdict(address(0), HASH, new bytes(65)), "zero address accepted");
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(KEY, HASH);
        bytes memory twin = abi.encodePacked(r, bytes32(N_K1 - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        check(!verdict(owner, HASH, twin), "high-s twin accepted");
    }

    function testDeployedWalletByErc1271() public {
        ToyWallet wallet = new ToyWallet(VM.addr(KEY), true);
        check(verdict(address(wallet), HASH, sig(KEY, HASH)), "1271 signature refused");
        check(!verdict(address(wallet), HASH, sig(KEY + 1, HASH)), "stranger accepted");
        ToyWallet sleeping = new ToyWallet(VM.addr(KEY), false);
        check(!verdict(address(sleeping), HASH, sig(KEY, HASH)), "a reverting wallet counted as yes");
    }

    function counterfactual(string memory name) private view returns (address predicted, bytes memory create) {
        bytes32 salt = keccak256(bytes(name));
        predicted = factory.predict(salt, VM.addr(KEY));
        check(predicted.code.length == 0, "already deployed");
        create = abi.encodeCall(ToyFactory.deploy, (salt, VM.addr(KEY)));
    }

    // forge keeps the state a constructor leaves (an eth_call would not): each case takes a fresh address.
    function testCounterfactualWalletByErc6492() public {
        (address a, bytes memory createA) = counterfactual("a");
        check(!verdict(a, HASH, wrap(address(factory), hex"deadbeef", sig(KEY, HASH))), "no deployment, yet yes");
        check(!verdict(a, HASH, sig(KEY, HASH)), "unwrapped signature of a codeless contract");
        check(verdict(a, HASH, wrap(address(factory), createA, sig(KEY, HASH))), "6492 refused");
        // The wallet exists now: the same wrapper stays valid (the inner signature asked of the deployed wallet).
        check(a.code.length != 0, "not deployed by the verification");
        check(verdict(a, HASH, wrap(address(factory), createA, sig(KEY, HASH))), "6492 after deployment");
        check(!verdict(a, HASH, wrap(address(factory), createA, sig(KEY + 1, HASH))), "stranger after");
        (address b, bytes memory createB) = counterfactual("b");
        check(!verdict(b, HASH, wrap(address(factory), createB, sig(KEY + 1, HASH))), "stranger accepted");
        (address c, bytes memory createC) = counterfactual("c");
        check(!verdict(c, keccak256("other"), wrap(address(factory), createC, sig(KEY, HASH))), "other hash");
    }

    function testDeployedButUnpreparedWalletByErc6492() public {
        ToyWallet wallet = new ToyWallet(VM.addr(KEY), false);
        bytes memory prepare = abi.encodeCall(ToyWallet.prepare, ());
        check(!verdict(address(wallet), HASH, sig(KEY, HASH)), "unprepared wallet answered");
        check(verdict(address(wallet), HASH, wrap(address(wallet), prepare, sig(KEY, HASH))), "prepare refused");
    }

    function testMalformedWrapperReverts() public {
        bytes memory broken = abi.encodePacked(hex"0102", MAGIC);
        try new UniversalSignatureValidator(VM.addr(KEY), HASH, broken) {
            revert("a wrapper that does not decode was answered");
        } catch {}
    }
}
