"""Results' JSON is the same document with orjson and with the standard library."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

from agent.core import jsonfast
from agent.probe.result import AttemptSummary, Outcome, Phases, RunResult, StepResult


def test_both_backends_write_the_same_result_document() -> None:
    step = StepResult("pay ünïcode", Outcome.FAILURE, 0.0123, status=503, error='expected "200"\nbut got 503',
                      error_type="assertion", phases=Phases(0.0, 1e-05, 0.0, 0.01, 0.002),
                      expectations=("status == 200",), vitals=({"lcp_s": 1.5e-07, "cls": None},))
    result = RunResult(journey="checkout", outcome=Outcome.FAILURE, started_at=datetime.now(UTC), duration_s=0.02,
                       trace_id="ab" * 16, location="eu", error_type="assertion", steps=(step,),
                       earlier_attempts=(AttemptSummary(1, Outcome.TIMEOUT, "timeout", None, "cd" * 16),),
                       labels={"team": "shop"})
    document = result.to_dict()
    text = jsonfast.dumps(document)
    assert '", "' not in text and '": ' not in text and "ünïcode" in text  # compact, UTF-8 as is
    assert json.loads(text) == json.loads(json.dumps(document))
    pure = subprocess.run([sys.executable, "-c", "import sys, json; from agent.core import jsonfast; "
                           "print(jsonfast.BACKEND); print(jsonfast.dumps(json.loads(sys.stdin.read())))"],
                          input=json.dumps(document), capture_output=True, text=True, check=True,
                          env={"JOURNEYPROBE_PURE_JSON": "1", "PYTHONPATH": sys.path[0] or "."})
    backend, other = pure.stdout.splitlines()
    assert backend == "json"
    assert json.loads(other) == json.loads(text)
