// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Account} from "@openzeppelin/contracts/account/Account.sol";
import {ERC7579Utils} from "@openzeppelin/contracts/account/utils/draft-ERC7579Utils.sol";
import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";

import {IMSA} from "../../src/erc4337/IMSA.sol";
import {MSABeacon} from "../../src/erc4337/MSABeacon.sol";
import {MSAFactory} from "../../src/erc4337/MSAFactory.sol";
import {ModularSmartAccount} from "../../src/erc4337/ModularSmartAccount.sol";
import {WebAuthnValidator} from "../../src/erc4337/WebAuthnValidator.sol";
import {Erc4337TestToken} from "../../src/erc4337/test/Erc4337TestToken.sol";
import {PasskeyTestBase} from "./PasskeyTestBase.sol";

/// @dev The account behind a beacon proxy from the factory: creation, validator dispatch by signature prefix,
/// execute modes, module configuration and ERC-1271 (ERC-7739 PersonalSign).
contract ModularSmartAccountTest is PasskeyTestBase {
    address private constant EP = 0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108;
    bytes32 private constant SALT = bytes32(uint256(0x5a17));
    bytes32 private constant USER_OP_HASH = keccak256("userOpHash");
    bytes32 private constant PERSONAL_SIGN_TYPEHASH = keccak256("PersonalSign(bytes prefixed)");

    event AccountCreated(address indexed account, address indexed deployer);

    WebAuthnValidator private validator;
    MSAFactory private factory;
    ModularSmartAccount private account;
    bytes private initData;

    function setUp() public {
        validator = new WebAuthnValidator();
        ModularSmartAccount implementation = new ModularSmartAccount();
        MSABeacon beacon = new MSABeacon(address(implementation), address(this));
        factory = new MSAFactory(address(beacon));
        address[] memory modules = new address[](1);
        modules[0] = address(validator);
        bytes[] memory data = new bytes[](1);
        data[0] = installData(PASSKEY);
        initData = abi.encodeCall(IMSA.initializeAccount, (modules, data));
        account = ModularSmartAccount(payable(factory.deployAccount(SALT, initData)));
        VM.deal(address(account), 10 ether);
    }

    function _op(bytes memory signature) private view returns (PackedUserOperation memory op) {
        op.sender = address(account);
        op.signature = signature;
    }

    function _validate(bytes memory signature, uint256 missingFunds) private returns (uint256) {
        VM.prank(EP);
        return account.validateUserOp(_op(signature), USER_OP_HASH, missingFunds);
    }

    function testFactoryAddressIsPredictableAndCallerBound() public view {
        check(factory.getAddress(address(this), SALT, initData) == address(account), "prediction differs");
        check(factory.getAddress(address(0xBEEF), SALT, initData) != address(account), "caller not in salt");
        check(factory.getAddress(address(this), SALT, hex"00") != address(account), "initData not in address");
        check(address(account.entryPoint()) == EP, "not EntryPoint v0.8");
    }

    function testInitializedWithValidator() public {
        check(account.isModuleInstalled(1, address(validator), ""), "validator not installed");
        check(validator.getAccountList(ORIGIN, CREDENTIAL_ID)[0] == address(account), "key not registered");
        address[] memory none = new address[](0);
        VM.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        account.initializeAccount(none, new bytes[](0));
    }

    function testPasskeyUserOpValidatesAndPaysPrefund() public {
        bytes memory sig = abi.encodePacked(address(validator), fatSignature(PASSKEY, USER_OP_HASH));
        uint256 before = EP.balance;
        check(_validate(sig, 1234) == 0, "valid userOp rejected");
        check(EP.balance == before + 1234, "prefund not paid");
    }

    function testUninstalledValidatorFailsWithoutRevert() public {
        bytes memory fat = fatSignature(PASSKEY, USER_OP_HASH);
        check(_validate(abi.encodePacked(address(0x1234), fat), 0) == 1, "unknown validator accepted");
        check(_validate(hex"0102", 0) == 1, "short signature accepted");
    }

    function testWrongChallengeFails() public {
        bytes memory sig = abi.encodePacked(address(validator), fatSignature(PASSKEY, keccak256("other")));
        check(_validate(sig, 0) == 1, "wrong challenge accepted");
    }

    function testOnlyEntryPointValidates() public {
        VM.expectRevert(abi.encodeWithSelector(Account.AccountUnauthorized.selector, address(this)));
        account.validateUserOp(_op(""), USER_OP_HASH, 0);
    }

    function testExecuteSingleAndBatch() public {
        VM.prank(EP);
        account.execute(bytes32(0), abi.encodePacked(address(0xA1), uint256(1 ether), ""));
        check(address(0xA1).balance == 1 ether, "single transfer");

        Execution[] memory calls = new Execution[](2);
        calls[0] = Execution({target: address(0xA2), value: 2, callData: ""});
        calls[1] = Execution({target: address(0xA3), value: 3, callData: ""});
        VM.prank(EP);
        account.execute(bytes32(uint256(1) << 248), abi.encode(calls));
        check(address(0xA2).balance == 2 && address(0xA3).balance == 3, "batch transfers");
    }

    function testExecuteErc20AndTryMode() public {
        Erc4337TestToken token = new Erc4337TestToken();
        token.mint(address(account), 100);
        VM.prank(EP);
        bytes memory transfer = abi.encodeCall(token.transfer, (address(0xB1), 40));
        account.execute(bytes32(0), abi.encodePacked(address(token), uint256(0), transfer));
        check(token.balanceOf(address(0xB1)) == 40, "erc20 transfer");
        // Try mode: a failing call does not revert the execute.
        bytes memory failing = abi.encodeCall(token.transfer, (address(0xB1), 1000));
        VM.prank(EP);
        account.execute(bytes32(uint256(0x0001) << 240), abi.encodePacked(address(token), uint256(0), failing));
        VM.prank(EP);
        VM.expectRevert();
        account.execute(bytes32(0), abi.encodePacked(address(token), uint256(0), failing));
    }

    function testExecuteAccessAndModes() public {
        VM.expectRevert(abi.encodeWithSelector(Account.AccountUnauthorized.selector, address(this)));
        account.execute(bytes32(0), abi.encodePacked(address(0xA1), uint256(0), ""));
        check(account.supportsExecutionMode(bytes32(uint256(1) << 248)), "batch mode unsupported");
        check(!account.supportsExecutionMode(bytes32(uint256(0xfe) << 248)), "static mode claimed");
        VM.prank(EP);
        VM.expectRevert(abi.encodeWithSelector(ERC7579Utils.ERC7579UnsupportedCallType.selector, bytes1(0xfe)));
        account.execute(bytes32(uint256(0xfe) << 248), "");
    }

    function testModuleListKeepsInstallationOrder() public {
        WebAuthnValidator second = new WebAuthnValidator();
        WebAuthnValidator third = new WebAuthnValidator();
        VM.prank(EP);
        account.installModule(1, address(second), "");
        VM.prank(EP);
        account.installModule(1, address(third), "");
        address[] memory list = account.getValidators();
        check(list.length == 3 && list[0] == address(validator), "first");
        check(list[1] == address(second) && list[2] == address(third), "installation order");
        VM.prank(EP);
        account.uninstallModule(1, address(second), ""); // from the middle
        list = account.getValidators();
        check(list.length == 2 && list[0] == address(validator) && list[1] == address(third), "after removal");
        check(!account.isModuleInstalled(1, address(second), ""), "removed validator installed");
        check(!account.isModuleInstalled(1, address(1), ""), "sentinel installed");
        VM.prank(EP);
        VM.expectRevert(
            abi.encodeWithSelector(ERC7579Utils.ERC7579UninstalledModule.selector, uint256(1), address(second))
        );
        account.uninstallModule(1, address(second), "");
        check(account.getExecutors().length == 0, "executors");
    }

    function testModuleConfiguration() public {
        WebAuthnValidator second = new WebAuthnValidator();
        VM.prank(EP);
        account.installModule(1, address(second), "");
        check(account.isModuleInstalled(1, address(second), ""), "second validator");
        check(account.getValidators().length == 2, "validator list");
        VM.prank(EP);
        VM.expectRevert(abi.encodeWithSelector(ModularSmartAccount.AlreadyInstalled.selector, address(second)));
        account.installModule(1, address(second), "");
        VM.prank(EP);
        VM.expectRevert(abi.encodeWithSelector(ModularSmartAccount.InvalidModule.selector, address(second)));
        account.installModule(2, address(second), "");
        VM.prank(EP);
        account.uninstallModule(1, address(second), "");
        VM.prank(EP);
        VM.expectRevert(abi.encodeWithSelector(ModularSmartAccount.NoValidatorLeft.selector));
        account.uninstallModule(1, address(validator), abi.encode(new WebAuthnValidator.PasskeyId[](0)));
    }

    function _accountDomainSeparator() private view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("zksync-sso-1271"),
                keccak256("1.0.0"),
                block.chainid,
                address(account)
            )
        );
    }

    function _personalSignDigest(bytes32 hash) private view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(PERSONAL_SIGN_TYPEHASH, hash));
        return keccak256(abi.encodePacked(hex"1901", _accountDomainSeparator(), structHash));
    }

    function testErc1271PersonalSign() public {
        VM.txGasPrice(1); // on-chain path: invalid signatures return 0xffffffff instead of the eth_call quirk
        bytes32 hash = keccak256("\x19Ethereum Signed Message:\n5hello");
        bytes memory good = abi.encodePacked(address(validator), fatSignature(PASSKEY, _personalSignDigest(hash)));
        check(account.isValidSignature(hash, good) == 0x1626ba7e, "personal sign rejected");

        bytes memory unwrapped = abi.encodePacked(address(validator), fatSignature(PASSKEY, hash));
        check(account.isValidSignature(hash, unwrapped) == 0xffffffff, "unwrapped hash accepted");

        AssertionKnobs memory k = defaultKnobs();
        k.highS = true;
        bytes memory high = abi.encodePacked(address(validator), fatSignature(PASSKEY, _personalSignDigest(hash), k));
        check(account.isValidSignature(hash, high) == 0xffffffff, "high-s accepted");

        bytes memory foreign = abi.encodePacked(address(0x1234), fatSignature(PASSKEY, _personalSignDigest(hash)));
        VM.expectRevert(abi.encodeWithSelector(ModularSmartAccount.InvalidModule.selector, address(0x1234)));
        account.isValidSignature(hash, foreign);
    }

    function testErc7739Detection() public view {
        bytes32 probe = 0x7739773977397739773977397739773977397739773977397739773977397739;
        check(account.isValidSignature(probe, "") == 0x77390001, "ERC-7739 detection");
    }
}
