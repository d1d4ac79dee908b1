// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Transaction} from "@matterlabs/zksync-contracts/contracts/system-contracts/libraries/TransactionHelper.sol";
import {Base64} from "solady/utils/Base64.sol";

import {IEraModule} from "../../src/era/IEraModule.sol";
import {IEraModuleValidator} from "../../src/era/IEraModuleValidator.sol";
import {IEraWebAuthValidator} from "../../src/era/IEraWebAuthValidator.sol";
import {WebAuthValidator} from "../../src/era/WebAuthValidator.sol";

/// @dev The few Foundry cheatcodes these tests use (forge-std is not available here).
interface Vm {
    function prank(address sender) external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool topic1, bool topic2, bool topic3, bool data, address emitter) external;
    function signP256(uint256 privateKey, bytes32 digest) external pure returns (bytes32 r, bytes32 s);
    function publicKeyP256(uint256 privateKey) external pure returns (uint256 x, uint256 y);
}

/// @dev Forge unit tests of the Era passkey validator. A failing check reverts, which forge reports as a failure.
contract WebAuthValidatorTest {
    Vm private constant VM = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    uint256 private constant N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551;

    uint256 private constant PRIVATE_KEY = 0x1f2e3d4c5b6a79880123456789abcdef0fedcba9876543210a1b2c3d4e5f6071;
    address private constant ACCOUNT = address(0xA11CE);
    address private constant OTHER_ACCOUNT = address(0xB0B);
    string private constant ORIGIN = "https://sso.example.org";
    bytes private constant CREDENTIAL_ID = hex"0102030405060708090a0b0c0d0e0f101112131415161718";
    bytes32 private constant HASH = keccak256("an EIP-712 transaction hash");
    bytes private constant AUTH_DATA_UP_UV = // some rpIdHash (never checked) || flags 0x05 || counter 7
        hex"d5e5e7f0c2bde8b5a1f0b8df6fd4a5b3a1e7c1b8e0fdd0e6c3f5a9b7c8d9e0f10500000007";

    // vector1 of shared/vectors/sso-era.json: a real authenticator's assertion (high s as recorded).
    bytes private constant V1_AUTH_DATA = hex"49960de5880e8c687434170f6476605b8fe4aeb9a28632c7995cf3ba831d97630500000004";
    string private constant V1_CLIENT_DATA =
        '{"type":"webauthn.get","challenge":"iBBiiOGt1aSBy1WAuRGxqU7YzRM5oWpMA9g8MKydjPI","origin":"http://localhost:5173","crossOrigin":false}';
    bytes32 private constant V1_HASH = 0x88106288e1add5a481cb5580b911b1a94ed8cd1339a16a4c03d83c30ac9d8cf2;
    bytes private constant V1_CREDENTIAL_ID =
        hex"956230fc96ca82fb712932c062d364183bb9e65bedbd368112f78155e893a9a4dfdf091a8c6a1c28d9df913feb93aafb";
    bytes32 private constant V1_X = 0x956230fc96ca82fb712932c062cc4b1d8c8bf6772a8a6a15aff9613b224fd006;
    bytes32 private constant V1_Y = 0xbfe1d2856829221e83958ee24a5a135c46d8ef7e8157b0ed6fa0e01a8017a00d;
    bytes32 private constant V1_R = 0x304a9083b75baa4ad2f92cc3608e91c4569adb5f8d2cd7380214b103c39369af;
    bytes32 private constant V1_S_HIGH = 0x9f06bc16dc45c1dbb8203ed7c7d71535a4e1f5784d794341d7b854295c4af964;
    bytes32 private constant V1_S_LOW = 0x60f943e823ba3e2547dfc1283828eaca18050535599e5b431c017699a0182bed;
    string private constant V1_ORIGIN = "http://localhost:5173";
    /// @dev The onInstall data the published SDK produces for vector1 (abi.encode(bytes, bytes32[2], string)).
    bytes private constant V1_INIT_DATA =
        hex"0000000000000000000000000000000000000000000000000000000000000080956230fc96ca82fb712932c062cc4b1d8c8bf6772a8a6a15aff9613b224fd006bfe1d2856829221e83958ee24a5a135c46d8ef7e8157b0ed6fa0e01a8017a00d00000000000000000000000000000000000000000000000000000000000000e00000000000000000000000000000000000000000000000000000000000000030956230fc96ca82fb712932c062d364183bb9e65bedbd368112f78155e893a9a4dfdf091a8c6a1c28d9df913feb93aafb000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000015687474703a2f2f6c6f63616c686f73743a353137330000000000000000000000";

    event PasskeyCreated(address indexed keyOwner, string originDomain, bytes credentialId);
    event PasskeyRemoved(address indexed keyOwner, string originDomain, bytes credentialId);

    WebAuthValidator private validator;
    bytes32 private keyX;
    bytes32 private keyY;

    function setUp() public {
        validator = new WebAuthValidator();
        (uint256 x, uint256 y) = VM.publicKeyP256(PRIVATE_KEY);
        keyX = bytes32(x);
        keyY = bytes32(y);
        VM.prank(ACCOUNT);
        validator.addValidationKey(CREDENTIAL_ID, [keyX, keyY], ORIGIN);
    }

    // --------------------------------------------------------------------------------------------------
    // Helpers
    // --------------------------------------------------------------------------------------------------

    function _clientData(string memory type_, bytes memory challenge, string memory origin, string memory tail)
        private
        pure
        returns (string memory)
    {
        return string.concat(
            '{"type":"',
            type_,
            '","challenge":"',
            Base64.encode(challenge, true, true),
            '","origin":"',
            origin,
            '"',
            tail,
            "}"
        );
    }

    function _browserClientData(bytes32 hash) private pure returns (string memory) {
        return _clientData("webauthn.get", abi.encodePacked(hash), ORIGIN, ',"crossOrigin":false');
    }

    /// @dev Signs like an authenticator and normalises s like the SDK does.
    function _rs(bytes memory authData, string memory clientData) private pure returns (bytes32 r, bytes32 s) {
        bytes32 message = sha256(bytes.concat(authData, sha256(bytes(clientData))));
        (r, s) = VM.signP256(PRIVATE_KEY, message);
        if (uint256(s) > N / 2) s = bytes32(N - uint256(s));
    }

    function _fat(bytes memory authData, string memory clientData, bytes32 r, bytes32 s, bytes memory credentialId)
        private
        pure
        returns (bytes memory)
    {
        return abi.encode(authData, clientData, [r, s], credentialId);
    }

    function _signed(bytes memory authData, string memory clientData) private pure returns (bytes memory) {
        (bytes32 r, bytes32 s) = _rs(authData, clientData);
        return _fat(authData, clientData, r, s, CREDENTIAL_ID);
    }

    function _transaction(bytes memory customSignature) private view returns (Transaction memory transaction) {
        transaction.txType = 113;
        transaction.from = uint256(uint160(ACCOUNT));
        transaction.to = uint256(uint160(address(this)));
        transaction.gasLimit = 2_000_000;
        transaction.gasPerPubdataByteLimit = 50_000;
        transaction.maxFeePerGas = 250_000_000;
        transaction.maxPriorityFeePerGas = 1;
        transaction.nonce = 3;
        transaction.signature = customSignature;
    }

    function _expectRule(bytes32 hash, bytes memory fat, address account, IEraWebAuthValidator.Rule expected)
        private
        view
    {
        IEraWebAuthValidator.Rule actual = validator.checkSignature(hash, fat, account);
        require(actual == expected, string.concat("rule ", _u(uint8(actual)), " != expected ", _u(uint8(expected))));
    }

    /// @dev A rejection must show as `false` from the official-compatible entry point AND as the named rule.
    function _expectRejected(bytes memory fat, IEraWebAuthValidator.Rule expected) private {
        _expectRule(HASH, fat, ACCOUNT, expected);
        VM.prank(ACCOUNT);
        require(!validator.validateSignature(HASH, fat), "validateSignature accepted a bad signature");
    }

    function _u(uint8 value) private pure returns (string memory) {
        bytes memory digits = new bytes(3);
        digits[0] = bytes1(uint8(48 + value / 100));
        digits[1] = bytes1(uint8(48 + (value / 10) % 10));
        digits[2] = bytes1(uint8(48 + value % 10));
        return string(digits);
    }

    // --------------------------------------------------------------------------------------------------
    // Accepted signatures
    // --------------------------------------------------------------------------------------------------

    function testAcceptsBrowserShapedSignature() public {
        bytes memory fat = _signed(AUTH_DATA_UP_UV, _browserClientData(HASH));
        _expectRule(HASH, fat, ACCOUNT, IEraWebAuthValidator.Rule.Valid);
        VM.prank(ACCOUNT);
        require(validator.validateSignature(HASH, fat), "validateSignature rejected a good signature");
    }

    function testAcceptsWithoutCrossOriginAndWithExtraKeys() public {
        // Safari omits crossOrigin; Chromium sometimes adds keys that must be ignored.
        string memory clientData = _clientData(
            "webauthn.get", abi.encodePacked(HASH), ORIGIN, ',"other_keys_can_be_added_here":"do not compare"'
        );
        _expectRule(HASH, _signed(AUTH_DATA_UP_UV, clientData), ACCOUNT, IEraWebAuthValidator.Rule.Valid);
    }

    function testAcceptsAnyOtherFlagsBesideUpUv() public {
        // BE | BS | UV | UP (0x1d), as a synced passkey sends; rpIdHash and counter are not checked.
        bytes memory authData = AUTH_DATA_UP_UV;
        authData[32] = 0x1d;
        _expectRule(HASH, _signed(authData, _browserClientData(HASH)), ACCOUNT, IEraWebAuthValidator.Rule.Valid);
    }

    function testAcceptsPaddedStandardBase64Challenge() public {
        // Solady's decoder takes both alphabets, with or without padding, like the official validator.
        bytes32 hash = bytes32(uint256(0xfbff) << 240); // encodes with '+' and '/' in standard base64
        string memory clientData = string.concat(
            '{"type":"webauthn.get","challenge":"', Base64.encode(abi.encodePacked(hash)), '","origin":"', ORIGIN, '"}'
        );
        _expectRule(hash, _signed(AUTH_DATA_UP_UV, clientData), ACCOUNT, IEraWebAuthValidator.Rule.Valid);
    }

    function testValidateTransactionWithSdkAndPlainCustomSignature() public {
        bytes memory fat = _signed(AUTH_DATA_UP_UV, _browserClientData(HASH));
        bytes[] memory noHookData = new bytes[](1); // the official SDK's `bytes[] [""]`
        bytes memory sdkSignature = abi.encode(fat, address(validator), noHookData);
        bytes memory plainSignature = abi.encode(fat, address(validator), bytes(""));
        VM.prank(ACCOUNT);
        require(validator.validateTransaction(HASH, _transaction(sdkSignature)), "SDK-shaped signature rejected");
        VM.prank(ACCOUNT);
        require(validator.validateTransaction(HASH, _transaction(plainSignature)), "plain signature rejected");
        VM.prank(OTHER_ACCOUNT);
        require(!validator.validateTransaction(HASH, _transaction(sdkSignature)), "accepted for another account");
    }

    function testVector1RealAuthenticatorNormalised() public {
        VM.prank(ACCOUNT);
        validator.onInstall(V1_INIT_DATA);
        bytes32[2] memory stored = validator.getAccountKey(V1_ORIGIN, V1_CREDENTIAL_ID, ACCOUNT);
        require(stored[0] == V1_X && stored[1] == V1_Y, "onInstall stored another key");
        require(validator.registeredAddress(V1_ORIGIN, V1_CREDENTIAL_ID) == ACCOUNT, "registeredAddress");

        bytes memory low = _fat(V1_AUTH_DATA, V1_CLIENT_DATA, V1_R, V1_S_LOW, V1_CREDENTIAL_ID);
        _expectRule(V1_HASH, low, ACCOUNT, IEraWebAuthValidator.Rule.Valid);
        VM.prank(ACCOUNT);
        require(validator.validateSignature(V1_HASH, low), "vector1 (normalised) rejected");

        bytes memory high = _fat(V1_AUTH_DATA, V1_CLIENT_DATA, V1_R, V1_S_HIGH, V1_CREDENTIAL_ID);
        _expectRule(V1_HASH, high, ACCOUNT, IEraWebAuthValidator.Rule.HighS);
    }

    // --------------------------------------------------------------------------------------------------
    // Rejections, one per rule, in rule order
    // --------------------------------------------------------------------------------------------------

    function testRejectsRAndSOutOfRange() public {
        string memory clientData = _browserClientData(HASH);
        (bytes32 r, bytes32 s) = _rs(AUTH_DATA_UP_UV, clientData);
        IEraWebAuthValidator.Rule range = IEraWebAuthValidator.Rule.SignatureOutOfRange;
        _expectRejected(_fat(AUTH_DATA_UP_UV, clientData, 0, s, CREDENTIAL_ID), range);
        _expectRejected(_fat(AUTH_DATA_UP_UV, clientData, r, 0, CREDENTIAL_ID), range);
        // r = n passes the official bound (r <= n) and is refused by the precompile.
        _expectRejected(_fat(AUTH_DATA_UP_UV, clientData, bytes32(N), s, CREDENTIAL_ID), IEraWebAuthValidator.Rule.BadSignature);
        _expectRejected(_fat(AUTH_DATA_UP_UV, clientData, bytes32(N + 1), s, CREDENTIAL_ID), range);
        _expectRejected(_fat(AUTH_DATA_UP_UV, clientData, bytes32(type(uint256).max), s, CREDENTIAL_ID), range);
        _expectRejected(_fat(AUTH_DATA_UP_UV, clientData, r, bytes32(N), CREDENTIAL_ID), range);
        _expectRejected(_fat(AUTH_DATA_UP_UV, clientData, r, bytes32(type(uint256).max), CREDENTIAL_ID), range);
    }

    function testRejectsUnnormalisedHighS() public {
        string memory clientData = _browserClientData(HASH);
        (bytes32 r, bytes32 s) = _rs(AUTH_DATA_UP_UV, clientData);
        // n - s verifies just as well on the curve; only the low-s rule stops this malleated copy.
        _expectRejected(
            _fat(AUTH_DATA_UP_UV, clientData, r, bytes32(N - uint256(s)), CREDENTIAL_ID),
            IEraWebAuthValidator.Rule.HighS
        );
        // The boundary: s = n/2 is low, n/2 + 1 is high.
        _expectRule(
            HASH,
            _fat(AUTH_DATA_UP_UV, clientData, r, bytes32(N / 2), CREDENTIAL_ID),
            ACCOUNT,
            IEraWebAuthValidator.Rule.BadSignature
        );
        _expectRule(
            HASH,
            _fat(AUTH_DATA_UP_UV, clientData, r, bytes32(N / 2 + 1), CREDENTIAL_ID),
            ACCOUNT,
            IEraWebAuthValidator.Rule.HighS
        );
    }

    function testRejectsMissingUserPresenceOrVerification() public {
        bytes1[4] memory flags = [bytes1(0x00), bytes1(0x01), bytes1(0x04), bytes1(0xfa)];
        for (uint256 i = 0; i < flags.length; ++i) {
            bytes memory authData = AUTH_DATA_UP_UV;
            authData[32] = flags[i];
            _expectRejected(_signed(authData, _browserClientData(HASH)), IEraWebAuthValidator.Rule.MissingUserFlags);
        }
    }

    function testRejectsChallengeOfWrongLength() public {
        bytes memory shortChallenge = abi.encodePacked(bytes31(HASH));
        string memory clientData = _clientData("webauthn.get", shortChallenge, ORIGIN, "");
        _expectRejected(_signed(AUTH_DATA_UP_UV, clientData), IEraWebAuthValidator.Rule.ChallengeLength);
        bytes memory longChallenge = abi.encodePacked(HASH, uint8(0));
        clientData = _clientData("webauthn.get", longChallenge, ORIGIN, "");
        _expectRejected(_signed(AUTH_DATA_UP_UV, clientData), IEraWebAuthValidator.Rule.ChallengeLength);
    }

    function testRejectsChallengeForAnotherHash() public {
        string memory clientData = _browserClientData(keccak256("another transaction"));
        _expectRejected(_signed(AUTH_DATA_UP_UV, clientData), IEraWebAuthValidator.Rule.ChallengeMismatch);
    }

    function testRejectsRegistrationCeremonyType() public {
        string memory clientData = _clientData("webauthn.create", abi.encodePacked(HASH), ORIGIN, "");
        _expectRejected(_signed(AUTH_DATA_UP_UV, clientData), IEraWebAuthValidator.Rule.WrongType);
    }

    function testRejectsOtherOriginCredentialOrAccount() public {
        IEraWebAuthValidator.Rule unknown = IEraWebAuthValidator.Rule.UnknownKey;
        // Another origin: the signed origin selects the key, so a phishing origin finds none.
        string memory phished = _clientData("webauthn.get", abi.encodePacked(HASH), "https://sso.example.org.evil", "");
        _expectRejected(_signed(AUTH_DATA_UP_UV, phished), unknown);
        // A trailing slash is another origin string.
        string memory slash = _clientData("webauthn.get", abi.encodePacked(HASH), "https://sso.example.org/", "");
        _expectRejected(_signed(AUTH_DATA_UP_UV, slash), unknown);
        // Another credential id.
        string memory clientData = _browserClientData(HASH);
        (bytes32 r, bytes32 s) = _rs(AUTH_DATA_UP_UV, clientData);
        _expectRejected(_fat(AUTH_DATA_UP_UV, clientData, r, s, hex"0102030405060708090a0b0c0d0e0f1011121314151617ff"), unknown);
        // The right key, asked for by another account.
        _expectRule(HASH, _fat(AUTH_DATA_UP_UV, clientData, r, s, CREDENTIAL_ID), OTHER_ACCOUNT, unknown);
        VM.prank(OTHER_ACCOUNT);
        require(!validator.validateSignature(HASH, _fat(AUTH_DATA_UP_UV, clientData, r, s, CREDENTIAL_ID)), "other");
    }

    function testRejectsCrossOriginUnlessLiteralFalse() public {
        string[3] memory tails = [string(',"crossOrigin":true'), ',"crossOrigin":"false"', ',"crossOrigin":null'];
        for (uint256 i = 0; i < tails.length; ++i) {
            string memory clientData = _clientData("webauthn.get", abi.encodePacked(HASH), ORIGIN, tails[i]);
            _expectRejected(_signed(AUTH_DATA_UP_UV, clientData), IEraWebAuthValidator.Rule.CrossOrigin);
        }
    }

    function testRejectsSignatureOverOtherBytes() public {
        string memory clientData = _browserClientData(HASH);
        (bytes32 r, bytes32 s) = _rs(AUTH_DATA_UP_UV, clientData);
        bytes memory counterBumped = AUTH_DATA_UP_UV;
        counterBumped[36] = 0x08; // the signed bytes changed after signing
        // The precompile answers nothing for an invalid signature; that empty answer must read as "invalid".
        _expectRejected(_fat(counterBumped, clientData, r, s, CREDENTIAL_ID), IEraWebAuthValidator.Rule.BadSignature);
        string memory spaced = string.concat(clientData, " ");
        _expectRejected(_fat(AUTH_DATA_UP_UV, spaced, r, s, CREDENTIAL_ID), IEraWebAuthValidator.Rule.BadSignature);
    }

    function testUndecodableInputIsNamedByCheckAndRevertsInEntryPoints() public {
        _expectUndecodable(hex"deadbeef", IEraWebAuthValidator.Rule.Malformed); // not an ABI-encoded fat signature
        _expectUndecodable(
            _signed(new bytes(32), _browserClientData(HASH)), IEraWebAuthValidator.Rule.AuthDataTooShort
        );
        _expectUndecodable(
            _signed(AUTH_DATA_UP_UV, '{"type":"webauthn.get","challenge":'), IEraWebAuthValidator.Rule.ClientDataNotJson
        );
        _expectUndecodable(
            _signed(AUTH_DATA_UP_UV, '{"type":"webauthn.get","origin":"https://sso.example.org"}'),
            IEraWebAuthValidator.Rule.ChallengeMissing
        );
        _expectUndecodable(_signed(AUTH_DATA_UP_UV, "[1,2]"), IEraWebAuthValidator.Rule.ChallengeMissing);
        string memory challenge = Base64.encode(abi.encodePacked(HASH), true, true);
        _expectUndecodable(
            _signed(AUTH_DATA_UP_UV, string.concat('{"challenge":"', challenge, '","origin":"https://sso.example.org"}')),
            IEraWebAuthValidator.Rule.WrongType
        );
        _expectUndecodable(
            _signed(AUTH_DATA_UP_UV, string.concat('{"type":"webauthn.get","challenge":"', challenge, '","origin":7}')),
            IEraWebAuthValidator.Rule.UnknownKey
        );
    }

    function testRefusesReadMemberNamesSpelledWithEscapes() public {
        // The official validator looks members up by their raw name, so for it `"\u0074ype"` is not `type`:
        // a clientDataJSON that only unescaping completes must not pass here either.
        string memory challenge = Base64.encode(abi.encodePacked(HASH), true, true);
        string memory rest = string.concat('"challenge":"', challenge, '","origin":"', ORIGIN, '"');
        string[4] memory spoofed = [
            string.concat('{"\\u0074ype":"webauthn.get",', rest, "}"),
            string.concat('{"type":"webauthn.get",', rest, ',"\\u0074ype":"webauthn.create"}'),
            string.concat('{"type":"webauthn.get",', rest, ',"cross\\u004frigin":true}'),
            string.concat('{"type":"webauthn.get","\\u0063hallenge":"', challenge, '","origin":"', ORIGIN, '"}')
        ];
        for (uint256 i = 0; i < spoofed.length; ++i) {
            _expectUndecodable(_signed(AUTH_DATA_UP_UV, spoofed[i]), IEraWebAuthValidator.Rule.ClientDataNotJson);
        }
        // Escaped names nested deeper, or that unescape to another name, are not read and stay harmless.
        string memory nested = string.concat('{"type":"webauthn.get",', rest, ',"x":{"\\u0074ype":1},"\\u0074yp":2}');
        _expectRule(HASH, _signed(AUTH_DATA_UP_UV, nested), ACCOUNT, IEraWebAuthValidator.Rule.Valid);
    }

    function testOriginWithUndecodableSurrogateReverts() public {
        // solady's decodeString (the official validator's, and ours) refuses a high surrogate escape that no
        // further \u escape follows; a lone low surrogate decodes (to bytes no registered origin has).
        string memory challenge = Base64.encode(abi.encodePacked(HASH), true, true);
        string memory head = string.concat('{"type":"webauthn.get","challenge":"', challenge, '","origin":"');
        _expectUndecodable(
            _signed(AUTH_DATA_UP_UV, string.concat(head, ORIGIN, '\\ud800"}')),
            IEraWebAuthValidator.Rule.ClientDataNotJson
        );
        _expectRule(
            HASH,
            _signed(AUTH_DATA_UP_UV, string.concat(head, ORIGIN, '\\udc00"}')),
            ACCOUNT,
            IEraWebAuthValidator.Rule.UnknownKey
        );
    }

    function _expectUndecodable(bytes memory fat, IEraWebAuthValidator.Rule expected) private {
        _expectRule(HASH, fat, ACCOUNT, expected);
        // The strict variant reverts with the error that names the rule (solady's own for broken JSON, none for
        // undecodable ABI).
        (bool strictOk, bytes memory reason) =
            address(validator).call(abi.encodeCall(validator.checkSignatureOrRevert, (HASH, fat, ACCOUNT)));
        require(!strictOk, "checkSignatureOrRevert did not revert");
        if (expected == IEraWebAuthValidator.Rule.ClientDataNotJson) {
            require(keccak256(reason) == keccak256(abi.encodeWithSignature("ParsingFailed()")), "ParsingFailed");
        } else if (expected != IEraWebAuthValidator.Rule.Malformed) {
            bytes memory named = abi.encodeWithSelector(IEraWebAuthValidator.WEBAUTHN_UNDECODABLE.selector, expected);
            require(keccak256(reason) == keccak256(named), "WEBAUTHN_UNDECODABLE(rule)");
        }
        VM.prank(ACCOUNT);
        (bool ok,) = address(validator).call(abi.encodeCall(validator.validateSignature, (HASH, fat)));
        require(!ok, "validateSignature did not revert on undecodable input");
    }

    // --------------------------------------------------------------------------------------------------
    // Fuzzed: any key, any hash, any account
    // --------------------------------------------------------------------------------------------------

    function testFuzzAcceptsEveryKeyAndHashAndRejectsTheHighSTwin(uint256 seed, bytes32 hash, address account)
        public
    {
        uint256 privateKey = 1 + seed % (N - 1);
        if (account == ACCOUNT || account == address(0)) account = address(0xC0FFEE);
        (uint256 x, uint256 y) = VM.publicKeyP256(privateKey);
        VM.prank(account);
        validator.addValidationKey(abi.encodePacked(seed, "fuzz"), [bytes32(x), bytes32(y)], ORIGIN);

        string memory clientData = _browserClientData(hash);
        bytes32 message = sha256(bytes.concat(AUTH_DATA_UP_UV, sha256(bytes(clientData))));
        (bytes32 r, bytes32 s) = VM.signP256(privateKey, message);
        uint256 low = uint256(s) > N / 2 ? N - uint256(s) : uint256(s);
        bytes memory credentialId = abi.encodePacked(seed, "fuzz");
        _expectRule(
            hash,
            abi.encode(AUTH_DATA_UP_UV, clientData, [r, bytes32(low)], credentialId),
            account,
            IEraWebAuthValidator.Rule.Valid
        );
        _expectRule(
            hash,
            abi.encode(AUTH_DATA_UP_UV, clientData, [r, bytes32(N - low)], credentialId),
            account,
            IEraWebAuthValidator.Rule.HighS
        );
    }

    function testFuzzRegistrationTakesExactlyTheCurvePoints(bytes32 x, bytes32 y) public {
        uint256 p = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF;
        uint256 b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B;
        uint256 lhs = mulmod(uint256(y), uint256(y), p);
        uint256 rhs = addmod(mulmod(mulmod(uint256(x), uint256(x), p), uint256(x), p), addmod(p - mulmod(3, uint256(x), p), b, p), p);
        bool onCurve = uint256(x) < p && uint256(y) < p && lhs == rhs;
        VM.prank(OTHER_ACCOUNT);
        (bool ok, bytes memory reason) = address(validator).call(
            abi.encodeCall(validator.addValidationKey, (CREDENTIAL_ID, [x, y], "https://other.example"))
        );
        if (x == 0 && y == 0) {
            require(!ok && bytes4(reason) == IEraWebAuthValidator.WEBAUTHN_EMPTY_KEY.selector, "empty key");
        } else if (onCurve) {
            require(ok, "a curve point was refused");
        } else {
            require(!ok && bytes4(reason) == IEraWebAuthValidator.WEBAUTHN_KEY_NOT_ON_CURVE.selector, "off-curve");
        }
    }

    // --------------------------------------------------------------------------------------------------
    // Key registration and removal
    // --------------------------------------------------------------------------------------------------

    function testRegistrationEmitsOfficialEventAndStoresKey() public {
        require(
            PasskeyCreated.selector == 0x3c6e30f99b4a1e8aae9cdcfbc2d6683bf8347bb160ae280eb95513567c07b473,
            "PasskeyCreated topic differs from the official validator"
        );
        VM.expectEmit(true, false, false, true, address(validator));
        emit PasskeyCreated(OTHER_ACCOUNT, "https://other.example", CREDENTIAL_ID);
        VM.prank(OTHER_ACCOUNT);
        validator.addValidationKey(CREDENTIAL_ID, [keyX, keyY], "https://other.example");
        bytes32[2] memory stored = validator.getAccountKey("https://other.example", CREDENTIAL_ID, OTHER_ACCOUNT);
        require(stored[0] == keyX && stored[1] == keyY, "stored key");
        require(validator.registeredAddress("https://other.example", CREDENTIAL_ID) == OTHER_ACCOUNT, "owner");
        bytes32[2] memory none = validator.getAccountKey("https://other.example", CREDENTIAL_ID, ACCOUNT);
        require(none[0] == 0 && none[1] == 0, "another account sees a key");
    }

    function testRegistrationChecksInOfficialOrder() public {
        bytes32[2] memory key = [keyX, keyY];
        VM.prank(ACCOUNT);
        VM.expectRevert(abi.encodeWithSignature("WEBAUTHN_KEY_EXISTS()"));
        validator.addValidationKey(CREDENTIAL_ID, key, ORIGIN);

        VM.prank(OTHER_ACCOUNT);
        VM.expectRevert(abi.encodeWithSignature("WEBAUTHN_ACCOUNT_EXISTS()"));
        validator.addValidationKey(CREDENTIAL_ID, key, ORIGIN);

        VM.prank(OTHER_ACCOUNT);
        VM.expectRevert(abi.encodeWithSignature("WEBAUTHN_EMPTY_KEY()"));
        validator.addValidationKey(CREDENTIAL_ID, [bytes32(0), bytes32(0)], "https://other.example");

        VM.prank(OTHER_ACCOUNT);
        VM.expectRevert(abi.encodeWithSignature("WEBAUTHN_BAD_DOMAIN_LENGTH()"));
        validator.addValidationKey(CREDENTIAL_ID, key, "");

        bytes memory longDomain = new bytes(254);
        for (uint256 i = 0; i < longDomain.length; ++i) longDomain[i] = "a";
        VM.prank(OTHER_ACCOUNT);
        VM.expectRevert(abi.encodeWithSignature("WEBAUTHN_BAD_DOMAIN_LENGTH()"));
        validator.addValidationKey(CREDENTIAL_ID, key, string(longDomain));

        VM.prank(OTHER_ACCOUNT);
        VM.expectRevert(abi.encodeWithSignature("WEBAUTHN_BAD_CREDENTIAL_ID_LENGTH()"));
        validator.addValidationKey(hex"000102030405060708090a0b0c0d0e", key, "https://other.example");
    }

    function testRegistrationRejectsOffCurveKeys() public {
        bytes32 p = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF;
        bytes32[2][4] memory bad = [
            [keyX, bytes32(uint256(keyY) ^ 1)], // one bit off
            [keyX, bytes32(0)],
            [p, keyY], // a coordinate that is not a field element (x must be < p)
            [bytes32(uint256(1)), bytes32(uint256(1))]
        ];
        for (uint256 i = 0; i < bad.length; ++i) {
            VM.prank(OTHER_ACCOUNT);
            VM.expectRevert(abi.encodeWithSignature("WEBAUTHN_KEY_NOT_ON_CURVE()"));
            validator.addValidationKey(CREDENTIAL_ID, bad[i], "https://other.example");
        }
        // The vector's real key is on the curve.
        VM.prank(OTHER_ACCOUNT);
        validator.addValidationKey(V1_CREDENTIAL_ID, [V1_X, V1_Y], V1_ORIGIN);
    }

    function testRemoveOnlyByOwnerThenReRegister() public {
        VM.prank(OTHER_ACCOUNT);
        VM.expectRevert(abi.encodeWithSignature("WEBAUTHN_NOT_KEY_OWNER(address)", ACCOUNT));
        validator.removeValidationKey(CREDENTIAL_ID, ORIGIN);

        VM.expectEmit(true, false, false, true, address(validator));
        emit PasskeyRemoved(ACCOUNT, ORIGIN, CREDENTIAL_ID);
        VM.prank(ACCOUNT);
        validator.removeValidationKey(CREDENTIAL_ID, ORIGIN);
        require(validator.registeredAddress(ORIGIN, CREDENTIAL_ID) == address(0), "still registered");
        _expectRule(HASH, _signed(AUTH_DATA_UP_UV, _browserClientData(HASH)), ACCOUNT, IEraWebAuthValidator.Rule.UnknownKey);

        // Freed: another account may now claim the credential.
        VM.prank(OTHER_ACCOUNT);
        validator.addValidationKey(CREDENTIAL_ID, [keyX, keyY], ORIGIN);
        _expectRule(
            HASH, _signed(AUTH_DATA_UP_UV, _browserClientData(HASH)), OTHER_ACCOUNT, IEraWebAuthValidator.Rule.Valid
        );
    }

    function testUninstallRemovesListedKeys() public {
        VM.prank(ACCOUNT);
        validator.onInstall(V1_INIT_DATA);
        IEraWebAuthValidator.PasskeyId[] memory ids = new IEraWebAuthValidator.PasskeyId[](2);
        ids[0] = IEraWebAuthValidator.PasskeyId(ORIGIN, CREDENTIAL_ID);
        ids[1] = IEraWebAuthValidator.PasskeyId(V1_ORIGIN, V1_CREDENTIAL_ID);
        VM.prank(ACCOUNT);
        validator.onUninstall(abi.encode(ids));
        require(validator.registeredAddress(ORIGIN, CREDENTIAL_ID) == address(0), "first key left");
        require(validator.registeredAddress(V1_ORIGIN, V1_CREDENTIAL_ID) == address(0), "second key left");
        // Empty install data installs nothing.
        VM.prank(OTHER_ACCOUNT);
        validator.onInstall("");
    }

    function testInterfaceIdsMatchTheOfficialAccount() public view {
        require(type(IEraModuleValidator).interfaceId == 0x8c2a9c6b, "IModuleValidator id");
        require(type(IEraModule).interfaceId == 0xe7f04e93, "IModule id");
        require(validator.supportsInterface(0x01ffc9a7), "ERC-165");
        require(validator.supportsInterface(0x8c2a9c6b), "IModuleValidator");
        require(validator.supportsInterface(0xe7f04e93), "IModule");
        require(!validator.supportsInterface(0xffffffff), "0xffffffff must be unsupported");
    }
}
