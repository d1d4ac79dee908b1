// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, IPaymaster, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ERC4337Utils} from "@openzeppelin/contracts/account/utils/ERC4337Utils.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title SponsorPaymaster
/// @notice A verifying paymaster for EntryPoint v0.8: it pays for a UserOperation when an off-chain sponsor
/// (the `SIGNER`, a key of the sponsor service) signed that exact operation and a validity window.
///
/// `paymasterAndData = paymaster(20) ‖ uint128 verificationGas ‖ uint128 postOpGas ‖ paymasterData`, and
/// `paymasterData = uint48 validUntil ‖ uint48 validAfter ‖ signature(65)` (big-endian, 77 bytes).
/// The signature is the signer's ECDSA over the EIP-712 `Sponsorship` struct below (domain
/// "SsoSponsorPaymaster"/"1", this chain and this contract): every field of the operation except its own
/// signature and the paymaster signature, so an approval cannot be replayed on another operation, chain or
/// paymaster. A signature by anyone else returns SIG_VALIDATION_FAILED (never reverts: bundlers simulate
/// with a stub signature); the window goes back to the EntryPoint, which refuses an operation outside it.
///
/// Validation reads no storage (the signer and the EntryPoint are immutable), so the paymaster needs no stake
/// under ERC-7562. It has no postOp work: it returns an empty context.
contract SponsorPaymaster is IPaymaster, EIP712 {
    bytes32 public constant SPONSORSHIP_TYPEHASH = keccak256(
        "Sponsorship(address sender,uint256 nonce,bytes32 initCodeHash,bytes32 callDataHash,"
        "bytes32 accountGasLimits,bytes32 paymasterGasLimits,uint256 preVerificationGas,bytes32 gasFees,"
        "uint48 validUntil,uint48 validAfter)"
    );
    uint256 private constant _DATA_OFFSET = 52; // paymaster(20) + two uint128 gas limits
    uint256 private constant _DATA_LENGTH = 77; // validUntil(6) + validAfter(6) + signature(65)

    IEntryPoint public immutable ENTRY_POINT;
    address public immutable SIGNER;
    address public immutable OWNER;

    error NotEntryPoint(address caller);
    error NotOwner(address caller);
    error BadPaymasterDataLength(uint256 length);

    constructor(IEntryPoint entryPoint_, address signer_, address owner_) EIP712("SsoSponsorPaymaster", "1") {
        ENTRY_POINT = entryPoint_;
        SIGNER = signer_;
        OWNER = owner_;
    }

    /// @inheritdoc IPaymaster
    function validatePaymasterUserOp(PackedUserOperation calldata userOp, bytes32, uint256)
        external
        view
        returns (bytes memory context, uint256 validationData)
    {
        require(msg.sender == address(ENTRY_POINT), NotEntryPoint(msg.sender));
        bytes calldata data = userOp.paymasterAndData[_DATA_OFFSET:];
        require(data.length == _DATA_LENGTH, BadPaymasterDataLength(data.length));
        uint48 validUntil = uint48(bytes6(data[0:6]));
        uint48 validAfter = uint48(bytes6(data[6:12]));
        (address recovered, ECDSA.RecoverError failure,) =
            ECDSA.tryRecover(sponsorshipHash(userOp, validUntil, validAfter), data[12:]);
        bool ok = failure == ECDSA.RecoverError.NoError && recovered == SIGNER;
        uint256 packed =
            ERC4337Utils.packValidationData(ok, validAfter, validUntil, ERC4337Utils.ValidationRange.TIMESTAMP);
        return ("", packed);
    }

    /// @inheritdoc IPaymaster
    /// @dev Never called: validation returns an empty context.
    function postOp(PostOpMode, bytes calldata, uint256, uint256) external view {
        require(msg.sender == address(ENTRY_POINT), NotEntryPoint(msg.sender));
    }

    /// @notice The EIP-712 digest the signer signs for `userOp` and the window.
    function sponsorshipHash(PackedUserOperation calldata userOp, uint48 validUntil, uint48 validAfter)
        public
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                SPONSORSHIP_TYPEHASH,
                userOp.sender,
                userOp.nonce,
                keccak256(userOp.initCode),
                keccak256(userOp.callData),
                userOp.accountGasLimits,
                bytes32(userOp.paymasterAndData[20:_DATA_OFFSET]),
                userOp.preVerificationGas,
                userOp.gasFees,
                validUntil,
                validAfter
            )
        );
        return _hashTypedDataV4(structHash);
    }

    /// @notice Adds to this paymaster's deposit at the EntryPoint (what pays for sponsored operations).
    function deposit() external payable {
        ENTRY_POINT.depositTo{value: msg.value}(address(this));
    }

    /// @notice This paymaster's deposit at the EntryPoint.
    function getDeposit() external view returns (uint256) {
        return ENTRY_POINT.balanceOf(address(this));
    }

    /// @notice Withdraws from the deposit (owner only).
    function withdrawTo(address payable to, uint256 amount) external {
        require(msg.sender == OWNER, NotOwner(msg.sender));
        ENTRY_POINT.withdrawTo(to, amount);
    }
}
