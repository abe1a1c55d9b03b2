"""The JSON Schema of a journey file: valid, and agreeing with the loader where it can."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from agent.journey.browser_model import DURATION_JSON_SCHEMA
from agent.journey.schema import SCHEMA_ID, journey_schema, keys_at

FIXTURES = Path(__file__).parent / "fixtures"
VALID_FILES = sorted((FIXTURES / "valid").glob("*.y*ml"))
# Invalid fixtures whose rule a JSON Schema can express; the others are rules across keys.
SCHEMA_CATCHES = ["unknown-key", "python-field-name", "bad-browser-action", "missing-name", "missing-url",
                  "slo-without-owner", "bad-name", "bad-duration", "bad-objective", "bad-indicator",
                  "too-many-attempts", "no-steps", "steps-not-a-list", "bad-method", "unquoted-header-bool",
                  "bad-script-ref", "not-a-mapping"]

MINIMAL: dict[str, Any] = {"name": "shop", "steps": [{"name": "home", "http": {"url": "http://x/"}}]}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = journey_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _with(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(MINIMAL)
    doc.update(changes)
    return doc


def test_schema_header_and_keys_as_users_write_them() -> None:
    schema = journey_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID == "https://journeyprobe.dev/schema/journey.json"
    assert schema["title"] == "journeyprobe journey"
    assert schema["additionalProperties"] is False
    assert {"name", "timeout", "steps", "slos"} <= set(schema["properties"])
    assert "timeout_" not in schema["properties"]
    assert "json" in schema["$defs"]["HttpRequest"]["properties"]
    assert schema["required"] == ["name", "steps"]


def test_schema_is_stable_json_and_leaves_the_models_alone() -> None:
    before = copy.deepcopy(DURATION_JSON_SCHEMA)
    assert json.dumps(journey_schema(), sort_keys=True) == json.dumps(journey_schema(), sort_keys=True)
    assert before == DURATION_JSON_SCHEMA
    assert '"gt"' not in json.dumps(journey_schema())


@pytest.mark.parametrize("path", VALID_FILES, ids=[p.name for p in VALID_FILES])
def test_valid_fixtures_pass(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    validator.validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", SCHEMA_CATCHES)
def test_invalid_fixtures_fail(validator: jsonschema.Draft202012Validator, name: str) -> None:
    data = yaml.safe_load((FIXTURES / "invalid" / f"{name}.yaml").read_text(encoding="utf-8"))
    assert not validator.is_valid(data)


@pytest.mark.parametrize(("doc", "ok"), [
    pytest.param(_with(interval="1h30m", timeout=90), True, id="duration-string-or-number"),
    pytest.param(_with(interval="250ms"), True, id="duration-ms"),
    pytest.param(_with(interval="5 minutes"), False, id="duration-words"),
    pytest.param(_with(interval=-1), False, id="duration-negative"),
    pytest.param(_with(timeout=0), False, id="timeout-zero"),
    pytest.param(_with(retries=2), False, id="unknown-top-level-key"),
    pytest.param(_with(steps=[{"name": "a", "http": {"url": "http://x/", "method": "post"}}]), True,
                 id="lower-case-method"),
    pytest.param(_with(steps=[{"name": "a", "http": {"url": "http://x/", "max_body": "1MiB"}}]), True,
                 id="byte-size-string"),
    pytest.param(_with(steps=[{"name": "a", "http": {"url": "http://x/", "max_body": "lots"}}]), False,
                 id="byte-size-words"),
    pytest.param(_with(steps=[{"name": "a", "browser": [{"click": "#pay"}, {"screenshot": None}]}]), True,
                 id="browser-short-forms"),
    pytest.param(_with(steps=[{"name": "a", "browser": [{"fill": "#card"}]}]), False,
                 id="fill-has-no-short-form"),
    *[pytest.param(_with(slos=[{"name": "s", "objective": objective, "owner": "CTO"}]), ok,
                   id=f"objective-{objective}")
      for objective, ok in (("99.5%", True), ("99 %", True), (0.995, True), ("0.995", True), (99.5, False),
                            ("high", False), (1, False))],
])
def test_schema_accepts_what_the_loader_accepts(validator: jsonschema.Draft202012Validator,
                                                doc: dict[str, Any], ok: bool) -> None:
    assert validator.is_valid(doc) is ok


def test_keys_at_follows_lists_unions_and_aliases() -> None:
    assert "retry" in keys_at(())
    assert keys_at(("steps", 0, "http"))["json"] == "json_body"
    assert set(keys_at(("steps", 0, "extract", "token"))) == {"from", "group", "regex"}
    assert set(keys_at(("slos", 0, "indicator"))) == {"latency"}
    assert "click" in keys_at(("steps", 0, "browser", 3))
    assert keys_at(("labels",)) == {}
