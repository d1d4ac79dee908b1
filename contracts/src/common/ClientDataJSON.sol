// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JSONParserLib} from "solady/utils/JSONParserLib.sol";

/// @title ClientDataJSON
/// @notice Reads the four members a WebAuthn validator needs (`type`, `challenge`, `origin`, `crossOrigin`)
///         from clientDataJSON in one pass, validating the whole text as JSON (RFC 8259) on the way.
/// @dev Why not solady's general parser: it builds a tree of every item and the validators then search it four
///      times, which is about two thirds of a passkey validation's gas. This reader keeps no tree; it walks
///      every byte once and remembers where the four top-level members' values are.
///
///      Strictness (proved against solady's parser by contracts/test/common/ClientDataJSONDiff.t.sol):
///      * the whole input must be one JSON value with optional surrounding whitespace (space, \t, \n, \r);
///        objects and arrays at any depth up to `MAX_DEPTH`, strings, numbers, true, false, null are
///        checked to the grammar of RFC 8259, so a member name can never be spoofed inside a string;
///      * strings may not hold raw control characters (< 0x20), as RFC 8259 §7 requires (solady allows them);
///        escapes must be one of \" \\ \/ \b \f \n \r \t \uXXXX; a member name must open with '"' (solady
///        takes any byte there);
///      * a top-level member is one of the four by its raw name, as the official validators (solady's `at`)
///        look it up; a name spelled with escapes that unescapes to one of them (`"\u0074ype"`) is refused,
///        since the official validators would not see it (and a JSON reader would); a top-level object
///        holding one of the four names twice is refused (solady would silently take the last one);
///      * only members of a top-level object count; any other top-level value has none of them.
///      Any violation reverts `ParsingFailed()` (solady's error, same selector).
library ClientDataJSON {
    /// @dev Same name and selector (0x10182796) as solady's `JSONParserLib.ParsingFailed`.
    error ParsingFailed();

    /// @dev Deepest nesting accepted (clientDataJSON has at most 2 levels); deeper input reverts.
    uint256 internal constant MAX_DEPTH = 200;

    /// @dev A located value ("span"): 0 when the member is absent, else
    ///      `start | end << 64 | kind << 128`, offsets into the clientDataJSON bytes (end exclusive).
    uint256 internal constant KIND_STRING = 1; // a string without backslash escapes
    uint256 internal constant KIND_ESCAPED_STRING = 2; // a string with at least one escape
    uint256 internal constant KIND_OTHER = 3; // number, literal, object or array

    /// @notice The spans of the top-level members `challenge`, `type`, `origin` and `crossOrigin`.
    /// @dev Reverts `ParsingFailed()` unless `json` is strict JSON without a duplicate of those four names and
    ///      without a top-level member name that only unescaping turns into one of them.
    function read(bytes memory json)
        internal
        pure
        returns (uint256 challengeAt, uint256 typeAt, uint256 originAt, uint256 crossOriginAt)
    {
        /// @solidity memory-safe-assembly
        assembly {
            function fail() {
                mstore(0x00, 0x10182796) // `ParsingFailed()`.
                revert(0x1c, 0x04)
            }

            // The byte at p, or 0x100 past the end (which matches no character class below).
            function chr(p_, end_) -> c_ {
                c_ := or(byte(0, mload(p_)), shl(8, iszero(lt(p_, end_))))
            }

            function skipWs(p_, end_) -> q_ {
                // ' ', '\t', '\n', '\r'.
                for { q_ := p_ } and(shr(chr(q_, end_), 0x100002600), 1) { q_ := add(q_, 1) } {}
            }

            // p_ at the opening quote; returns the position after the closing quote and whether it has escapes.
            function scanString(p_, end_) -> q_, escaped_ {
                let low_ := 0x7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f
                let ones_ := 0x0101010101010101010101010101010101010101010101010101010101010101
                for { q_ := add(p_, 1) } 1 {} {
                    // 32 bytes at a time: a high bit marks each byte that is '"' (34), '\' (92) or a control
                    // character (< 0x20), computed per byte without carries between bytes. Past the end memory
                    // may hold anything: every stop re-checks the bound, and a zero byte (present somewhere
                    // after the input, at worst past the end of memory) always stops the scan.
                    let w_ := mload(q_)
                    let a_ := xor(w_, mul(ones_, 34))
                    let b_ := xor(w_, mul(ones_, 92))
                    let c_ := and(w_, mul(ones_, 0xe0))
                    let m_ :=
                        not(
                            or(
                                and(and(or(add(and(a_, low_), low_), a_), or(add(and(b_, low_), low_), b_)),
                                    or(add(and(c_, low_), low_), c_)),
                                low_
                            )
                        )
                    if iszero(m_) {
                        q_ := add(q_, 32)
                        continue
                    }
                    // Move to the first marked byte (the most significant one).
                    if iszero(shr(128, m_)) {
                        q_ := add(q_, 16)
                        m_ := shl(128, m_)
                    }
                    if iszero(shr(192, m_)) {
                        q_ := add(q_, 8)
                        m_ := shl(64, m_)
                    }
                    if iszero(shr(224, m_)) {
                        q_ := add(q_, 4)
                        m_ := shl(32, m_)
                    }
                    if iszero(shr(240, m_)) {
                        q_ := add(q_, 2)
                        m_ := shl(16, m_)
                    }
                    if iszero(shr(248, m_)) { q_ := add(q_, 1) }
                    if iszero(lt(q_, end_)) { fail() }
                    c_ := byte(0, mload(q_))
                    if eq(c_, 34) { break }
                    if iszero(eq(c_, 92)) { fail() } // a raw control character
                    escaped_ := 1
                    c_ := chr(add(q_, 1), end_)
                    // '"', '/', '\', 'b', 'f', 'n', 'r', 't'.
                    if and(shr(c_, 0x144044100000000000800400000000), 1) {
                        q_ := add(q_, 2)
                        continue
                    }
                    if iszero(eq(c_, 117)) { fail() } // only 'u' is left
                    if gt(add(q_, 6), end_) { fail() }
                    let h_ := mload(add(q_, 2))
                    for { let i_ := 0 } lt(i_, 4) { i_ := add(i_, 1) } {
                        // '0'-'9', 'A'-'F', 'a'-'f' (offset by '0').
                        if iszero(and(shr(sub(byte(i_, h_), 48), 0x7e0000007e03ff), 1)) { fail() }
                    }
                    q_ := add(q_, 6)
                }
                q_ := add(q_, 1)
            }

            function skipDigits(p_, end_, atLeastOne_) -> q_ {
                for { q_ := p_ } lt(sub(chr(q_, end_), 48), 10) { q_ := add(q_, 1) } {}
                if and(atLeastOne_, eq(q_, p_)) { fail() }
            }

            // p_ at '-' or a digit.
            function scanNumber(p_, end_) -> q_ {
                q_ := p_
                if eq(chr(q_, end_), 45) { q_ := add(q_, 1) } // '-'
                let c_ := chr(q_, end_)
                if iszero(lt(sub(c_, 48), 10)) { fail() }
                q_ := add(q_, 1)
                if iszero(eq(c_, 48)) { q_ := skipDigits(q_, end_, 0) } // no leading zeros
                if eq(chr(q_, end_), 46) { q_ := skipDigits(add(q_, 1), end_, 1) } // '.'
                if eq(or(chr(q_, end_), 0x20), 101) {
                    // 'e' or 'E', then an optional sign.
                    q_ := add(q_, 1)
                    c_ := chr(q_, end_)
                    if or(eq(c_, 43), eq(c_, 45)) { q_ := add(q_, 1) }
                    q_ := skipDigits(q_, end_, 1)
                }
            }

            // Which of the four names a member name (quotes included, [p_, q_)) is, by its raw text as the
            // official validators (solady's `at`) look it up: 1 challenge, 2 type, 3 origin, 4 crossOrigin, 0 none.
            // A name with escapes is none of them (the four have no backslash); see refuseEscapedName.
            function nameId(p_, q_) -> id_ {
                let n_ := sub(q_, add(p_, 2))
                if gt(n_, 11) { leave }
                let w_ := shr(sub(256, shl(3, n_)), mload(add(p_, 1)))
                switch n_
                case 9 { if eq(w_, 0x6368616c6c656e6765) { id_ := 1 } } // "challenge"
                case 4 { if eq(w_, 0x74797065) { id_ := 2 } } // "type"
                case 6 { if eq(w_, 0x6f726967696e) { id_ := 3 } } // "origin"
                case 11 { if eq(w_, 0x63726f73734f726967696e) { id_ := 4 } } // "crossOrigin"
            }

            // Fails if a member name with escapes ([p_, q_), quotes included) unescapes to one of the four: the
            // official validators would not see that member while a JSON reader would, so it is refused.
            function refuseEscapedName(p_, q_) {
                // Unescape into w_; a name of interest is at most 11 ASCII letters, so anything that
                // unescapes to something else (or is longer) is none of them.
                let w_ := 0
                let n_ := 0
                for { let r_ := add(p_, 1) } lt(r_, sub(q_, 1)) {} {
                    if eq(n_, 11) { leave }
                    let c_ := byte(0, mload(r_))
                    r_ := add(r_, 1)
                    if eq(c_, 92) {
                        c_ := byte(0, mload(r_))
                        if iszero(eq(c_, 117)) { leave } // \" \\ \/ \b ... are not letters
                        let h_ := mload(add(r_, 1))
                        c_ := 0
                        for { let i_ := 0 } lt(i_, 4) { i_ := add(i_, 1) } {
                            let d_ := byte(i_, h_)
                            // hex digit value: '0'-'9', 'A'-'F', 'a'-'f' (already validated)
                            d_ := sub(d_, add(48, add(mul(gt(d_, 57), 7), mul(gt(d_, 96), 32))))
                            c_ := or(shl(4, c_), d_)
                        }
                        r_ := add(r_, 5)
                    }
                    w_ := or(shl(8, w_), c_)
                    n_ := add(n_, 1)
                    if gt(c_, 0x7f) { leave } // not ASCII, so not one of the names
                }
                if or(
                    or(and(eq(n_, 9), eq(w_, 0x6368616c6c656e6765)), and(eq(n_, 4), eq(w_, 0x74797065))),
                    or(and(eq(n_, 6), eq(w_, 0x6f726967696e)), and(eq(n_, 11), eq(w_, 0x63726f73734f726967696e)))
                ) { fail() }
            }

            // Walks the whole value in [base_, end_); writes the span of top-level member id (1-4) at
            // out_ + 32 * (id - 1). `flags_` packs: bit 0 the root is an object, bits 1-4 the names seen,
            // bits 8+ the name id of the top-level member being read.
            function walk(base_, end_, out_) {
                let p_ := base_
                let depth_ := 0
                let objects_ := 0 // bit i: the container at depth i + 1 is an object
                let flags_ := 0
                let memberStart_ := 0
                for {} 1 {} {
                    // ---- a value starts at p_ (after whitespace)
                    p_ := skipWs(p_, end_)
                    let c_ := chr(p_, end_)
                    let start_ := p_
                    let kind_ := 3
                    let opened_ := 0
                    switch c_
                    case 34 {
                        let escaped_ := 0
                        p_, escaped_ := scanString(p_, end_)
                        kind_ := add(1, escaped_)
                    }
                    case 123 {
                        // '{'
                        opened_ := 1
                        objects_ := or(objects_, shl(depth_, 1))
                    }
                    case 91 {
                        // '['
                        opened_ := 1
                    }
                    case 116 {
                        // 'true'
                        if or(gt(add(p_, 4), end_), iszero(eq(shr(224, mload(p_)), 0x74727565))) { fail() }
                        p_ := add(p_, 4)
                    }
                    case 102 {
                        // 'false'
                        if or(gt(add(p_, 5), end_), iszero(eq(shr(216, mload(p_)), 0x66616c7365))) { fail() }
                        p_ := add(p_, 5)
                    }
                    case 110 {
                        // 'null'
                        if or(gt(add(p_, 4), end_), iszero(eq(shr(224, mload(p_)), 0x6e756c6c))) { fail() }
                        p_ := add(p_, 4)
                    }
                    default {
                        // '-' or a digit; anything else (including the end of the input) fails.
                        if iszero(or(eq(c_, 45), lt(sub(c_, 48), 10))) { fail() }
                        p_ := scanNumber(p_, end_)
                    }
                    if opened_ {
                        if iszero(depth_) { flags_ := eq(c_, 123) }
                        if eq(depth_, 1) { memberStart_ := start_ }
                        depth_ := add(depth_, 1)
                        if gt(depth_, MAX_DEPTH) { fail() }
                        p_ := skipWs(add(p_, 1), end_)
                        if eq(chr(p_, end_), add(c_, 2)) {
                            // '{' + 2 = '}', '[' + 2 = ']': an empty container is a complete value.
                            p_ := add(p_, 1)
                            depth_ := sub(depth_, 1)
                            objects_ := and(objects_, not(shl(depth_, 1)))
                            opened_ := 0
                            start_ := memberStart_
                        }
                    }
                    if iszero(opened_) {
                        // ---- after a complete value: record it, then close containers until one continues
                        for {} 1 {} {
                            // A member of the top-level object that the validators read.
                            if and(eq(depth_, 1), and(flags_, gt(flags_, 0xff))) {
                                mstore(
                                    add(out_, shl(5, sub(shr(8, flags_), 1))),
                                    or(or(sub(start_, base_), shl(64, sub(p_, base_))), shl(128, kind_))
                                )
                            }
                            if iszero(depth_) {
                                // The root is complete: only whitespace may follow.
                                if iszero(eq(skipWs(p_, end_), end_)) { fail() }
                                leave
                            }
                            p_ := skipWs(p_, end_)
                            c_ := chr(p_, end_)
                            if eq(c_, 44) {
                                // ','
                                p_ := add(p_, 1)
                                break
                            }
                            // '}' closes an object, ']' an array.
                            if iszero(eq(c_, add(93, shl(5, and(shr(sub(depth_, 1), objects_), 1))))) { fail() }
                            p_ := add(p_, 1)
                            depth_ := sub(depth_, 1)
                            objects_ := and(objects_, not(shl(depth_, 1)))
                            // The closed container is itself a complete value of its parent.
                            start_ := memberStart_
                            kind_ := 3
                        }
                    }
                    // ---- the next value: in an object, a member name and ':' come first
                    if and(shr(sub(depth_, 1), objects_), 1) {
                        p_ := skipWs(p_, end_)
                        if iszero(eq(chr(p_, end_), 34)) { fail() }
                        let nameStart_ := p_
                        let escaped_ := 0
                        p_, escaped_ := scanString(p_, end_)
                        if and(eq(depth_, 1), and(flags_, 1)) {
                            if escaped_ { refuseEscapedName(nameStart_, p_) }
                            let id_ := nameId(nameStart_, p_)
                            // A repeated name that the validators read is refused.
                            if and(shr(id_, flags_), gt(id_, 0)) { fail() }
                            flags_ := or(and(or(flags_, shl(id_, 1)), 0xff), shl(8, id_))
                        }
                        p_ := skipWs(p_, end_)
                        if iszero(eq(chr(p_, end_), 58)) { fail() } // ':'
                        p_ := add(p_, 1)
                    }
                }
            }

            // The common shape, straight-line: an object whose members are strings or true/false/null. Returns
            // 0 (spans unspecified) at anything else, or at a repeated name, and the general walk decides;
            // whatever it accepts, the general walk accepts with the same spans. It reverts itself only at a
            // top-level name the general walk refuses too (a read name spelled with escapes).
            function fastWalk(base_, end_, out_) -> ok_ {
                let ws_ := 0x100002600 // ' ', '\t', '\n', '\r'
                let p_ := base_
                for {} and(and(shr(byte(0, mload(p_)), ws_), 1), lt(p_, end_)) { p_ := add(p_, 1) } {}
                if iszero(and(eq(byte(0, mload(p_)), 123), lt(p_, end_))) { leave }
                let seen_ := 0
                for {} 1 {} {
                    p_ := add(p_, 1)
                    for {} and(and(shr(byte(0, mload(p_)), ws_), 1), lt(p_, end_)) { p_ := add(p_, 1) } {}
                    if iszero(and(eq(byte(0, mload(p_)), 34), lt(p_, end_))) { leave }
                    let q_, escaped_ := scanString(p_, end_)
                    if escaped_ { refuseEscapedName(p_, q_) }
                    let id_ := nameId(p_, q_)
                    if and(shr(id_, seen_), 1) { leave }
                    seen_ := or(seen_, shl(id_, 1))
                    p_ := q_
                    for {} and(and(shr(byte(0, mload(p_)), ws_), 1), lt(p_, end_)) { p_ := add(p_, 1) } {}
                    if iszero(and(eq(byte(0, mload(p_)), 58), lt(p_, end_))) { leave }
                    p_ := add(p_, 1)
                    for {} and(and(shr(byte(0, mload(p_)), ws_), 1), lt(p_, end_)) { p_ := add(p_, 1) } {}
                    let start_ := p_
                    let kind_ := 3
                    let w_ := mload(p_)
                    switch byte(0, w_)
                    case 34 {
                        if iszero(lt(p_, end_)) { leave }
                        p_, escaped_ := scanString(p_, end_)
                        kind_ := add(1, escaped_)
                    }
                    case 102 {
                        if or(gt(add(p_, 5), end_), iszero(eq(shr(216, w_), 0x66616c7365))) { leave } // false
                        p_ := add(p_, 5)
                    }
                    default {
                        // true, null
                        if gt(add(p_, 4), end_) { leave }
                        if iszero(or(eq(shr(224, w_), 0x74727565), eq(shr(224, w_), 0x6e756c6c))) { leave }
                        p_ := add(p_, 4)
                    }
                    if id_ {
                        mstore(
                            add(out_, shl(5, sub(id_, 1))),
                            or(or(sub(start_, base_), shl(64, sub(p_, base_))), shl(128, kind_))
                        )
                    }
                    for {} and(and(shr(byte(0, mload(p_)), ws_), 1), lt(p_, end_)) { p_ := add(p_, 1) } {}
                    if iszero(lt(p_, end_)) { leave }
                    let c_ := byte(0, mload(p_))
                    if eq(c_, 44) { continue } // ','
                    if iszero(eq(c_, 125)) { leave } // '}'
                    break
                }
                p_ := add(p_, 1)
                for {} and(and(shr(byte(0, mload(p_)), ws_), 1), lt(p_, end_)) { p_ := add(p_, 1) } {}
                ok_ := eq(p_, end_)
            }

            let out := mload(0x40)
            let base := add(json, 0x20)
            let end := add(base, mload(json))
            mstore(out, 0)
            mstore(add(out, 0x20), 0)
            mstore(add(out, 0x40), 0)
            mstore(add(out, 0x60), 0)
            if iszero(fastWalk(base, end, out)) {
                mstore(out, 0)
                mstore(add(out, 0x20), 0)
                mstore(add(out, 0x40), 0)
                mstore(add(out, 0x60), 0)
                walk(base, end, out)
            }
            challengeAt := mload(out)
            typeAt := mload(add(out, 0x20))
            originAt := mload(add(out, 0x40))
            crossOriginAt := mload(add(out, 0x60))
        }
    }

    /// @notice Whether the span is a present string member.
    function isString(uint256 span) internal pure returns (bool) {
        uint256 kind = span >> 128;
        return kind == KIND_STRING || kind == KIND_ESCAPED_STRING;
    }

    /// @notice The decoded value of a string span (escapes resolved as solady's `decodeString` does).
    /// @dev The span must be a string (`isString`); a string escape solady cannot decode (a lone surrogate)
    ///      reverts `ParsingFailed()`.
    function stringValue(bytes memory json, uint256 span) internal pure returns (bytes memory) {
        uint256 start = uint64(span);
        uint256 end = uint64(span >> 64);
        if (span >> 128 == KIND_STRING) return _copy(json, start + 1, end - 1);
        return bytes(JSONParserLib.decodeString(string(_copy(json, start, end))));
    }

    /// @notice Whether a string span's value is exactly `webauthn.get`.
    function isWebauthnGet(bytes memory json, uint256 span) internal pure returns (bool result) {
        if (span >> 128 == KIND_STRING) {
            uint256 start = uint64(span);
            uint256 end = uint64(span >> 64);
            if (end - start != 14) return false; // "webauthn.get" with its quotes
            /// @solidity memory-safe-assembly
            assembly {
                // The 12 bytes after the opening quote.
                result := eq(shr(160, mload(add(add(json, 0x21), start))), 0x776562617574686e2e676574)
            }
            return result;
        }
        return keccak256(stringValue(json, span)) == keccak256("webauthn.get");
    }

    /// @notice Whether the span is the literal `false` (a string "false" is not).
    function isFalse(bytes memory json, uint256 span) internal pure returns (bool result) {
        uint256 start = uint64(span);
        if (uint64(span >> 64) - start != 5) return false;
        /// @solidity memory-safe-assembly
        assembly {
            result := eq(shr(216, mload(add(add(json, 0x20), start))), 0x66616c7365)
        }
    }

    /// @dev json[start:end] as new bytes.
    function _copy(bytes memory json, uint256 start, uint256 end) private pure returns (bytes memory out) {
        /// @solidity memory-safe-assembly
        assembly {
            let n := sub(end, start)
            out := mload(0x40)
            mstore(out, n)
            let src := add(add(json, 0x20), start)
            let dst := add(out, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 0x20) } { mstore(add(dst, i), mload(add(src, i))) }
            mstore(add(dst, n), 0) // zero the tail of the last word
            mstore(0x40, add(dst, and(add(n, 0x3f), not(0x1f))))
        }
    }
}
