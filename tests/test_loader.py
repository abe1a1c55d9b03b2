"""Loading journey files: values, defaults, and every problem as FILE:LINE: message."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from agent.journey.loader import LoadError, Problem, expand_paths, load_journey_file, load_journeys
from agent.journey.model import Journey

FIXTURES = Path(__file__).parent / "fixtures"
INVALID = FIXTURES / "invalid"
VALID = FIXTURES / "valid"

# fixture name -> (line of the problem, exact fragment of its message); one rule per file.
EXPECTED: dict[str, tuple[int, str]] = {
    "unknown-key": (2, "unknown key 'retries', did you mean 'retry'?"),
    "python-field-name": (7, "steps[0].http: unknown key 'json_body', did you mean 'json'?"),
    "bad-browser-action": (6, "steps[0].browser[1]: unknown key 'clik', did you mean 'click'?"),
    "missing-name": (2, "missing required key 'name'"),
    "missing-url": (4, "steps[0].http: missing required key 'url'"),
    "slo-without-owner": (6, "slos[0]: missing required key 'owner'"),
    "bad-name": (1, "name: 'Check Out' is not allowed here: use lower case letters, digits"),
    "bad-duration": (2, "interval: invalid duration '5 minutes': use ms, s, m, h or d"),
    "zero-step-timeout": (4, "steps[0].timeout: must be greater than 0, got 0"),
    "window-too-short": (8, "slos[0].window: must be at least 1h, got 30m"),
    "too-many-attempts": (2, "retry.attempts: must be at most 10, got 20"),
    "timeout-over-interval": (3, "timeout (60s) must not exceed interval (30s)"),
    "blank-owner": (8, "slos[0].owner: owner must name a person or role"),
    "bad-objective": (7, "slos[0].objective: invalid objective 'high': use 99.5% or 0.995"),
    "objective-over-100": (7, "slos[0].objective: objective '100%' must lie strictly between 0% and 100%"),
    "bad-indicator": (7, "slos[0].indicator: expected 'success' or a mapping, got 'fast'"),
    "duplicate-slo-names": (7, "SLO names must be unique"),
    "no-steps": (2, "steps: must not be empty"),
    "steps-not-a-list": (2, "steps: expected a list, got a mapping"),
    "two-step-kinds": (5, "steps[0]: a step needs exactly one of http, browser or script, "
                          "not http and script"),
    "no-step-kind": (3, "steps[0]: a step needs exactly one of http, browser or script"),
    "duplicate-step-names": (5, "step names must be unique: home repeated"),
    "json-and-body": (8, "steps[0].http: give at most one of json, body and form, not json and body"),
    "bad-method": (5, "steps[0].http.method: expected 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE' or "
                      "'OPTIONS', got 'FETCH'"),
    "unquoted-header-bool": (7, "steps[0].http.headers.X-Debug: expected a string, got true "
                                "(quote it to make it a string)"),
    "bad-label-key": (4, "labels: label 'Cost-Center': use lower case letters, digits and _"),
    "reserved-label": (2, "labels: label 'journey' is reserved for journeyprobe's own attributes"),
    "templated-label": (3, "labels: label 'team': a short constant value, not a template"),
    "bad-variable-name": (4, "variables: variable 'env': not a valid name (env and secret are reserved)"),
    "bad-script-ref": (4, "steps[0].script: 'journeys_ext/checkout.py' is not allowed here: "
                          "write module.path:function"),
    "bad-regex-extract": (7, "steps[0].extract.order_id.regex: invalid regex 'id=(\\\\d+': missing )"),
    "bad-extract-name": (6, "steps[0]: extract: 'order-id' is not a valid variable name"),
    "two-browser-actions": (6, "steps[0].browser[0]: a browser action needs exactly one of goto, click,"),
    "duplicate-key": (7, "steps[0].http: duplicate key 'url' (first on line 5)"),
    "yaml-syntax": (5, "invalid YAML: while parsing a flow mapping (from line 4), expected ',' or '}', "
                       "but got '-'"),
    "tab-indent": (3, "invalid YAML: while scanning for the next token, found character '\\t' that cannot"),
    "two-documents": (5, "invalid YAML: one journey per file, but found a second document (---)"),
    "empty": (1, "the file is empty: a journey needs at least name: and steps:"),
    "not-a-mapping": (1, "a journey file holds one mapping with keys such as name: and steps:, not a list"),
}
# These need the expectation parser of agent.expect.expression.
EXPECTED_WITH_EXPECT: dict[str, tuple[int, str]] = {
    "bad-expectation": (7, "steps[0].expect[1]: invalid expectation 'status = 200'"),
    "expect-on-browser-step": (6, "steps[0]: expect applies to http steps; "
                                  "browser steps use expect_* actions"),
}


def _one_problem(name: str) -> Problem:
    with pytest.raises(LoadError) as caught:
        load_journey_file(INVALID / f"{name}.yaml")
    problems = caught.value.problems
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


@pytest.mark.parametrize(("name", "line", "fragment"), [(n, *v) for n, v in EXPECTED.items()],
                         ids=list(EXPECTED))
def test_invalid_fixture_reports_one_problem_at_its_line(name: str, line: int, fragment: str) -> None:
    problem = _one_problem(name)
    assert problem.file == str(INVALID / f"{name}.yaml")
    assert (problem.line, fragment) == (line, fragment if fragment in problem.message else problem.message)


@pytest.mark.parametrize(("name", "line", "fragment"), [(n, *v) for n, v in EXPECTED_WITH_EXPECT.items()],
                         ids=list(EXPECTED_WITH_EXPECT))
def test_invalid_expectations(name: str, line: int, fragment: str) -> None:
    problem = _one_problem(name)
    assert (problem.line, fragment) == (line, fragment if fragment in problem.message else problem.message)


def test_every_invalid_fixture_has_an_expectation() -> None:
    names = {path.stem for path in INVALID.glob("*.yaml")}
    assert names == set(EXPECTED) | set(EXPECTED_WITH_EXPECT)


def test_problem_prints_file_line_and_message() -> None:
    assert str(Problem("j/a.yaml", 3, "bad")) == "j/a.yaml:3: bad"
    assert str(Problem("j/a.yaml", 0, "no such file or directory")) == "j/a.yaml: no such file or directory"
    error = LoadError([Problem("a.yaml", 1, "x"), Problem("b.yaml", 2, "y")])
    assert str(error) == "a.yaml:1: x\nb.yaml:2: y"


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_all_problems_of_a_file_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path, "many.yaml", """
        name: Many Problems
        interval: soon
        labels: {job: x}
        steps:
          - name: home
            http: {url: "http://127.0.0.1:8000/", retries: 2}
          - name: cart
            http:
              method: FETCH
              url: "http://127.0.0.1:8000/cart"
        slos:
          - name: s
            objective: 99.9%
        """)
    with pytest.raises(LoadError) as caught:
        load_journey_file(path)
    assert [(p.line, p.message.split(":")[0]) for p in caught.value.problems] == [
        (1, "name"), (2, "interval"), (3, "labels"), (6, "steps[0].http"), (9, "steps[1].http.method"),
        (12, "slos[0]")]
    assert all(str(p).startswith(f"{path}:") for p in caught.value.problems)


def test_problems_of_all_files_at_once_in_file_order() -> None:
    names = ["unknown-key", "empty", "bad-method"]
    with pytest.raises(LoadError) as caught:
        load_journeys([str(INVALID / f"{name}.yaml") for name in names])
    assert [Path(p.file).stem for p in caught.value.problems] == names


def test_the_same_journey_name_in_two_files(tmp_path: Path) -> None:
    body = "steps:\n  - name: home\n    http: {url: 'http://127.0.0.1:8000/'}\n"
    first = _write(tmp_path, "a.yaml", "name: shop\n" + body)
    second = _write(tmp_path, "b.yaml", "# the same journey again\n\nname: shop\n" + body)
    with pytest.raises(LoadError) as caught:
        load_journeys([str(tmp_path)])
    assert [str(p) for p in caught.value.problems] == [
        f"{first}:1: journey name 'shop' is also used in {second}",
        f"{second}:3: journey name 'shop' is also used in {first}",
    ]


def test_a_path_that_matches_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(LoadError) as caught:
        load_journeys([str(tmp_path / "nope.yaml"), str(tmp_path / "*.yaml"), str(tmp_path / "empty-dir"),
                       str(VALID / "minimal.yaml")])
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'nope.yaml'}: no such file or directory",
        f"{tmp_path / '*.yaml'}: no file matches this pattern",
        f"{tmp_path / 'empty-dir'}: no .yaml or .yml files in this directory",
    ]


def test_expand_directories_and_globs_sorted_without_repeats(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", "c.txt", ".hidden.yaml"):
        (tmp_path / name).write_text("x: 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.yaml").write_text("x: 1\n")
    assert expand_paths([str(tmp_path)]) == [tmp_path / "a.yml", tmp_path / "b.yaml"]
    assert expand_paths([str(tmp_path / "*.yaml"), str(tmp_path / "b.yaml")]) == [tmp_path / "b.yaml"]
    deep = expand_paths([str(tmp_path / "**" / "*.yaml")])
    assert deep == [tmp_path / "b.yaml", tmp_path / "sub" / "d.yaml"]
    assert expand_paths([str(tmp_path / "c.txt")]) == [tmp_path / "c.txt"]
    with pytest.raises(LoadError, match="no such file or directory"):
        expand_paths([str(tmp_path / "missing")])


def test_relative_glob_keeps_the_path_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    assert [str(p) for p in expand_paths(["valid/*.y*ml"])] == [
        os.path.join("valid", name) for name in ("browser.yml", "checkout.yaml", "minimal.yaml")]


def test_minimal_journey_gets_the_defaults() -> None:
    journey = load_journey_file(VALID / "minimal.yaml")
    assert journey.source == str(VALID / "minimal.yaml")
    assert (journey.name, journey.interval, journey.timeout, journey.timeout_) == (
        "minimal", 60.0, 60.0, None)
    assert (journey.retry.attempts, journey.retry.delay, journey.slos, journey.labels) == (1, 0.0, [], {})
    step = journey.steps[0]
    assert step.kind == "http" and step.http is not None
    assert (step.http.method, step.http.url, step.http.timeout, step.http.verify_tls) == (
        "GET", "http://127.0.0.1:8000/", None, True)


def test_browser_journey_short_forms_and_default_timeout() -> None:
    journey = load_journey_file(VALID / "browser.yml")
    assert (journey.name, journey.interval, journey.timeout) == ("browser.short-forms", 300.0, 60.0)
    pay, api = journey.steps
    assert pay.step_timeout == 20.0
    assert pay.browser is not None
    assert [action.action for action in pay.browser] == [
        "goto", "goto", "fill", "press", "select", "wait_for", "click", "expect_visible", "expect_url",
        "expect_text", "screenshot", "screenshot"]
    assert pay.browser[1].timeout == 10.0 and pay.browser[9].timeout == 1.5
    assert pay.browser[6].options.model_dump() == {"selector": "button#pay", "timeout": None}
    assert [a.options.model_dump()["name"] for a in pay.browser[10:]] == ["screenshot", "after-pay"]
    assert api.http is not None
    assert (api.http.method, api.http.form, api.http.max_body) == ("POST", {"a": "1"}, 64 * 1024)


def test_checkout_example_of_the_contract() -> None:
    journey = load_journey_file(VALID / "checkout.yaml")
    assert (journey.interval, journey.timeout, journey.labels) == (60.0, 30.0, {"team": "payments"})
    assert list(journey.variables) == ["base", "user", "password"]
    assert (journey.retry.attempts, journey.retry.delay) == (2, 2.0)
    login = journey.steps[0]
    assert login.http is not None
    assert (login.http.method, login.http.timeout, login.step_timeout) == ("POST", 5.0, 5.0)
    assert login.http.json_body == {"user": "{{ user }}", "password": "{{ password }}"}
    assert login.expect[1] == "duration < 800ms"
    assert login.extract["token"] == "json.token"
    assert [step.kind for step in journey.steps] == ["http", "http", "browser", "script"]
    assert journey.steps[3].script == "journeys_ext.checkout:verify_receipt"
    success, fast = journey.slos
    assert (success.indicator, success.objective, success.window) == ("success", 0.995, 28 * 86400)
    assert (fast.objective, fast.window, fast.owner) == (0.99, 7 * 86400, "CTO")
    assert not isinstance(fast.indicator, str) and fast.indicator.latency == 3.0


def test_load_a_directory_of_valid_journeys() -> None:
    journeys = load_journeys([str(VALID)])
    assert [j.name for j in journeys] == ["browser.short-forms", "checkout", "minimal"]
    assert all(isinstance(j, Journey) and j.source for j in journeys)


def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, "anchors.yaml", """
        name: anchors
        steps:
          - name: one
            http: &request {url: "http://127.0.0.1:8000/", headers: {Accept: text/html}}
          - name: two
            http: {<<: *request, url: "http://127.0.0.1:8000/two"}
        """)
    journey = load_journey_file(path)
    assert [(s.http.url, s.http.headers) for s in journey.steps if s.http] == [
        ("http://127.0.0.1:8000/", {"Accept": "text/html"}),
        ("http://127.0.0.1:8000/two", {"Accept": "text/html"})]


def test_not_utf8_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: cafe\ndescription: caf\xe9\n")
    with pytest.raises(LoadError) as caught:
        load_journey_file(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:2: not UTF-8 text"]


def test_aliases_that_expand_too_far_are_refused(tmp_path: Path) -> None:
    lines = ["name: bomb", 'a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 7)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(LoadError, match="too large or too deeply nested"):
        load_journey_file(path)
