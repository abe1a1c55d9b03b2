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
