"""The expectation grammar: parsing, evaluation, messages and syntax errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from agent.expect.expression import MISSING, Expectation, ExpectationSyntaxError, ResponseView, parse, parse_subject

DOC = {
    "items": [{"sku": "ABC-1", "qty": 2, "price": 9.5}, {"sku": "DEF-2", "qty": 1, "price": 20}],
    "token": "0123456789abcdef0123456789abcdef",
    "weird key": "yes",
    "paid": True,
    "note": None,
    "total": 29.5,
    "tags": ["new", "sale"],
    "meta": {"region": "eu"},
}


def view(body: str | bytes | None = None, status: int | None = 200, duration_s: float = 0.25,
         headers: Any = None, cert_days: float | None = 45.0) -> ResponseView:
    if headers is None:
        headers = CIMultiDictProxy(CIMultiDict([("Content-Type", "application/json"), ("X-Count", "5"),
                                                ("Set-Cookie", "session=abc"), ("Set-Cookie", "theme=dark"),
                                                ("Age", "90")]))
    return ResponseView(status=status, duration_s=duration_s, body=json.dumps(DOC) if body is None else body,
                        headers=headers, cert_expires_in_days=cert_days)


HOLDS = [
    # status
    "status == 200", "status != 404", "status < 300", "status <= 200", "status > 199", "status >= 200",
    "status in [200, 201]", "status not in [500, 503]", "status exists", "status matches '^2'",
    # duration: plain numbers are seconds
    "duration < 800ms", "duration <= 1s", "duration > 0.1", "duration >= 250ms", "duration < 1h30m",
    "duration == 250ms", "duration exists",
    # body
    'body contains "ABC-1"', 'body not contains "XYZ"', 'body matches "\\"total\\": *[0-9.]+"',
    "body matches '\\d+'", "body contains 29.5", "body exists",
    # json
    'json.items[0].sku == "ABC-1"', "json.items[0].sku == 'ABC-1'", "json.items[1].qty == 1",
    "json.items[0].price == 9.5", "json.total > 20", "json.total < 30.0", "json.paid == true",
    "json.paid != false", "json.paid != 1", 'json.tags == ["new", "sale"]', 'json.tags contains "sale"',
    'json.tags not contains "old"', 'json.meta contains "region"', 'json.meta not contains "zone"',
    'json.token matches "^[0-9a-f]{32}$"', "json.token exists", "json.nope not exists",
    "json.note not exists", "json.note == null", "json.nope == null", 'json."weird key" == "yes"',
    "json.length(items) == 2", "json.length(items) >= 2", "json.items[?sku=='ABC-1'].qty | [0] == 2",
    "json.items[?qty > `1`].sku == ['ABC-1']", 'json.items[*].sku in [["ABC-1", "DEF-2"], []]',
    'json.meta.region in ["eu", "us"]', "json.items[0].qty == 2.0", 'json.token != "x"',
    "json.total >= 29.5", "json.items[0] exists",
    # header: case-insensitive, numeric text compared as a number, repeated values joined
    'header.content-type contains "json"', 'header.CONTENT-TYPE == "application/json"',
    "header.x-count == 5", "header.X-Count > 4", "header.x-count in [4, 5]", 'header.x-count == "5"',
    'header.set-cookie contains "session="', 'header.set-cookie contains "theme=dark"',
    "header.age < 2m", "header.nope not exists", "header.nope == null", "header.x-count matches '^5$'",
    # cert: days; durations are converted to days
    "cert.expires_in > 30", "cert.expires_in > 14d", "cert.expires_in < 1000", "cert.expires_in exists",
    # spacing and quoting
    "  status==200  ", "status in[200]", "status\tin [ 200 , 201 ]", 'body contains "\\u0041BC-1"',
    "status != null", "json.items[0].sku not in ['XYZ']",
]


@pytest.mark.parametrize("text", HOLDS, ids=HOLDS)
def test_expectation_holds(text: str) -> None:
    assert parse(text).evaluate(view()) is None


FAILS = [
    ('json.items[0].sku == "XYZ"', None, ['expected json.items[0].sku == "XYZ", saw "ABC-1"']),
    ("status in [200, 201]", view(status=503), ["expected status in [200, 201], saw 503"]),
    ("status == 200", view(status=None), ["expected status == 200, saw nothing (no response status)"]),
    ("status != 503", view(status=503), ["expected status != 503, saw 503"]),
    ("status not in [500, 503]", view(status=503), ["expected status not in [500, 503], saw 503"]),
    ("status < 300", view(status=404), ["expected status < 300, saw 404"]),
    ("status < 200", view(status=200), ["expected status < 200, saw 200"]),  # the boundary: < is not <=
    ("status > 200", view(status=200), ["expected status > 200, saw 200"]),
    ("duration < 750ms", view(duration_s=0.75), ["expected duration < 750ms, saw 750ms"]),
    ("status >= 500", None, ["expected status >= 500, saw 200"]),
    ("duration < 800ms", view(duration_s=1.204), ["expected duration < 800ms, saw 1.204s"]),
    ("duration <= 0.5", view(duration_s=0.75), ["expected duration <= 0.5, saw 750ms"]),
    ("duration > 2m", view(duration_s=90), ["expected duration > 2m, saw 1m30s"]),
    ("json.token exists", view(body="<html><body>Service Unavailable, please retry</body></html>"),
     ["expected json.token exists, saw nothing (body is not JSON: '<html><body>", "…'"]),
    ("json.token exists", view(body=""), ["saw nothing (body is empty, not JSON)"]),
    ("json.nope exists", None, ["expected json.nope exists, saw nothing (json.nope is null or absent)"]),
    ("json.token not exists", None, ['expected json.token not exists, saw "0123456789abcdef']),
    ('json.nope != "x"', None, ["saw nothing (json.nope is null or absent)"]),
    ("json.note != null", None, ["expected json.note != null, saw nothing"]),
    ("json.paid == 1", None, ["expected json.paid == 1, saw true"]),
    ("json.total < 10", None, ["expected json.total < 10, saw 29.5"]),
    ("json.items[0].sku > 3", None, ['expected json.items[0].sku > 3, saw "ABC-1" (text, not a number)']),
    ("json.meta < 3", None, ['saw {"region": "eu"} (an object, not a number)']),
    ('json.tags contains "old"', None, ['expected json.tags contains "old", saw ["new", "sale"]']),
    ('json.tags not contains "new"', None, ['saw ["new", "sale"]']),
    ("json.total contains 2", None, ["saw 29.5 (cannot look for a number in a number)"]),
    ('json.meta matches "eu"', None, ["(an object, not text)"]),
    ('json.tags == ["sale", "new"]', None, ['expected json.tags == ["sale", "new"], saw ["new", "sale"]']),
    ("json.length(@) > 100", view(body="5"), ["saw nothing (json.length(@) failed: In function length()"]),
    ('json.token matches "^x"', None, ['expected json.token matches "^x", saw "0123456789abcdef']),
    ('body contains "nothing-like-this"', view(body="x" * 1000),
     ['expected body contains "nothing-like-this", saw "xxxx', '…" (1000 characters)']),
    ('body == "a\\nb"', view(body="ab"), ['expected body == "a\\nb", saw "ab"']),
    ('body not contains "ABC"', None, ['expected body not contains "ABC", saw "{']),
    ("header.x-count < 3", None, ['expected header.x-count < 3, saw "5"']),
    ("header.x-count == 6", None, ['expected header.x-count == 6, saw "5"']),
    ("header.content-type > 3", None, ['saw "application/json" (text, not a number)']),
    ('header.location == "/next"', None,
     ['expected header.location == "/next", saw nothing (no location header)']),
    ("header.location exists", view(headers={"content-type": "text/plain"}),
     ["saw nothing (no location header)"]),
    ("header.content-type not exists", None,
     ['expected header.content-type not exists, saw "application/json"']),
    ("cert.expires_in > 30", view(cert_days=3.21), ["expected cert.expires_in > 30, saw 3.2 days"]),
    ("cert.expires_in > 14d", view(cert_days=None), ["saw nothing (not a TLS connection)"]),
    ("cert.expires_in exists", view(cert_days=None), ["expected cert.expires_in exists, saw nothing"]),
]


@pytest.mark.parametrize(("text", "response", "fragments"), FAILS, ids=[f[0] for f in FAILS])
def test_expectation_fails_with_message(text: str, response: ResponseView | None,
                                        fragments: list[str]) -> None:
    message = parse(text).evaluate(response or view())
    assert message is not None
    for fragment in fragments:
        assert fragment in message


def test_long_body_is_cut_in_the_message() -> None:
    message = parse('body contains "needle"').evaluate(view(body="y" * 10_000))
    assert message is not None and "…" in message and len(message) < 400


def test_plain_dict_headers_are_looked_up_case_insensitively() -> None:
    response = view(headers={"Content-Type": "text/html", "x-trace": "abc"})
    assert parse('header.content-type == "text/html"').evaluate(response) is None
    assert parse('header.X-TRACE == "abc"').evaluate(response) is None
    assert parse_subject("header.X-Trace").resolve(response) == "abc"


@pytest.mark.parametrize(("text", "expected"), [
    ("status", 200), ("duration", 0.25), ("body", "hello"), ("header.content-type", "application/json"),
    ("cert.expires_in", 45.0), ("json.token", MISSING), ("header.nope", MISSING),
], ids=["status", "duration", "body", "header", "cert", "json-not-json", "header-absent"])
def test_subject_resolves(text: str, expected: Any) -> None:
    assert parse_subject(text).resolve(view(body="hello")) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("json.items[0].sku", "ABC-1"), ("json.tags", ["new", "sale"]), ("json.note", MISSING),
    ("json.nope", MISSING), ("json.length(items)", 2), ('json."weird key"', "yes"), ("json.@.paid", True),
], ids=["path", "list", "null", "absent", "function", "quoted-key", "current-node"])
def test_json_subject_resolves(text: str, expected: Any) -> None:
    assert parse_subject(text).resolve(view()) == expected


def test_status_and_cert_missing() -> None:
    assert parse_subject("status").resolve(view(status=None)) is MISSING
    assert parse_subject("cert.expires_in").resolve(view(cert_days=None)) is MISSING


def test_json_body_is_parsed_once_and_not_json_is_missing() -> None:
    response = view()
    assert response.json() is response.json()
    assert view(body="<html>").json() is MISSING
    assert view(body="null").json() is None


def test_parse_is_cached_and_parts_are_exposed() -> None:
    first = parse("status in [200, 201]")
    assert first is parse("status in [200, 201]")
    assert isinstance(first, Expectation)
    assert (first.text, first.subject.text, first.op, first.value) == ("status in [200, 201]", "status", "in",
                                                                        (200, 201))
    assert parse("duration < 1h30m").value == 5400
    assert parse("json.a == -2.5e1").value == -25.0
    assert parse("json.a != null").value is None


def test_json_path_keeps_operators_inside_brackets() -> None:
    expectation = parse("json.items[?sku=='ABC-1' && qty >= `2`].price | [0] == 9.5")
    assert expectation.subject.text == "json.items[?sku=='ABC-1' && qty >= `2`].price | [0]"
    assert expectation.op == "==" and expectation.evaluate(view()) is None


SYNTAX_ERRORS = [
    ("status = 200", "unknown operator '='", 8),
    ("status === 200", "unknown operator '==='", 8),
    ("status is 200", "unknown operator 'is'", 8),
    ("json.a = 1", "unknown operator '='", 8),
    ("status not 200", "'not' must be followed by in, contains or exists", 8),
    ("status", "missing operator", 7),
    ("json.a==1", "put spaces around the operator", 9),
    ("status ==", "missing value after '=='", 10),
    ("body contains   ", "missing value after 'contains'", 17),
    ('body == "abc', "unterminated string", 9),
    ("body == 'abc\\'", "unterminated string", 9),
    ('body matches "("', "invalid regex '('", 14),
    ('body matches "a{2,1}"', "invalid regex", 14),
    ("body matches 12", "'matches' needs a quoted regex", 14),
    ("json.items[0 == 1", "invalid JSON path 'items[0 == 1'", 14),
    ("json.a[?b=='x == 1", "unterminated ' quote in the JSON path", 12),
    ("json.nosuch(a) == 1", "unknown function nosuch()", 6),
    ("json.length(a, b) == 1", "length() takes 1 argument, got 2", 6),
    ("json. == 1", "missing JSON path", 6),
    ("status == 200 201", "unexpected '201' after the value", 15),
    ("status == 200 and more", "unexpected 'and' after the value", 15),
    ("json.a exists now", "unexpected 'now' after 'exists'", 15),
    ("status in 200", "'in' needs a list such as [200, 201]", 11),
    ("status not in 'abc'", "'not in' needs a list", 15),
    ("status < 'abc'", "'<' needs a number or a duration", 10),
    ("duration >= true", "'>=' needs a number or a duration", 13),
    ("status in [200, 201", "unterminated list", 11),
    ("status in [200 201]", "expected ',' or ']' in the list", 16),
    ("status in [200,]", "expected a value", 16),
    ("status == ok", "expected a value", 11),
    ("status == __import__('os')", "expected a value", 11),
    ("duration < -1s", "a duration cannot be negative", 12),
    ("duration < 5x", "invalid number or duration '5x'", 12),
    ("duration < 1m30", "invalid number or duration", 12),
    ('body == "\\u12"', "invalid \\u escape", 10),
    ("", "missing subject", 1),
    ("   ", "missing subject", 4),
    ("== 200", "unknown subject '=='", 1),
    ("statuses == 200", "unknown subject 'statuses'", 1),
    ("cert.expires == 1", "unknown subject", 1),
    ("header. == 1", "missing header name", 8),
    ("status in " + "[" * 40 + "]" * 40, "lists nested too deeply", 43),
]


@pytest.mark.parametrize(("text", "reason", "column"), SYNTAX_ERRORS,
                         ids=[e[0].strip() or f"blank-{len(e[0])}" for e in SYNTAX_ERRORS])
def test_syntax_error(text: str, reason: str, column: int) -> None:
    with pytest.raises(ExpectationSyntaxError) as info:
        parse(text)
    assert reason in info.value.reason
    assert info.value.column == column
    assert str(info.value).startswith(f"invalid expectation {text!r}: ")
    assert str(info.value).endswith(f" at column {column}")


def test_syntax_error_message_format_and_subject_errors() -> None:
    with pytest.raises(ExpectationSyntaxError, match=r"^invalid expectation 'status = 200': unknown operator "
                                                     r"'=' at column 8$"):
        parse("status = 200")
    with pytest.raises(ExpectationSyntaxError, match="unexpected '=='"):
        parse_subject("json.token == 1")
    with pytest.raises(ExpectationSyntaxError, match="invalid JSON path"):
        parse_subject("json.a[")
    assert isinstance(ExpectationSyntaxError("x", "y", 1), ValueError)


TOKENS = ["status", "duration", "body", "json.", "json.items[0].sku", "json.a[?b=='c']", "header.",
          "header.X-Count", "cert.expires_in", "cert", "==", "!=", "<", "<=", ">", ">=", "=", "in", "not",
          "contains", "matches", "exists", "[", "]", ",", "(", ")", "'", '"', "`", "\\", "|", "&&", "?",
          "200", "-1", "1.5", "1e3", "250ms", "1h30m", "-2s", "true", "false", "null", "'a b'", '"\\d+"',
          "'('", "[1, 2]", "@", "length(items)", "*", ".", "{", "}", "\\u00", " ", "\t", "é", "\x00"]
OPS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains", "not contains", "matches", "exists",
       "not exists"]


SUBJECT_TEXTS = ["status", "duration", "body", "json.token", "json.items[0].sku", "json.length(items)",
                 "json.items[?sku=='ABC-1'] | [0]", "header.X-Count", "cert.expires_in"]
SCALARS = st.one_of(st.integers().map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr),
                    st.text(max_size=10).map(lambda t: json.dumps(t, ensure_ascii=False)),
                    st.sampled_from(["250ms", "2s", "1h30m", "14d", "true", "false", "null", "'a\\'b'"]))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3).map(lambda items: f"[{', '.join(items)}]"))
SHAPED = st.builds(lambda subject, op, value: f"{subject} {op} {' '.join(value)}",
                   st.sampled_from(SUBJECT_TEXTS), st.sampled_from(OPS),
                   st.one_of(st.lists(st.sampled_from(TOKENS), max_size=4), VALUES.map(lambda v: [v])))


@given(st.one_of(st.text(), st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join),
                 st.lists(st.sampled_from(TOKENS), max_size=12).map("".join), SHAPED))
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
def test_parse_returns_an_expectation_or_raises_syntax_error(text: str) -> None:
    try:
        expectation = parse(text)
    except ExpectationSyntaxError as exc:
        assert exc.column >= 1
        return
    assert isinstance(expectation, Expectation)
    message = expectation.evaluate(view())
    assert message is None or message.startswith("expected ")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["items", "token", "sku", "a"]), inner, max_size=4),
    max_leaves=20)
FIXED = [
    "status == 200", "duration < 1s", 'body contains "x"', "body matches '^{'", "json.token exists",
    'json.items[0].sku == "ABC-1"', "json.items not contains 3", "json.length(items) > 1",
    "json.token in [1, 'a', null]", "json.a < 5", 'json.sku matches "^A"', "json.@ contains 'a'",
    "json.token != [1, [2]]", "header.x-count >= 5", 'header.x-count contains "5"', "cert.expires_in < 7d",
]


@given(body=st.one_of(st.text(), JSON_VALUES.map(json.dumps)),
       headers=st.dictionaries(st.sampled_from(["X-Count", "x-count", "Other"]), st.text(max_size=30)),
       status=st.none() | st.integers(100, 599))
@settings(max_examples=300)
def test_evaluate_never_raises_on_arbitrary_responses(body: str, headers: dict[str, str],
                                                      status: int | None) -> None:
    response = view(body=body, headers=headers, status=status)
    for text in FIXED:
        message = parse(text).evaluate(response)
        assert message is None or message.startswith(f"expected {parse(text).subject.text} ")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@given(body=st.one_of(st.text(), JSON_VALUES.map(json.dumps)).filter(_encodes))
@settings(max_examples=300)
def test_a_body_judged_as_bytes_gets_the_verdicts_it_gets_as_text(body: str) -> None:
    """`contains`, `matches` and `json.*` read a UTF-8 body's bytes; the text gives the same verdicts."""
    as_text = view(body=body)
    for text in [*FIXED, f"body contains {json.dumps(body[1:4])}", f"body not contains {json.dumps(body[:2])}"]:
        as_bytes = view(body=body.encode("utf-8"))  # a new view each time, as above
        assert (parse(text).evaluate(as_text) is None) == (parse(text).evaluate(as_bytes) is None), text


