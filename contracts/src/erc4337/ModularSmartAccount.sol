// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Account} from "@openzeppelin/contracts/account/Account.sol";
import {CallType, ERC7579Utils, ExecType, Mode} from "@openzeppelin/contracts/account/utils/draft-ERC7579Utils.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {
    IERC7579Module,
    IERC7579Validator,
    MODULE_TYPE_EXECUTOR,
    MODULE_TYPE_VALIDATOR
} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {ERC1271} from "solady/accounts/ERC1271.sol";

import {IMSA} from "./IMSA.sol";

/// @title ModularSmartAccount
/// @notice ERC-4337 (EntryPoint v0.8) / ERC-7579 smart account used behind a beacon proxy.
/// @dev Format-compatible with the ZKsync SSO modular account: the validator is chosen by the first 20 bytes of
/// `userOp.signature` (not by the nonce key) and receives the rest; `execute(bytes32,bytes)` runs single, batch
/// and delegatecall modes; ERC-1271 goes through solady's ERC-7739 nested EIP-712 under the domain
/// `zksync-sso-1271` / `1.0.0`, the inner signature again being `validator ‖ validator-specific payload`.
contract ModularSmartAccount is IMSA, Account, ERC1271, Initializable {

    /// @notice The canonical EntryPoint v0.8 (CREATE2 through the deterministic deployer).
    address public constant ENTRY_POINT_V08 = 0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108;

    /// @dev `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`.
    bytes4 private constant ERC1271_MAGIC = 0x1626ba7e;

    error InvalidModule(address module);
    error AlreadyInstalled(address module);
    error LengthMismatch();
    error NoValidatorLeft();

    /// @dev Each module kind is a circular singly linked list through SENTINEL, newest first: `list[SENTINEL]`
    ///      is the newest module (SENTINEL when empty), `list[module]` the one installed before it. Installing
    ///      a module writes one new slot (plus the head, already written when the account was created), where
    ///      an enumerable set writes two or three.
    /// @custom:storage-location erc7201:sso-signer.erc4337.ModularSmartAccount
    struct ModuleStorage {
        mapping(address module => address older) validators;
        mapping(address module => address older) executors;
    }

    address private constant SENTINEL = address(1);

    // keccak256(abi.encode(uint256(keccak256("sso-signer.erc4337.ModularSmartAccount")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant MODULE_STORAGE = 0x192b04963c922691f5d42ad69ed8ecbd8f9b4429d1f66c755f8b8d7718307900;

    constructor() {
        // The implementation is only ever used through proxies.
        _disableInitializers();
    }

    // ---------------------------------------------------------------- ERC-4337

    function entryPoint() public pure override returns (IEntryPoint) {
        return IEntryPoint(ENTRY_POINT_V08);
    }

    /// @dev `signature = validator(20) ‖ payload`; an uninstalled validator fails without reverting so that a
    /// bundler reports a signature failure rather than a revert.
    function _validateUserOp(PackedUserOperation calldata userOp, bytes32 userOpHash, bytes calldata signature)
        internal
        override
        returns (uint256)
    {
        if (signature.length < 20) return 1;
        address validator = address(bytes20(signature[:20]));
        if (!_contains(_modules().validators, validator)) return 1;
        PackedUserOperation memory stripped = userOp;
        stripped.signature = signature[20:];
        return IERC7579Validator(validator).validateUserOp(stripped, userOpHash);
    }

    // ---------------------------------------------------------------- initialisation

    /// @inheritdoc IMSA
    function initializeAccount(address[] calldata modules, bytes[] calldata data) external initializer {
        require(modules.length == data.length, LengthMismatch());
        for (uint256 i = 0; i < modules.length; ++i) {
            IERC7579Module module = IERC7579Module(modules[i]);
            bool installed = false;
            if (module.isModuleType(MODULE_TYPE_VALIDATOR)) {
                _installModule(MODULE_TYPE_VALIDATOR, modules[i], data[i]);
                installed = true;
            }
            if (module.isModuleType(MODULE_TYPE_EXECUTOR)) {
                // A module that is both validator and executor gets its install data once.
                _installModule(MODULE_TYPE_EXECUTOR, modules[i], installed ? bytes("") : data[i]);
                installed = true;
            }
            require(installed, InvalidModule(modules[i]));
        }
    }

    // ---------------------------------------------------------------- ERC-7579 execution

    function execute(bytes32 mode, bytes calldata executionCalldata) external payable onlyEntryPointOrSelf {
        _execute(mode, executionCalldata);
    }

    function executeFromExecutor(bytes32 mode, bytes calldata executionCalldata)
        external
        payable
        returns (bytes[] memory)
    {
        require(
            _contains(_modules().executors, msg.sender),
            ERC7579Utils.ERC7579UninstalledModule(MODULE_TYPE_EXECUTOR, msg.sender)
        );
        return _execute(mode, executionCalldata);
    }

    function _execute(bytes32 mode, bytes calldata executionCalldata) private returns (bytes[] memory) {
        (CallType callType, ExecType execType,,) = ERC7579Utils.decodeMode(Mode.wrap(mode));
        require(
            execType == ERC7579Utils.EXECTYPE_DEFAULT || execType == ERC7579Utils.EXECTYPE_TRY,
            ERC7579Utils.ERC7579UnsupportedExecType(execType)
        );
        if (callType == ERC7579Utils.CALLTYPE_SINGLE) return ERC7579Utils.execSingle(executionCalldata, execType);
        if (callType == ERC7579Utils.CALLTYPE_BATCH) return ERC7579Utils.execBatch(executionCalldata, execType);
        if (callType == ERC7579Utils.CALLTYPE_DELEGATECALL) {
            return ERC7579Utils.execDelegateCall(executionCalldata, execType);
        }
        revert ERC7579Utils.ERC7579UnsupportedCallType(callType);
    }

    // ---------------------------------------------------------------- ERC-7579 configuration

    function installModule(uint256 moduleTypeId, address module, bytes calldata initData)
        external
        onlyEntryPointOrSelf
    {
        _installModule(moduleTypeId, module, initData);
    }

    function uninstallModule(uint256 moduleTypeId, address module, bytes calldata deInitData)
        external
        onlyEntryPointOrSelf
    {
        mapping(address => address) storage list = _moduleList(moduleTypeId);
        require(_remove(list, module), ERC7579Utils.ERC7579UninstalledModule(moduleTypeId, module));
        // Removing the last validator would lock the account for good.
        require(moduleTypeId != MODULE_TYPE_VALIDATOR || list[SENTINEL] != SENTINEL, NoValidatorLeft());
        IERC7579Module(module).onUninstall(deInitData);
        emit ModuleUninstalled(moduleTypeId, module);
    }

    function isModuleInstalled(uint256 moduleTypeId, address module, bytes calldata)
        external
        view
        returns (bool)
    {
        if (moduleTypeId != MODULE_TYPE_VALIDATOR && moduleTypeId != MODULE_TYPE_EXECUTOR) return false;
        return _contains(_moduleList(moduleTypeId), module);
    }

    /// @notice The installed validators, in installation order.
    function getValidators() external view returns (address[] memory) {
        return _values(_modules().validators);
    }

    /// @notice The installed executors, in installation order.
    function getExecutors() external view returns (address[] memory) {
        return _values(_modules().executors);
    }

    function accountId() external pure returns (string memory) {
        return "sso-signer.modular-smart-account.1.0.0";
    }

    function supportsExecutionMode(bytes32 encodedMode) external pure returns (bool) {
        (CallType callType, ExecType execType,,) = ERC7579Utils.decodeMode(Mode.wrap(encodedMode));
        bool callOk = callType == ERC7579Utils.CALLTYPE_SINGLE || callType == ERC7579Utils.CALLTYPE_BATCH
            || callType == ERC7579Utils.CALLTYPE_DELEGATECALL;
        bool execOk = execType == ERC7579Utils.EXECTYPE_DEFAULT || execType == ERC7579Utils.EXECTYPE_TRY;
        return callOk && execOk;
    }

    function supportsModule(uint256 moduleTypeId) external pure returns (bool) {
        return moduleTypeId == MODULE_TYPE_VALIDATOR || moduleTypeId == MODULE_TYPE_EXECUTOR;
    }

    function _installModule(uint256 moduleTypeId, address module, bytes memory initData) private {
        require(IERC7579Module(module).isModuleType(moduleTypeId), InvalidModule(module));
        require(_add(_moduleList(moduleTypeId), module), AlreadyInstalled(module));
        IERC7579Module(module).onInstall(initData);
        emit ModuleInstalled(moduleTypeId, module);
    }

    function _moduleList(uint256 moduleTypeId) private view returns (mapping(address => address) storage) {
        if (moduleTypeId == MODULE_TYPE_VALIDATOR) return _modules().validators;
        if (moduleTypeId == MODULE_TYPE_EXECUTOR) return _modules().executors;
        revert ERC7579Utils.ERC7579UnsupportedModuleType(moduleTypeId);
    }

    function _contains(mapping(address => address) storage list, address module) private view returns (bool) {
        return module != SENTINEL && list[module] != address(0);
    }

    /// @dev Adds `module` as the newest; false if it is listed (or is the sentinel).
    function _add(mapping(address => address) storage list, address module) private returns (bool) {
        if (module == SENTINEL || list[module] != address(0)) return false;
        address newest = list[SENTINEL];
        list[module] = newest == address(0) ? SENTINEL : newest;
        list[SENTINEL] = module;
        return true;
    }

    /// @dev Unlinks `module`; false if it is not listed.
    function _remove(mapping(address => address) storage list, address module) private returns (bool) {
        if (!_contains(list, module)) return false;
        address newer = SENTINEL;
        while (list[newer] != module) {
            newer = list[newer];
        }
        list[newer] = list[module];
        delete list[module];
        return true;
    }

    /// @dev The listed modules, oldest first (installation order).
    function _values(mapping(address => address) storage list) private view returns (address[] memory modules) {
        uint256 count = 0;
        address module = list[SENTINEL];
        for (; module != SENTINEL && module != address(0); module = list[module]) {
            ++count;
        }
        modules = new address[](count);
        module = list[SENTINEL];
        for (uint256 i = count; i > 0; --i) {
            modules[i - 1] = module;
            module = list[module];
        }
    }

    function _modules() private pure returns (ModuleStorage storage $) {
        assembly ("memory-safe") {
            $.slot := MODULE_STORAGE
        }
    }

    // ---------------------------------------------------------------- ERC-1271 / ERC-7739

    function _domainNameAndVersion() internal pure override returns (string memory, string memory) {
        return ("zksync-sso-1271", "1.0.0");
    }

    /// @dev Never trust the caller to bind the account into the hash: always require ERC-7739 wrapping.
    function _erc1271CallerIsSafe() internal pure override returns (bool) {
        return false;
    }

    /// @dev Not used: signatures are checked by the validator named in their first 20 bytes.
    function _erc1271Signer() internal pure override returns (address) {
        return address(0);
    }

    function _erc1271IsValidSignatureNowCalldata(bytes32 hash, bytes calldata signature)
        internal
        view
        override
        returns (bool)
    {
        if (signature.length < 20) return false;
        address validator = address(bytes20(signature[:20]));
        require(_contains(_modules().validators, validator), InvalidModule(validator));
        return IERC7579Validator(validator).isValidSignatureWithSender(msg.sender, hash, signature[20:])
            == ERC1271_MAGIC;
    }

    function _rawSignatureValidation(bytes32 hash, bytes calldata signature) internal view override returns (bool) {
        return _erc1271IsValidSignatureNowCalldata(hash, signature);
    }
}
