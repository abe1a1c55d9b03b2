"""The environment variables a journey needs, found before it runs."""

from __future__ import annotations

import pytest

from agent.journey.env_refs import EnvReference, missing_environment, required_environment, template_references
from agent.probe.result import ErrorType, Outcome
from agent.probe.runner import Runner
from tests.conftest import journey
from tests.targets import Seen


@pytest.mark.parametrize(("template", "needed"), [
    ("plain text", set()),
    ("{{ env.BASE }}/x", {"env.BASE"}),
    ("{{ secret['PW'] }}", {"secret.PW"}),
    ("{{ env.BASE | default('http://x') }}", set()),
    ("{{ env.BASE | d(env.OTHER) }}", {"env.OTHER"}),
    ("{% if env.FLAG is defined %}{{ env.FLAG }}{% endif %}", set()),
    ("{{ env.A if env.A is defined else 'x' }}", set()),
    ("{{ env.get('MAYBE') }}", set()),
    ("{{ env.NAME.upper() }}", {"env.NAME"}),
    ("{{ token }}-{{ secret.KEY | urlencode }}", {"secret.KEY"}),
    ("{{ env.BROKEN", set()),  # a syntax error is the step's to report
], ids=lambda v: v if isinstance(v, str) else "")
def test_references_of_one_template(template: str, needed: set[str]) -> None:
    assert {str(r) for r in template_references(template)} == needed


def test_a_journey_needs_what_its_variables_and_steps_read() -> None:
    j = journey([{"name": "login", "http": {"url": "{{ base }}/login", "method": "POST",
                                            "headers": {"X-Key": "{{ secret.API_KEY }}"},
                                            "json": {"user": "{{ env.USER_NAME }}"}}},
                 {"name": "page", "browser": [{"goto": "{{ base }}/"},
                                              {"fill": {"selector": "#pw", "value": "{{ secret.PW }}"}}]}],
                variables={"base": "{{ env.BASE_URL }}", "opt": "{{ env.OPT | default('') }}"})
    assert sorted(required_environment(j)) == [EnvReference("env", "BASE_URL"), EnvReference("env", "USER_NAME"),
                                              EnvReference("secret", "API_KEY"), EnvReference("secret", "PW")]
    assert missing_environment(j, {"BASE_URL": "x", "USER_NAME": "u", "API_KEY": "k", "PW": "p"}) == []
    assert [str(r) for r in missing_environment(j, {"USER_NAME": "u"}, {"base": "http://x"})] == [
        "secret.API_KEY", "secret.PW"]  # --var base=... means BASE_URL is never read


async def test_a_run_without_its_variables_is_not_retried_nor_the_targets_fault(
        target: tuple[str, Seen]) -> None:
    url, seen = target
    j = journey([{"name": "get", "http": {"url": f"{url}/json?k={{{{ secret.API_KEY }}}}"}}],
                retry={"attempts": 3})
    result = await Runner(environ={}).run(j)
    assert result.outcome is Outcome.ERROR and result.error_type == ErrorType.MISSING_ENV
    assert result.agent_side and result.attempt == 1 and not result.earlier_attempts
    assert "API_KEY" in (result.steps[0].error or "")
    assert seen.requests == []
    passed = await Runner(environ={"API_KEY": "k"}).run(j)
    assert passed.passed and len(seen.requests) == 1