@given(raw=st.binary(max_size=40) | st.lists(st.sampled_from([b"caf", b"\xe9", b"\xc3\xa9", b'"', b"{", b"}",
                                                                  b"\xef\xbf\xbd", b"a", b"\xff"])).map(b"".join))
@settings(max_examples=300)
def test_bytes_that_are_not_utf8_get_the_verdicts_of_their_text(raw: bytes) -> None:
    """Undecodable bytes are U+FFFD in the text: `contains`, `matches` and `json.*` see that too."""
    as_text = view(body=raw.decode("utf-8", errors="replace"))
    for text in [*FIXED, 'body contains "\ufffd"', 'body not contains "caf\ufffd"', 'body matches "caf."',
                 'body matches "caf[^a-z]"', "body matches '^\\C$'", 'json.name contains "\ufffd"']:
        as_bytes = view(body=raw)  # a new view each time: a json.* check decodes the body, and text answers after
        assert (parse(text).evaluate(as_text) is None) == (parse(text).evaluate(as_bytes) is None), (text, raw)


@pytest.mark.parametrize(("body", "expectation"), [
    (b'{"a": NaN}', "json.a exists"),  # orjson refuses NaN; the standard library reads it
    (b'{"n": 123456789012345678901234567890}', "json.n == 123456789012345678901234567890"),  # past 64 bits
    (b'{"m": -9223372036854775809}', "json.m == -9223372036854775809"),  # below -2**63
    (b'{"s": "caf\xe9"}', 'json.s == "caf\ufffd"'),  # invalid UTF-8: read as text, the byte replaced
    (b'\xef\xbb\xbf{"a": 1}', "json.a not exists"),  # a BOM is not JSON, either way
], ids=["nan", "big-integer", "below-int64", "invalid-utf8", "bom"])
def test_json_the_fast_parser_refuses_is_read_as_text(body: bytes, expectation: str) -> None:
    assert parse(expectation).evaluate(view(body=body)) is None


def test_a_failed_search_of_a_large_body_shows_its_beginning_and_size_in_bytes() -> None:
    message = parse('body contains "needle"').evaluate(view(body=b"\xc3\xa9" * 5_000))
    assert message is not None and message.startswith('expected body contains "needle", saw "éé')
    assert message.endswith('…" (10000 bytes)') and len(message) < 400
