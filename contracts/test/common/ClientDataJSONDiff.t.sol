// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JSONParserLib} from "solady/utils/JSONParserLib.sol";

import {ClientDataJSON} from "../../src/common/ClientDataJSON.sol";

/// @dev Differential test: ClientDataJSON.read must give the verdict of a full JSON parse (solady's
///      JSONParserLib) plus the rules solady (or the official validators' lookup by raw name) leave out, on
///      generated and mutated clientDataJSON:
///      * RFC 8259 §7: no raw control character (< 0x20) inside a string (solady accepts them);
///      * a member name must open with '"' (solady's parser skips that byte unchecked: `{Xtype":1}` passes);
///      * a top-level object may not repeat a member name the validators read (solady's `at` takes the last
///        duplicate);
///      * a top-level member name written with escapes may not unescape to one the validators read (solady's
///        `at` compares raw names, so the official validators would not see it: `"\u0074ype"` is refused).
///      When both accept, the four members must be the same: present or not, string or not, same raw text.
contract ClientDataJSONDiffTest {
    using JSONParserLib for JSONParserLib.Item;

    error Mismatch(bytes json, bool readerAccepts, bool referenceAccepts, uint256 member);
    error Refused();

    // ------------------------------------------------------------------------------------------- the two sides

    /// @dev The reader, as (challenge, type, origin, crossOrigin) raw value texts with their kind.
    function readerSide(bytes memory json) external pure returns (bytes[4] memory texts, uint256[4] memory kinds) {
        uint256[4] memory spans;
        (spans[0], spans[1], spans[2], spans[3]) = ClientDataJSON.read(json);
        for (uint256 i = 0; i < 4; ++i) {
            if (spans[i] == 0) continue;
            kinds[i] = spans[i] >> 128;
            texts[i] = _slice(json, uint64(spans[i]), uint64(spans[i] >> 64));
        }
    }

    /// @dev The reference: solady's full parse, then the quote, control-character, duplicate-name and
    ///      escaped-name rules.
    function referenceSide(bytes memory json)
        external
        view
        returns (bytes[4] memory texts, uint256[4] memory kinds)
    {
        JSONParserLib.Item memory root = JSONParserLib.parse(string(json));
        _refuseControlCharacters(root);
        if (!root.isObject()) return (texts, kinds);
        JSONParserLib.Item[] memory members = root.children();
        for (uint256 i = 0; i < members.length; ++i) {
            string memory key = members[i].key();
            uint256 id = _nameId(key);
            if (id == 0) continue;
            if (_hasByte(bytes(key), "\\")) revert Refused(); // only unescaping makes it a name read
            if (kinds[id - 1] != 0) revert Refused(); // a repeated name the validators read
            bytes memory text = bytes(members[i].value());
            texts[id - 1] = text;
            if (!members[i].isString()) kinds[id - 1] = ClientDataJSON.KIND_OTHER;
            else if (_hasByte(text, "\\")) kinds[id - 1] = ClientDataJSON.KIND_ESCAPED_STRING;
            else kinds[id - 1] = ClientDataJSON.KIND_STRING;
        }
    }

    /// @dev Both sides on `json`; reverts Mismatch when they disagree.
    function _compare(bytes memory json) internal view {
        (bool readerOk, bytes memory readerOut) = address(this).staticcall(abi.encodeCall(this.readerSide, (json)));
        (bool refOk, bytes memory refOut) = address(this).staticcall(abi.encodeCall(this.referenceSide, (json)));
        if (readerOk != refOk) revert Mismatch(json, readerOk, refOk, 0);
        if (!readerOk) {
            // The reader's only error is ParsingFailed().
            if (bytes4(readerOut) != ClientDataJSON.ParsingFailed.selector) revert Mismatch(json, false, false, 9);
            return;
        }
        (bytes[4] memory rTexts, uint256[4] memory rKinds) = abi.decode(readerOut, (bytes[4], uint256[4]));
        (bytes[4] memory fTexts, uint256[4] memory fKinds) = abi.decode(refOut, (bytes[4], uint256[4]));
        for (uint256 i = 0; i < 4; ++i) {
            if (rKinds[i] != fKinds[i] || keccak256(rTexts[i]) != keccak256(fTexts[i])) {
                revert Mismatch(json, true, true, i + 1);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------- tests

    /// forge-config: default.fuzz.runs = 4000
    function testFuzzGeneratedClientData(uint256 seed) public view {
        _compare(_generate(seed));
    }

    /// forge-config: default.fuzz.runs = 4000
    function testFuzzMutatedClientData(uint256 seed, uint8 mutations) public view {
        bytes memory json = _generate(seed);
        uint256 n = 1 + (mutations % 4);
        for (uint256 i = 0; i < n; ++i) {
            json = _mutate(json, uint256(keccak256(abi.encode(seed, i, "mutate"))));
        }
        _compare(json);
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzzArbitraryBytes(bytes memory json) public view {
        _compare(json);
    }

    /// @dev Hand-picked cases, each once, with the verdict the reader must give.
    function testEdgeCases() public view {
        string[40] memory accepted = [
            '{"type":"webauthn.get","challenge":"AAAA","origin":"https://a.b","crossOrigin":false}',
            ' {"type" : "webauthn.get" ,\n\t"challenge":"x"\r}  ',
            "{}",
            "[]",
            '"just a string"',
            "-0.5e+10",
            "0",
            "true",
            "null",
            '{"other":{"type":"inner","origin":[1,2,{"challenge":3}]},"type":"t"}',
            '{"challenge":"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9"}',
            '{"crossOrigin":"false"}',
            '{"crossOrigin":true}',
            '{"crossOrigin":null}',
            '{"crossOrigin":{}}',
            '{"crossOrigin":[false]}',
            '{"crossOrigin":-1}',
            '{"tokenBinding":{"status":"present","id":"abc"},"type":"webauthn.get"}',
            '{"a":1,"a":2,"a":3}',
            '{"type\\u0000":"a","type":"b"}',
            '{"\\ud83d\\ude00":"emoji"}',
            '{"\\ud800":"lone surrogate in a name"}',
            '{"origin":"\\ud800"}',
            '{"origin":"\xc3\xa9\xff\x80"}',
            '{"x":[[[[[]]]]],"y":[{},{}],"z":[1,"a",true,false,null]}',
            '{"n":1E5,"m":-0,"k":12.34e-2}',
            '{"challengeX":"a","Xchallenge":"b","challenge":"c"}',
            '{"crossorigin":1,"CrossOrigin":2,"crossOrigin":false}',
            '{"type":"webauthn\\u002eget"}',
            '{"type":"webauthn.get","type2":"webauthn.get"}',
            '[{"type":"a"},{"type":"b"}]',
            '{"origin":"https://example.com:8443/path?q=\\"}\\""}',
            '{"k":"\\uABCD\\uabcd\\u0000"}',
            '{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{}}}}}}}}}',
            '{"crossOrigin" :false , "type":"x"}',
            '{ }',
            '[ ]',
            '{"a":{"\\u0074ype":1},"b":["\\u0074ype"]}',
            '{"\\u0074ypeX":1,"\\u0074yp":2,"origin":"\\u0068ttps"}',
            '{"\\u0074ype\\u0000":1}'
        ];
        for (uint256 i = 0; i < accepted.length; ++i) {
            bytes memory json = bytes(accepted[i]);
            _compare(json);
            require(_readerAccepts(json), string.concat("refused: ", accepted[i]));
        }
        string[47] memory refused = [
            "",
            " ",
            "{",
            "}",
            '{"type":"webauthn.get"',
            '{"type":"webauthn.get",}',
            '{"type":"a","type":"b"}',
            '{"type":"a","\\u0074ype":"b"}',
            '{"origin":"a","origin":"a"}',
            '{"crossOrigin":false,"crossOrigin":false}',
            '{"challenge":1,"challenge":2}',
            '{"challenge":"a\x01b"}',
            '{"origin":"line\nbreak"}',
            '{"ta\tb":1}',
            '{"a":"\\x"}',
            '{"a":"\\u12"}',
            '{"a":"\\u12G4"}',
            '{"a":"\\', // solady refuses this one by running out of gas (its escape scan passes the end)
            '{"a":"abc',
            '{"a":01}',
            '{"a":1.}',
            '{"a":.5}',
            '{"a":1e}',
            '{"a":+1}',
            '{"a":-}',
            '{"a":tru}',
            '{"a":True}',
            '{"a":nul}',
            '{"a":NaN}',
            "{'a':1}",
            '{"a" 1}',
            '{"a":1 "b":2}',
            '{"a":1}}',
            '{"a":1} x',
            '{"a":[1,]}',
            '{"a":[1 2]}',
            '{a:1}',
            '{ type":"webauthn.get"}',
            '{"a":{"b":1]}',
            '{"a":1}\x00',
            '{"\\u0074ype":"webauthn.get"}',
            '{"typ\\u0065":"x","origin":"\\u0068ttps"}',
            '{"\\u0063rossOrigin":true}',
            '{"cross\\u004frigin":false}',
            '{"\\u0063\\u0068\\u0061\\u006c\\u006c\\u0065\\u006e\\u0067\\u0065":"x"}',
            '{"type":"webauthn.get","\\u0074ype":"x"}',
            '{"\\u006frigin":"https://a.b"}'
        ];
        for (uint256 i = 0; i < refused.length; ++i) {
            bytes memory json = bytes(refused[i]);
            _compare(json);
            require(!_readerAccepts(json), string.concat("accepted: ", refused[i]));
        }
    }

    /// @dev Nesting up to MAX_DEPTH is read; one level more is refused (solady has no limit but the stack).
    function testDepthLimit() public view {
        require(_readerAccepts(_nested(ClientDataJSON.MAX_DEPTH)), "MAX_DEPTH refused");
        require(!_readerAccepts(_nested(ClientDataJSON.MAX_DEPTH + 1)), "MAX_DEPTH + 1 accepted");
    }

    // ----------------------------------------------------------------------------------------- generation

    /// @dev A clientDataJSON-like object: the four members with right or wrong values, extra members, nested
    ///      values, escaped and repeated names, random whitespace, random order.
    function _generate(uint256 seed) internal pure returns (bytes memory out) {
        uint256 r = uint256(keccak256(abi.encode(seed)));
        bytes[] memory members = new bytes[](8);
        uint256 n = 0;
        members[n++] = _member(_name("type", r >> 8), _pick(r >> 16, _typeValues()), r >> 24);
        members[n++] = _member(_name("challenge", r >> 32), _pick(r >> 40, _challengeValues()), r >> 48);
        members[n++] = _member(_name("origin", r >> 56), _pick(r >> 64, _originValues()), r >> 72);
        if ((r >> 80) % 4 != 0) {
            members[n++] = _member(_name("crossOrigin", r >> 88), _pick(r >> 96, _crossOriginValues()), r >> 104);
        }
        if ((r >> 112) % 3 == 0) {
            members[n++] = _member(_pick(r >> 120, _otherNames()), _pick(r >> 128, _otherValues()), r >> 136);
        }
        if ((r >> 144) % 5 == 0) {
            // A repeated member, same or other spelling.
            bytes[4] memory names = [bytes("type"), "challenge", "origin", "crossOrigin"];
            bytes memory name = names[(r >> 152) % 4];
            members[n++] = _member(_name(string(name), r >> 160), _pick(r >> 168, _typeValues()), r >> 176);
        }
        // Shuffle (Fisher-Yates) and join.
        uint256 s = uint256(keccak256(abi.encode(r, "shuffle")));
        for (uint256 i = n; i > 1; --i) {
            uint256 j = (s >> (i * 8)) % i;
            (members[i - 1], members[j]) = (members[j], members[i - 1]);
        }
        out = bytes.concat(_ws(r >> 184), "{");
        for (uint256 i = 0; i < n; ++i) {
            out = bytes.concat(out, i == 0 ? bytes("") : bytes(","), members[i]);
        }
        out = bytes.concat(out, _ws(r >> 192), "}", _ws(r >> 200));
    }

    function _member(bytes memory name, bytes memory value, uint256 r) internal pure returns (bytes memory) {
        return bytes.concat(_ws(r), '"', name, '"', _ws(r >> 2), ":", _ws(r >> 4), value, _ws(r >> 6));
    }

    /// @dev The name as written, sometimes (1 in 16) with a letter escaped (\u00XX), which the reader must refuse.
    function _name(string memory name, uint256 r) internal pure returns (bytes memory out) {
        out = bytes(name);
        if (r % 16 != 0) return out;
        uint256 i = (r >> 2) % out.length;
        bytes memory hexDigits = (r >> 10) % 2 == 0 ? bytes("0123456789abcdef") : bytes("0123456789ABCDEF");
        uint8 c = uint8(out[i]);
        bytes memory esc = bytes.concat("\\u00", hexDigits[c >> 4], hexDigits[c & 15]);
        return bytes.concat(_slice(out, 0, i), esc, _slice(out, i + 1, out.length));
    }

    function _ws(uint256 r) internal pure returns (bytes memory) {
        uint256 k = r % 8;
        if (k < 5) return "";
        if (k == 5) return " ";
        if (k == 6) return "\n\t";
        return " \r\n ";
    }

    function _pick(uint256 r, bytes[] memory options) internal pure returns (bytes memory) {
        return options[r % options.length];
    }

    function _typeValues() internal pure returns (bytes[] memory v) {
        v = new bytes[](8);
        v[0] = '"webauthn.get"';
        v[1] = '"webauthn.get"';
        v[2] = '"webauthn.create"';
        v[3] = '"webauthn\\u002eget"';
        v[4] = "1";
        v[5] = "null";
        v[6] = '["webauthn.get"]';
        v[7] = '"webauthn.get\\u0000"';
    }

    function _challengeValues() internal pure returns (bytes[] memory v) {
        v = new bytes[](6);
        v[0] = '"iBBiiOGt1aSBy1WAuRGxqU7YzRM5oWpMA9g8MKydjPI"';
        v[1] = '"iBBiiOGt1aSBy1WAuRGxqU7YzRM5oWpMA9g8MKydjPI="';
        v[2] = '"iBBiiOGt1aSBy1WAuRGxqU7YzRM5oWpMA9g8MKydjPI\\u0041"';
        v[3] = '""';
        v[4] = "{}";
        v[5] = '"a\\/b+c_d-e"';
    }

    function _originValues() internal pure returns (bytes[] memory v) {
        v = new bytes[](7);
        v[0] = '"http://localhost:5173"';
        v[1] = '"https://auth-test.zksync.dev"';
        v[2] = '"android:apk-key-hash:LgM8Zo0Szlu0jhV7pAGGT8AOnySrPBqJ8X-LLfkNtUM"';
        v[3] = '"https:\\/\\/example.org"';
        v[4] = '"\\ud83d\\ude00.example"';
        v[5] = "false";
        v[6] = '"https://\xc3\xa9xample.org"';
    }

    function _crossOriginValues() internal pure returns (bytes[] memory v) {
        v = new bytes[](8);
        v[0] = "false";
        v[1] = "false";
        v[2] = "true";
        v[3] = '"false"';
        v[4] = "null";
        v[5] = "0";
        v[6] = "[]";
        v[7] = "{\"false\":false}";
    }

    function _otherNames() internal pure returns (bytes[] memory v) {
        v = new bytes[](5);
        v[0] = "other_keys_can_be_added_here";
        v[1] = "tokenBinding";
        v[2] = "topOrigin";
        v[3] = "typ\\u0065s";
        v[4] = "challenge\\u0000";
    }

    function _otherValues() internal pure returns (bytes[] memory v) {
        v = new bytes[](7);
        v[0] = '"do not compare clientDataJSON against a template. See https://goo.gl/yabPex"';
        v[1] = '{"status":"present","id":"\\"type\\":\\"webauthn.create\\""}';
        v[2] = '[1, -2.5e3, true, null, {"origin":"x"}]';
        v[3] = '"},\\"type\\":\\"webauthn.create"';
        v[4] = "12345678901234567890";
        v[5] = '{"a":[[],{}],"b":{"c":[{"d":null}]}}';
        v[6] = '"\\\\"';
    }

    /// @dev One random edit: replace, insert or delete a byte; inserted bytes favour JSON's own characters.
    function _mutate(bytes memory json, uint256 r) internal pure returns (bytes memory) {
        bytes memory alphabet = bytes('{}[]":,\\ u0e.-+tfn1a\x01\n\t\x7f\xc3\x00/"');
        uint256 pos = json.length == 0 ? 0 : (r >> 8) % (json.length + 1);
        bytes1 c = alphabet[(r >> 32) % alphabet.length];
        uint256 op = r % 3;
        if (op == 0 && pos < json.length) {
            json[pos] = c;
            return json;
        }
        if (op == 1 && pos < json.length) {
            return bytes.concat(_slice(json, 0, pos), _slice(json, pos + 1, json.length));
        }
        return bytes.concat(_slice(json, 0, pos), bytes.concat(c), _slice(json, pos, json.length));
    }

    // --------------------------------------------------------------------------------------------- helpers

    function _readerAccepts(bytes memory json) internal view returns (bool ok) {
        (ok,) = address(this).staticcall(abi.encodeCall(this.readerSide, (json)));
    }

    function _nested(uint256 depth) internal pure returns (bytes memory out) {
        out = new bytes(2 * depth);
        for (uint256 i = 0; i < depth; ++i) {
            out[i] = "[";
            out[2 * depth - 1 - i] = "]";
        }
    }

    /// @dev 1-4 for challenge, type, origin, crossOrigin after unescaping; 0 for anything else, including a name
    ///      solady cannot unescape (a lone surrogate: never one of the four ASCII names).
    function _nameId(string memory quotedName) internal view returns (uint256) {
        bytes memory name;
        try this.decodeName(quotedName) returns (bytes memory decoded) {
            name = decoded;
        } catch {
            return 0;
        }
        bytes32 h = keccak256(name);
        if (h == keccak256("challenge")) return 1;
        if (h == keccak256("type")) return 2;
        if (h == keccak256("origin")) return 3;
        if (h == keccak256("crossOrigin")) return 4;
        return 0;
    }

    function decodeName(string memory quotedName) external pure returns (bytes memory) {
        return bytes(JSONParserLib.decodeString(quotedName));
    }

    function _refuseControlCharacters(JSONParserLib.Item memory item) internal pure {
        if (item.isString()) {
            _refuseControlBytes(bytes(item.value()));
        } else if (item.isObject() || item.isArray()) {
            JSONParserLib.Item[] memory children = item.children();
            for (uint256 i = 0; i < children.length; ++i) {
                if (item.isObject()) {
                    bytes memory name = bytes(children[i].key());
                    // solady takes the byte before a member name as its opening quote without looking at it.
                    if (name[0] != '"') revert Refused();
                    _refuseControlBytes(name);
                }
                _refuseControlCharacters(children[i]);
            }
        }
    }

    function _refuseControlBytes(bytes memory text) internal pure {
        for (uint256 i = 0; i < text.length; ++i) {
            if (uint8(text[i]) < 0x20) revert Refused();
        }
    }

    function _hasByte(bytes memory text, bytes1 c) internal pure returns (bool) {
        for (uint256 i = 0; i < text.length; ++i) {
            if (text[i] == c) return true;
        }
        return false;
    }

    function _slice(bytes memory data, uint256 start, uint256 end) internal pure returns (bytes memory out) {
        out = new bytes(end - start);
        for (uint256 i = 0; i < out.length; ++i) {
            out[i] = data[start + i];
        }
    }
}
