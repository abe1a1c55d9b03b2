"""Helpers of tests/test_deploy.py (no tests here): the manifests, and the Dockerfile's steps run in a shell.

There is no container engine here, so the image is checked by doing what the engine would:
every COPY, ENV, WORKDIR and RUN of deploy/docker/Dockerfile, in order, inside a temporary
folder that stands for the image's root (`/src` becomes `ROOT/src`, and so on). Only the RUN
that installs Debian packages is left out; test_deploy checks its package names instead.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "deploy/docker/Dockerfile"
KUBERNETES = REPO / "deploy/kubernetes"
SCRAPE_CONFIG = REPO / "deploy/prometheus/scrape-config.yaml"
SYSTEMD_UNIT = REPO / "deploy/systemd/journeyprobe.service"

IMAGE_DIRS = ("/src", "/opt/journeyprobe", "/var/lib/journeyprobe", "/etc/journeyprobe", "/tmp/xdg")
"""The image's own folders: every path the Dockerfile and the pod use lies under one of them."""
_IMAGE_PATH = re.compile(r"(?<![\w./-])(" + "|".join(map(re.escape, IMAGE_DIRS)) + r")(?=[/\s\"':]|$)")
_ABSOLUTE = re.compile(r"(?<![\w.$}/-])/[\w.*/-]+")
APT_CLEANUP = "rm -rf /var/lib/apt/lists/*"


def manifests() -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) for every document of deploy/kubernetes/*.yaml."""
    out = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        out += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return out


def manifest(kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for _, d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments left out."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, args = text.partition(" ")
        out.append((keyword.upper(), " ".join(args.split())))
    return out


def image_tag(path: Path = DOCKERFILE) -> str:
    """The tag the Dockerfile's header says to build: `docker build ... -t NAME:TAG .`."""
    match = re.search(r"^#\s+docker build .*-t (\S+) \.$", path.read_text(), re.MULTILINE)
    assert match, f"{path} does not say how it is built (docker build ... -t NAME:TAG .)"
    return match[1]


def apt_packages(run: str) -> list[str] | None:
    """The packages an apt-get RUN installs, or None if the RUN is no apt-get step."""
    if "apt-get" not in run:
        return None
    packages: list[str] = []
    for command in (c.strip() for c in run.split("&&")):
        assert command.startswith("apt-get ") or command == APT_CLEANUP, (
            f"the apt-get RUN also runs {command!r}: give it a RUN of its own so the test can run it")
        words = shlex.split(command)
        if "install" in words:
            packages += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return packages


@dataclass
class ImageRoot:
    """A folder that stands for the image's file system, and the environment its steps ran with."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    log: list[str] = field(default_factory=list)

    def path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def map(self, text: str) -> str:
        """The image's paths in `text` moved under the root."""
        return _IMAGE_PATH.sub(lambda m: str(self.root) + m[1], text)

    def expand(self, text: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.env.get(m[1], ""), text)

    def run(self, command: str, timeout: float = 600, *, step: bool = True) -> subprocess.CompletedProcess[str]:
        """A shell command as the image runs it; a Dockerfile `step` must stay inside the image's folders."""
        mapped = self.map(command)
        outside = [p for p in _ABSOLUTE.findall(mapped) if not p.startswith(str(self.root))]
        assert not (step and outside), f"RUN {command!r} touches {outside} outside the image's folders {IMAGE_DIRS}"
        cwd = self.path(self.workdir)
        cwd.mkdir(parents=True, exist_ok=True)
        self.log.append(mapped)
        done = subprocess.run(["/bin/sh", "-c", mapped], cwd=cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        output = done.stdout[-3000:] + done.stderr[-3000:]
        assert done.returncode == 0, f"RUN {command}: exit {done.returncode}\n{output}"
        return done


def base_env() -> dict[str, str]:
    """The shell of the python:3.11 image: a Python 3.11 with pip first on PATH, this machine's pip set-up."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def build_image(root: Path) -> ImageRoot:
    """Every step of the Dockerfile but apt-get, in order, under `root`."""
    image = ImageRoot(root, env=base_env())
    for keyword, args in instructions():
        if keyword == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                image.env[key] = image.expand(image.map(value))
        elif keyword == "WORKDIR":
            image.workdir = args
            image.path(args).mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, dest = shlex.split(args)
            target = image.path(dest if dest.startswith("/") else f"{image.workdir}/{dest}")
            into_folder = dest.endswith("/")  # Docker's rule: `COPY a b ./` copies into the folder
            for source in sources:
                src = REPO / source
                if src.is_dir():  # a folder's contents, as Docker copies them
                    shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                                    dirs_exist_ok=True)
                else:
                    if into_folder:
                        target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target / src.name if into_folder else target)
        elif keyword == "RUN":
            if apt_packages(args) is None:
                image.run(args)
        elif keyword not in ("FROM", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "LABEL"):
            raise AssertionError(f"the test does not know how to run {keyword} {args}")
    return image
