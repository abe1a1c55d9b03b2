"""deploy/: the Kubernetes manifests validate offline, the image builds and its agent comes up with a token.

No container engine or cluster here. So: the manifests go through the Kubernetes OpenAPI schemas
(kubernetes-validate, strict); the ServiceMonitor, a custom resource, is checked by hand against
the fields its CRD requires; the Dockerfile's steps run in a Debian shell (tests/deploy_helpers.py);
and the agent it installs is started the way the StatefulSet starts it, then scraped by a real
Prometheus with the shipped scrape config and the token from a credentials file.
"""

from __future__ import annotations

import asyncio
import copy
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes_validate
import pytest
import yaml

from agent import __version__
from agent.cli.main import main as cli
from agent.config.loader import load_config
from agent.config.shard import owner, parse_shard
from agent.journey.loader import load_journeys
from tests.conftest import free_port
from tests.deploy_helpers import (
    SCRAPE_CONFIG,
    SYSTEMD_UNIT,
    ImageRoot,
    apt_packages,
    build_image,
    image_tag,
    instructions,
    manifest,
    manifests,
)
from tests.prom_helpers import PROMETHEUS, PROMTOOL, poll, start_prometheus, stop

K8S_VERSION = "1.33"


def container() -> dict[str, Any]:
    [c] = manifest("StatefulSet", "journeyprobe")["spec"]["template"]["spec"]["containers"]
    return c


def secret_values() -> dict[str, str]:
    return dict(manifest("Secret", "journeyprobe")["stringData"])


def pod_args() -> list[str]:
    """The journeyprobe command line of the StatefulSet's shell snippet."""
    [snippet] = container()["args"]
    match = re.search(r"exec (journeyprobe .*)$", snippet.strip())
    assert match, snippet
    return shlex.split(match[1])


# --- the manifests ---------------------------------------------------------------------------------------------

def test_every_manifest_validates_against_the_kubernetes_schemas() -> None:
    by_hand = []
    for name, doc in manifests():
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            by_hand.append(doc["kind"])
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{name}: {doc['kind']} {doc['metadata']['name']}: {exc}") from None
    assert by_hand == ["ServiceMonitor"]
    kinds = sorted(d["kind"] for _, d in manifests())
    assert kinds == ["ConfigMap", "ConfigMap", "Secret", "Service", "ServiceMonitor", "StatefulSet"]


