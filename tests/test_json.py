"""The bounded JSON loader every outside document goes through (issue #14)."""

from __future__ import annotations

import contextlib
import inspect
import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sso_signer._json import JsonLimits, _nesting_depth, parse_json
from sso_signer.exceptions import InvalidInputError

LIMITS = JsonLimits(max_bytes=4096, max_depth=8, max_int_digits=10)


class Refused(InvalidInputError):
    """The error the tests ask the loader to raise."""


class TooBig(InvalidInputError):
    """The oversize error the tests ask for."""


def load(data: str | bytes, limits: JsonLimits = LIMITS, **kwargs: Any) -> Any:
    return parse_json(data, limits=limits, error=Refused, what="doc", **kwargs)


def depth_of(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


# Strings full of what a depth scan could mistake for structure.
_tricky_text = st.text(alphabet='[]{}"\\/ab\u00e9\u20ac\U0001f600\n', max_size=12)
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_tricky_text, inner, max_size=3),
    max_leaves=30,
)


@settings(max_examples=400)
@given(_values, st.booleans())
def test_depth_scan_is_exact_on_valid_json(value: object, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert _nesting_depth(raw, 0) == depth_of(value)


@settings(max_examples=400)
@given(_values, st.booleans())
def test_valid_json_within_limits_parses_like_the_standard_parser(value: object, as_text: bool) -> None:
    text = json.dumps(value)
    roomy = JsonLimits(max_bytes=1 << 20, max_depth=64, max_int_digits=20)
    assert load(text if as_text else text.encode(), roomy) == json.loads(text)


@settings(max_examples=400)
@given(
    st.lists(
        st.sampled_from(['"', '"[', "\\", '\\"', "]", "}", ",", "1", "a"])
        | st.tuples(st.sampled_from(["[", '{"k":', '["x",', '"\\\\",[']), st.integers(0, 40)).map(
            lambda run: run[0] * run[1]
        ),
        max_size=12,
    ).map("".join)
)
def test_the_standard_parser_never_recurses_past_the_bound(text: str) -> None:
    # With the recursion limit just above the bound, any nesting the scan missed would surface as a
    # RecursionError inside the C parser; the loader must refuse first or parse within the bound.
    limits = JsonLimits(max_bytes=1 << 20, max_depth=8, max_int_digits=10)
    message = ""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + limits.max_depth + 25)
    try:
        load(text, limits)
    except Refused as exc:
        message = str(exc)
    finally:
        sys.setrecursionlimit(previous)
    assert "RecursionError" not in message


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_depth_limit_is_inclusive(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    assert depth_of(load(opener * 8 + "0" + closer * 8)) == 8
    with pytest.raises(Refused, match="nests 9 levels deep; the limit is 8"):
        load(opener * 9 + "0" + closer * 9)


@pytest.mark.parametrize(
    "document",
    [
        "[" * 100_000 + "]" * 100_000,
        "[" * 100_000,  # never closed: the parser would still recurse all the way down
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '["\\\\"' + ",[" * 100 + "]" * 100 + "]",  # an escaped backslash does not hide what follows
    ],
)
def test_deep_documents_are_refused_before_parsing(document: str) -> None:
    limits = JsonLimits(max_bytes=1 << 20, max_depth=8, max_int_digits=10)
    with pytest.raises(Refused, match="levels deep"):
        load(document, limits)
    with pytest.raises(Refused, match="levels deep"):
        load(document.encode(), limits)


def test_brackets_inside_strings_do_not_count() -> None:
    doc = json.dumps(["[[[[[[[[[[[[", {"k": "{{{{{{{{{{{{{{", '\\"[[[[[[[[[[': "]]]]"}])
    assert load(doc) == json.loads(doc)


@pytest.mark.parametrize("number", ["9" * 11, "-" + "9" * 11, "9" * 5000, "-" + "1" * 5000])
def test_long_integers_are_refused(number: str) -> None:
    with pytest.raises(Refused, match="digits; the limit is 10"):
        load("[" + number + "]", JsonLimits(max_bytes=1 << 20, max_depth=8, max_int_digits=10))


def test_integers_up_to_the_digit_limit_parse() -> None:
    assert load("[9999999999,-9999999999]") == [9999999999, -9999999999]


def test_integer_digits_are_bounded_even_with_pythons_limit_switched_off() -> None:
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        with pytest.raises(Refused, match="digits"):
            load("1" * 3000, JsonLimits(max_bytes=1 << 20, max_depth=8, max_int_digits=100))
    finally:
        sys.set_int_max_str_digits(previous)


def test_pythons_own_digit_limit_below_ours_is_typed_too() -> None:
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        with pytest.raises(Refused):
            load("1" * 700, JsonLimits(max_bytes=1 << 20, max_depth=8, max_int_digits=1000))
    finally:
        sys.set_int_max_str_digits(previous)


def test_size_limit_uses_the_oversize_error_when_given() -> None:
    big = '"' + "x" * 5000 + '"'
    with pytest.raises(Refused, match="5002 characters long; the limit is 4096"):
        load(big)
    with pytest.raises(TooBig, match="5002 bytes long"):
        parse_json(big.encode(), limits=LIMITS, error=Refused, too_large=TooBig, what="doc")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"\xff[]", "not UTF-8"),
        (b"[1,]", "is not JSON"),
        (b"", "is not JSON"),
        (b"[NaN]", "NaN is not JSON"),
        (b"-Infinity", "-Infinity is not JSON"),
        ("\ufeff[]", "is not JSON"),
        (b"[1] [2]", "is not JSON"),
    ],
)
def test_malformed_documents_raise_the_callers_error(document: str | bytes, message: str) -> None:
    with pytest.raises(Refused, match=message):
        load(document)


def test_a_hooks_typed_error_propagates_unchanged() -> None:
    class Duplicate(InvalidInputError):
        pass

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise Duplicate("repeated key")
        return dict(pairs)

    with pytest.raises(Duplicate):
        load('{"a":1,"a":2}', object_pairs_hook=no_duplicates)
    assert load('{"a":1}', object_pairs_hook=no_duplicates) == {"a": 1}


def test_not_text_is_refused() -> None:
    with pytest.raises(Refused, match="expected JSON text"):
        load(123)  # type: ignore[arg-type]


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_a_value_or_the_typed_error(data: bytes) -> None:
    with contextlib.suppress(Refused):  # any other error fails the test
        load(data)
