"""Whose fault: readable messages of any exception, the target's faults kept apart from the agent's own."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from agent.expect.expression import ResponseView
from agent.probe.context import StepError
from agent.probe.faults import exception_text
from agent.probe.http.judge import judge_now
from agent.probe.result import ErrorType, Outcome
from agent.probe.runner import Runner
from exporters.prometheus import parse_exposition
from exporters.self_metrics import Health
from exporters.telemetry import Telemetry
from tests.conftest import journey


class Silent(Exception):
    def __str__(self) -> str:
        return ""


class Broken(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no words")


@pytest.mark.parametrize(("exc", "text"), [
    (IndexError(), "IndexError"),
    (TimeoutError(), "TimeoutError"),
    (Silent(), "Silent"),
    (Broken(), "Broken"),
    (LookupError("unknown encoding: utf8mb4"), "LookupError: unknown encoding: utf8mb4"),
    (ValueError("\n  first line\nsecond"), "ValueError: first line"),
])
def test_every_exception_reads(exc: BaseException, text: str) -> None:
    assert exception_text(exc) == text


def test_a_long_message_is_cut() -> None:
    assert len(exception_text(ValueError("x" * 1000), 50)) == 50


class Hostile(Mapping[str, str]):
    """Headers whose reading fails the way an unforeseen response might."""

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    def __len__(self) -> int:
        return 1


def test_a_check_that_raises_is_an_invalid_response_of_the_target() -> None:
    step = journey([{"name": "s", "http": {"url": "http://127.0.0.1:9/"},
                     "expect": ["header.X-Any exists"]}]).steps[0]
    view = ResponseView(status=200, duration_s=0.1, body="", headers=Hostile())
    with pytest.raises(StepError) as caught:
        judge_now(step, view)
    assert caught.value.error_type == ErrorType.INVALID_RESPONSE and not caught.value.agent_side
    assert str(caught.value).startswith("could not check the response: UnicodeDecodeError")


async def test_internal_errors_are_counted_in_the_self_metrics() -> None:
    runner = Runner()
    runner.resources.browser = object()  # type: ignore[assignment]  # the agent's own state, broken
    telemetry = Telemetry(prometheus=True)
    telemetry.watch(lambda: Health(internal_errors=runner.internal_errors))

    def internal_errors() -> float:
        samples = parse_exposition(telemetry.metrics()[0].decode())
        return samples["journeyprobe_internal_errors_total"][0][1]

    try:
        assert internal_errors() == 0
        flow = journey([{"name": "page", "browser": [{"goto": "http://127.0.0.1:9/"}]}])
        result = await runner.run(flow)
        assert (result.outcome, result.error_type, result.agent_side) == (Outcome.ERROR, ErrorType.INTERNAL, True)
        assert result.error and result.error.startswith("internal error: AttributeError")
        await runner.run(flow)
        assert internal_errors() == 2
    finally:
        telemetry.shutdown()
