"""JUnit XML for CI systems: a testsuite per journey, a testcase per step.

`<testsuites time>` is the wall time of the whole check when given: the journeys run side by
side, so the sum of their times (each `<testsuite time>`) overstates how long CI waited.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from agent.probe.result import Outcome, RunResult, format_timestamp


def junit_xml(results: Sequence[RunResult], wall_time_s: float | None = None) -> str:
    suites = ET.Element("testsuites", name="journeyprobe")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for run in results:
        counts = _counts(run)
        for key, value in counts.items():
            totals[key] += value
        total_time += run.duration_s
        attributes = {"name": run.journey, "timestamp": format_timestamp(run.started_at),
                      "time": f"{run.duration_s:.3f}", "hostname": run.location or "local",
                      **{k: str(v) for k, v in counts.items()}}
        suite = ET.SubElement(suites, "testsuite", attributes)
        properties = ET.SubElement(suite, "properties")
        props: list[tuple[str, str]] = [("trace_id", run.trace_id), ("outcome", run.outcome.value),
                                         ("attempt", str(run.attempt)),
                                         ("first_outcome", run.first_outcome.value), ("location", run.location)]
        for name, text in props:
            ET.SubElement(properties, "property", name=name, value=text)
        for step in run.steps:
            case = ET.SubElement(suite, "testcase", classname=run.journey, name=step.name,
                                 time=f"{step.duration_s:.3f}")
            detail = _detail(run, step.error, step.status)
            if step.outcome is Outcome.FAILURE:
                failure = ET.SubElement(case, "failure", message=step.error or "", type=step.error_type or "failure")
                failure.text = detail
            elif step.outcome in (Outcome.ERROR, Outcome.TIMEOUT):
                ET.SubElement(case, "error", message=step.error or "",
                              type=step.error_type or step.outcome.value).text = detail
            elif step.outcome is Outcome.SKIPPED:
                ET.SubElement(case, "skipped", message="an earlier step did not succeed")
            if step.artifacts:
                ET.SubElement(case, "system-out").text = "\n".join(f"[[ATTACHMENT|{p}]]" for p in step.artifacts)
        if run.earlier_attempts:
            lines = [f"attempt {a.attempt}: {a.outcome.value} ({a.error_type}): {a.error} trace {a.trace_id}"
                     for a in run.earlier_attempts]
            ET.SubElement(suite, "system-out").text = "retried after:\n" + "\n".join(lines)
    suites.attrib.update({k: str(v) for k, v in totals.items()})
    suites.set("time", f"{total_time if wall_time_s is None else wall_time_s:.3f}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _counts(run: RunResult) -> dict[str, int]:
    outcomes = [s.outcome for s in run.steps]
    return {
        "tests": len(outcomes),
        "failures": outcomes.count(Outcome.FAILURE),
        "errors": outcomes.count(Outcome.ERROR) + outcomes.count(Outcome.TIMEOUT),
        "skipped": outcomes.count(Outcome.SKIPPED),
    }


def _detail(run: RunResult, error: str | None, status: int | None) -> str:
    parts = [error or ""]
    if status is not None:
        parts.append(f"HTTP status: {status}")
    parts.append(f"trace id: {run.trace_id}")
    return "\n".join(parts)
