"""agent.yaml: defaults, FILE:LINE errors, environment overrides, the shipped examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent.config.loader import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_without_a_file() -> None:
    config = load_config(None, environ={})
    assert config.server.listen == "127.0.0.1:9464" and config.server.token is None
    assert config.storage.path == "journeyprobe.db" and config.storage.retention == 35 * 86400
    assert config.concurrency == 100 and config.exporters.prometheus is True


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("location: tokyo-1\nserver: {listen: '127.0.0.1:9000'}\n")
    config = load_config(str(path), environ={"JOURNEYPROBE_SERVER_TOKEN": "abc", "JOURNEYPROBE_LOCATION": "osaka",
                                             "JOURNEYPROBE_CONCURRENCY": "7", "UNRELATED": "x"})
    assert config.location == "osaka" and config.concurrency == 7
    assert config.server.token == "abc" and config.server.listen == "127.0.0.1:9000"


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("concurency: 4\n", 1, "unknown key 'concurency', did you mean 'concurrency'?"),
    ("location: x\nstorage:\n  retention: 3 days\n", 3, "storage.retention: invalid duration"),
    ("server: {listen: nowhere}\n", 1, "server.listen"),
    ("shard: 4/3\n", 1, "shard"),
    ("alerting:\n  - webhook: {url: http://x}\n    alertmanager: {url: http://y}\n", 2, "exactly one"),
    ("location: [\n", 2, "invalid YAML"),
], ids=["typo", "duration", "listen", "shard", "two-sinks", "yaml"])
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(str(path), environ={})
    message = str(error.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert fragment in message


def test_shipped_examples_load(tmp_path: Path) -> None:
    load_config(str(ROOT / "deploy/systemd/agent.yaml"), environ={})
    documents = list(yaml.safe_load_all((ROOT / "deploy/kubernetes/journeyprobe.yaml").read_text()))
    config_map = next(d for d in documents if d["kind"] == "ConfigMap")
    embedded = tmp_path / "agent.yaml"
    embedded.write_text(config_map["data"]["agent.yaml"])
    assert load_config(str(embedded), environ={}).location == "eu-west-1"


def test_every_documented_override_name_and_yaml_values(tmp_path: Path) -> None:
    """The names of docs/daemon.md and browser.md, read by pydantic-settings; env beats the file."""
    path = tmp_path / "agent.yaml"
    path.write_text("browser: {executable_path: /opt/chrome, max_contexts: 2}\nstorage: {path: file.db}\n"
                    "artifacts_retention: 1d\n")
    config = load_config(str(path), environ={
        "JOURNEYPROBE_BROWSER_EXECUTABLE_PATH": "/usr/bin/chromium", "JOURNEYPROBE_STORAGE_PATH": "/data/jp.db",
        "JOURNEYPROBE_SHARD": "2/3", "JOURNEYPROBE_ARTIFACTS_RETENTION": "3d", "JOURNEYPROBE_BROWSER_HEADLESS": "false",
        "journeyprobe_server_listen": "127.0.0.1:9999", "JOURNEYPROBE_JOURNEYS": "[a/*.yaml, b.yaml]",
        "JOURNEYPROBE_SERVER_PUBLIC_URL": "null", "JOURNEYPROBE_TEST_ARTIFACTS": "not a key: ignored"})
    assert config.browser.executable_path == "/usr/bin/chromium" and config.browser.max_contexts == 2
    assert config.browser.headless is False and config.storage.path == "/data/jp.db"
    assert config.shard == "2/3" and config.artifacts_retention == 3 * 86400
    assert config.server.listen == "127.0.0.1:9999" and config.server.public_url is None
    assert config.journeys == ["a/*.yaml", "b.yaml"]  # from the environment: relative to the working folder


def test_a_bad_override_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(None, environ={"JOURNEYPROBE_CONCURRENCY": "many"})
    assert str(error.value) == "JOURNEYPROBE_CONCURRENCY: concurrency: expected a whole number, got 'many'"


def test_journey_globs_resolve_from_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "agent.yaml").write_text("journeys: [journeys/*.yaml, /abs/*.yaml]\n")
    config = load_config(str(folder / "agent.yaml"), environ={})
    assert config.journeys == [str(folder / "journeys/*.yaml"), "/abs/*.yaml"]
    (folder / "one.yaml").write_text("journeys: checks/*.yaml\n")
    assert load_config(str(folder / "one.yaml"), environ={}).journeys == [str(folder / "checks/*.yaml")]


def test_problems_name_the_file_line_or_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("browser:\n  max_contexts: 2\nconcurrency: x\n")
    with pytest.raises(ConfigError) as error:
        load_config(str(path), environ={"JOURNEYPROBE_BROWSER_HEADLESS": "maybe"})
    assert str(error.value).splitlines() == [
        f"{path}:3: concurrency: expected a whole number, got 'x'",
        "JOURNEYPROBE_BROWSER_HEADLESS: browser.headless: expected true or false, got 'maybe'"]
