"""docs/cli.md's examples run as written: every ```sh block, in order, in one folder, against the demo shop.

A command followed by `# exit N: MESSAGE` must exit with N and say MESSAGE on stderr; any other must
exit with 0. ```shell blocks are shown, not run (they need a person, a display, or run forever).
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
from pathlib import Path

from agent.demo.shop import start_shop

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "cli.md"
EXPECT = re.compile(r"\s+#\s*exit (\d+)(?::\s*(.*))?$")


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.S | re.M)


def script(blocks: list[str], folder: Path) -> str:
    """One bash script; each command checked for its exit code (and message)."""
    out = ["set -u", f"cd {shlex.quote(str(folder))}"]
    number = 0
    in_heredoc: str | None = None
    for block in blocks:
        for line in block.splitlines():
            if in_heredoc is not None:
                out.append(line)
                if line.strip() == in_heredoc:
                    in_heredoc = None
                continue
            heredoc = re.search(r"<<'?(\w+)'?", line)
            if heredoc:
                in_heredoc = heredoc.group(1)
                out.append(line)
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            number += 1
            match = EXPECT.search(line)
            command = line[:match.start()] if match else re.sub(r"\s+#.*$", "", line)
            code = int(match.group(1)) if match else 0
            message = (match.group(2) or "").strip().removesuffix("...").strip() if match else ""
            err = f"$JP_TMP/err.{number}"
            out.append(f"echo {shlex.quote('$ ' + command.strip())} >&2")
            out.append(f"rc=0; {command} 2> {err} || rc=$?; cat {err} >&2")
            out.append(f"[ $rc -eq {code} ] || {{ echo 'DOC FAIL: exit '$rc' (wanted {code}): '"
                       f"{shlex.quote(command.strip())} >&2; exit 99; }}")
            if message:
                out.append(f"grep -qF -- {shlex.quote(message)} {err} || {{ echo 'DOC FAIL: stderr lacks: '"
                           f"{shlex.quote(message)} >&2; exit 98; }}")
    return "\n".join(out) + "\necho DOC OK >&2\n"


async def test_every_sh_example_of_cli_md_runs(tmp_path: Path) -> None:
    blocks = sh_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "journeyprobe"
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m agent \"$@\"\n")
    shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "scratch").mkdir()
    runner, shop_url = await start_shop("127.0.0.1", 0)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOURNEYPROBE_", "GITHUB_"))}
    env.update({"PATH": f"{bin_dir}:{env.get('PATH', '')}", "BASE_URL": shop_url, "SHOP_URL": shop_url,
                "PYTHONPATH": str(ROOT), "JP_TMP": str(tmp_path / "scratch"), "COLUMNS": "160"})
    env.pop("PASSWORD", None)
    try:
        process = await asyncio.create_subprocess_exec(
            "bash", "-c", script(blocks, work), env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(process.communicate(), 600)
    finally:
        await runner.cleanup()
    log = err.decode()
    assert process.returncode == 0, log[-6000:]
    assert log.rstrip().endswith("DOC OK")
    assert (work / "shop-probe" / "journeyprobe.xml").is_file()


def test_a_wrong_exit_code_in_the_docs_fails(tmp_path: Path) -> None:
    """The harness can fail: a command said to exit 2 that exits 0 stops the script."""
    import subprocess

    text = script(["true   # exit 2: never\n"], tmp_path)
    result = subprocess.run(["bash", "-c", text], capture_output=True, text=True, env={**os.environ,
                            "JP_TMP": str(tmp_path)}, timeout=30)
    assert result.returncode == 99 and "DOC FAIL: exit 0 (wanted 2)" in result.stderr