@pytest.mark.parametrize("breakage", ["unknown field", "replicas as text", "port as text"])
def test_the_schema_check_can_fail(breakage: str) -> None:
    sts = copy.deepcopy(manifest("StatefulSet", "journeyprobe"))
    if breakage == "unknown field":
        sts["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    elif breakage == "replicas as text":
        sts["spec"]["replicas"] = "three"
    else:
        sts["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sts, K8S_VERSION, strict=True)


def test_the_service_monitor_has_what_its_crd_requires_and_the_token() -> None:
    monitor = manifest("ServiceMonitor", "journeyprobe")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    assert spec["selector"]["matchLabels"] == manifest("Service", "journeyprobe")["spec"]["selector"]
    [endpoint] = spec["endpoints"]
    ports = {p["name"] for p in manifest("Service", "journeyprobe")["spec"]["ports"]}
    assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
    auth = endpoint["authorization"]
    assert auth["type"] == "Bearer" and set(auth["credentials"]) <= {"name", "key", "optional"}
    assert auth["credentials"]["name"] == "journeyprobe" and auth["credentials"]["key"] in secret_values()
    assert re.fullmatch(r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?)$", endpoint["interval"])


def test_the_pods_wiring() -> None:
    sts = manifest("StatefulSet", "journeyprobe")
    pod = sts["spec"]["template"]["spec"]
    c = container()
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    env = {e["name"]: e for e in c["env"]}
    assert int(env["SHARDS"]["value"]) == sts["spec"]["replicas"]
    for e in env.values():
        if "valueFrom" in e:
            ref = e["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "journeyprobe" and ref["key"] in secret_values(), e
    assert "JOURNEYPROBE_SERVER_TOKEN" in env
    for volume in pod["volumes"]:
        if "configMap" in volume:
            manifest("ConfigMap", volume["configMap"]["name"])
    assert {m["name"] for m in c["volumeMounts"]} == {v["name"] for v in pod["volumes"]} | {"data"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert [p["name"] for p in c["ports"]] == ["http"]
    assert "annotations" not in sts["spec"]["template"]["metadata"], "prometheus.io/* cannot send the token"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert "REPLACE" in secret_values()["api-token"], "the Secret ships placeholders, never a real token"


def test_the_config_and_journeys_of_the_config_maps_load(tmp_path: Path) -> None:
    config_file = tmp_path / "agent.yaml"
    config_file.write_text(manifest("ConfigMap", "journeyprobe-config")["data"]["agent.yaml"])
    environ = {"JOURNEYPROBE_SERVER_TOKEN": "t0ken", "JOURNEYPROBE_SHARD": "2/3"}
    config = load_config(str(config_file), environ)
    assert config.server.token == "t0ken" and config.shard == "2/3"
    assert config.server.host_port == ("0.0.0.0", container()["ports"][0]["containerPort"])
    assert config.journeys == ["/etc/journeyprobe/journeys/*.yaml"]
    journeys_dir = tmp_path / "journeys"
    journeys_dir.mkdir()
    for name, text in manifest("ConfigMap", "journeyprobe-journeys")["data"].items():
        (journeys_dir / name).write_text(text)
    assert [j.name for j in load_journeys([str(journeys_dir)])] == ["health"]


def test_each_pod_takes_its_shard_from_its_ordinal(tmp_path: Path) -> None:
    fake = tmp_path / "journeyprobe"  # stands for the agent: prints what it was started with
    fake.write_text('#!/bin/sh\necho "$JOURNEYPROBE_SHARD $*"\n')
    fake.chmod(0o755)
    c = container()
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    shards = []
    for ordinal in range(int(env["SHARDS"])):
        done = subprocess.run([*c["command"], *c["args"]], env={**env, "PATH": f"{tmp_path}:/usr/bin:/bin",
                                                                "HOSTNAME": f"journeyprobe-{ordinal}"},
                              capture_output=True, text=True, timeout=10, check=True)
        shard, _, args = done.stdout.strip().partition(" ")
        assert args == " ".join(pod_args()[1:])
        shards.append(parse_shard(shard))
    assert shards == [(1, 3), (2, 3), (3, 3)]
    cli.commands["run"].make_context("run", pod_args()[2:])  # the flags exist and take these values


def test_the_manifest_runs_the_image_the_dockerfile_builds() -> None:
    assert container()["image"] == image_tag() == f"journeyprobe:{__version__}"
    [(_, base)] = [(k, a) for k, a in instructions() if k == "FROM"]
    assert base == "python:3.11-slim-bookworm"
    assert ("USER", "10001:10001") in instructions()
    assert manifest("StatefulSet", "journeyprobe")["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001


def test_the_apt_packages_of_the_dockerfile_exist() -> None:
    steps = [apt_packages(args) for keyword, args in instructions() if keyword == "RUN"]
    [packages] = [p for p in steps if p is not None]
    assert "chromium" in packages
    for package in packages:
        done = subprocess.run(["apt-cache", "show", package], capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0 and f"Package: {package}" in done.stdout, f"apt does not know {package}"


def test_the_systemd_unit_matches_the_cli_and_the_image() -> None:
    unit = SYSTEMD_UNIT.read_text()
    [exec_start] = re.findall(r"^ExecStart=(.+)$", unit, re.MULTILINE)
    program, command, *args = shlex.split(exec_start)
    assert program == "/opt/journeyprobe/venv/bin/journeyprobe"  # the venv the Dockerfile installs into too
    assert "/opt/journeyprobe/venv/bin/pip install" in " ".join(a for _, a in instructions())
    assert command == "run" and args == pod_args()[2:]
    cli.commands["run"].make_context("run", args)
    config = load_config(str(SYSTEMD_UNIT.parent / "agent.yaml"), {})
    state_dir = "/var/lib/" + re.findall(r"^StateDirectory=(\S+)$", unit, re.MULTILINE)[0]
    assert config.storage.path.startswith(state_dir + "/")
    assert re.search(rf"^ReadWritePaths={state_dir}$", unit, re.MULTILINE)
    assert re.search(r"^Environment=XDG_CONFIG_HOME=", unit, re.MULTILINE)
    assert re.search(r"^ExecReload=/bin/kill -HUP \$MAINPID$", unit, re.MULTILINE)


# --- the image, built in a shell, and its agent as a pod runs it --------------------------------------------------

@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageRoot]:
    """The Dockerfile's steps, once per test run (~1-2 minutes: a pip install of the wheel and its deps)."""
    yield build_image(tmp_path_factory.mktemp("image"))


def test_the_image_build_steps_run_and_install_a_working_agent(image: ImageRoot) -> None:
    venv = image.path("/opt/journeyprobe/venv")
    assert not image.path("/src").exists(), "the build removes the sources it copied"
    assert (image.path("/var/lib/journeyprobe").stat().st_uid, image.path("/var/lib/journeyprobe").stat().st_gid) \
        == (10001, 10001)
    assert image.env["PATH"].startswith(f"{venv}/bin:")
    version = image.run("journeyprobe --version")
    assert version.stdout.strip() == f"journeyprobe, version {__version__}"
    where = image.run("python -c 'import agent, exporters; print(agent.__file__, exporters.__file__)'")
    assert all(p.startswith(str(venv)) for p in where.stdout.split()), "the agent came from the wheel"
    journeys = Path(__file__).resolve().parent.parent / "journeys"
    assert "journeys OK" in image.run(f"journeyprobe validate {journeys}", step=False).stdout
    examples = image.run("python -c 'import agent.examples, os; print(os.path.dirname(agent.examples.__file__))'")
    assert "journeys OK" in image.run(f"journeyprobe validate {examples.stdout.strip()}").stdout


def lay_out_config_maps(image: ImageRoot) -> None:
    """The ConfigMaps mounted where the StatefulSet mounts them (under the image's root)."""
    etc = image.path("/etc/journeyprobe")
    (etc / "journeys").mkdir(parents=True, exist_ok=True)
    (etc / "agent.yaml").write_text(image.map(manifest("ConfigMap", "journeyprobe-config")["data"]["agent.yaml"]))
    for name, text in manifest("ConfigMap", "journeyprobe-journeys")["data"].items():
        (etc / "journeys" / name).write_text(text)


def prometheus_config(tmp: Path, target: str, token: str) -> Path:
    """The shipped job, Kubernetes discovery swapped for one pod's address (Debian's Prometheus is built
    without Kubernetes discovery), the token in a credentials file, and a wrong-token copy as a control."""
    shipped = yaml.safe_load(SCRAPE_CONFIG.read_text())
    [job] = shipped["scrape_configs"]
    assert job["authorization"]["credentials_file"] == "/etc/prometheus/secrets/journeyprobe/api-token"
    assert job["kubernetes_sd_configs"] == [{"role": "endpoints"}]
    jobs = []
    for name, secret in (("journeyprobe", token), ("wrong-token", "not-the-token")):
        local = copy.deepcopy(job)
        (tmp / name).write_text(secret + "\n")  # as a Secret volume holds it
        local.update(job_name=name, scrape_interval="1s", static_configs=[{"targets": [target]}],
                     authorization={**job["authorization"], "credentials_file": str(tmp / name)})
        del local["kubernetes_sd_configs"], local["relabel_configs"]
        jobs.append(local)
    config = tmp / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}))
    return config


def test_the_plain_prometheus_scrape_config_passes_promtool(tmp_path: Path) -> None:
    if not os.access(PROMTOOL, os.X_OK):
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    config = prometheus_config(tmp_path, "127.0.0.1:9464", "t0ken")
    checked = subprocess.run([PROMTOOL, "check", "config", str(config)], capture_output=True, text=True,
                             timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    relabel = yaml.safe_load(SCRAPE_CONFIG.read_text())["scrape_configs"][0]["relabel_configs"][0]
    service = manifest("Service", "journeyprobe")
    assert relabel["regex"] == f"{service['metadata']['labels']['app']};{service['spec']['ports'][0]['name']}"


async def test_the_pod_comes_up_ready_with_a_token_and_prometheus_scrapes_it(
        image: ImageRoot, tmp_path: Path) -> None:
    if not (os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK)):
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    lay_out_config_maps(image)
    c = container()
    token = secret_values()["api-token"]
    env = {**image.env, **{e["name"]: e["value"] for e in c["env"] if "value" in e},
           **{e["name"]: secret_values()[e["valueFrom"]["secretKeyRef"]["key"]] for e in c["env"] if "valueFrom" in e}}
    ordinal = owner("health", int(env["SHARDS"])) - 1  # the pod whose shard runs the example journey
    port = free_port()
    env.update(HOSTNAME=f"journeyprobe-{ordinal}", JOURNEYPROBE_SERVER_LISTEN=f"127.0.0.1:{port}",
               SHOP_URL=f"http://127.0.0.1:{free_port()}")  # only this machine: the shop is a closed port
    with (tmp_path / "pod.log").open("wb") as log:
        pod = await asyncio.create_subprocess_exec(
            *c["command"], image.map(c["args"][0]), env=env, cwd=image.path(c.get("workingDir", image.workdir)),
            stdout=asyncio.subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    prometheus = None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async def get(path: str, bearer: str | None = None) -> tuple[int, Any]:
                headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
                async with session.get(base + path, headers=headers) as response:
                    body = await response.text()
                    return response.status, yaml.safe_load(body) if "json" in response.content_type else body

            async def ready() -> bool:
                assert pod.returncode is None, (tmp_path / "pod.log").read_text()[-3000:]
                return (await get(c["readinessProbe"]["httpGet"]["path"]))[0] == 200

            await poll(ready, 60, "the pod never became ready")
            assert await get("/readyz") == (200, {"ready": True})  # the kubelet's view: no token, no details
            assert (await get(c["livenessProbe"]["httpGet"]["path"]))[0] == 200
            status, details = await get("/readyz", token)
            assert status == 200 and details["journeys"] == 1 and details["reasons"] == []
            assert (await get("/metrics"))[0] == 401
            assert (await get("/metrics", "wrong"))[0] == 401
            assert (await get("/metrics", token))[0] == 200

            prometheus, prom = await start_prometheus(prometheus_config(tmp_path, f"127.0.0.1:{port}", token), tmp_path)

            async def both_scraped() -> dict[str, dict[str, Any]] | None:
                async with session.get(f"{prom}/api/v1/targets") as response:
                    active = (await response.json())["data"]["activeTargets"]
                seen = {t["labels"]["job"]: t for t in active if t["health"] != "unknown"}
                return seen if len(seen) == 2 else None

            targets = await poll(both_scraped, 60, "Prometheus never scraped the pod")
            assert targets["journeyprobe"]["health"] == "up", targets["journeyprobe"]["lastError"]
            assert targets["wrong-token"]["health"] == "down" and "401" in targets["wrong-token"]["lastError"]

            async def runs_in_prometheus() -> list[Any]:
                params = {"query": 'journey_runs_total{job="journeyprobe",journey_name="health"}'}
                async with session.get(f"{prom}/api/v1/query", params=params) as response:
                    return (await response.json())["data"]["result"]  # type: ignore[no-any-return]

            series = await poll(runs_in_prometheus, 60, "the pod's runs never reached Prometheus")
            # one series per outcome seen (success is there from the start; a slow run on a busy host adds one)
            assert {s["metric"]["probe_location"] for s in series} == {"eu-west-1"}
    finally:
        if prometheus is not None:
            await stop(prometheus)
        code = await stop(pod)
    assert code == 0, (tmp_path / "pod.log").read_text()[-3000:]
