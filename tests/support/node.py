"""The real JavaScript clients and tools (graphql-ws, graphql-sse, urql, graphql-codegen, tsc,
graphql-schema-linter) the suite drives, pinned in tests/js/package-lock.json.

`node_tools()` installs them once into tests/js/node_modules (`npm ci`, from the npm registry;
a file lock serialises the test workers) and returns tests/js; it skips the calling test where
Node.js or npm is missing. `run_node(script, …)` runs a JavaScript file from tests/js with
those modules on its path; `NodeLines` runs one alongside the test, line by line."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

JS_DIR = Path(__file__).resolve().parent.parent / "js"
# generous: a first install downloads ~350 packages; a loaded machine can be 5x slower
INSTALL_TIMEOUT_S = 900.0
RUN_TIMEOUT_S = 300.0


def _installed() -> bool:
    stamp = JS_DIR / "node_modules" / ".iven-installed"
    lock = JS_DIR / "package-lock.json"
    return stamp.exists() and stamp.read_text() == lock.read_text()


def node_tools() -> Path:
    """tests/js with its node_modules installed (skips the test without Node.js and npm)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed")
    if _installed():
        return JS_DIR
    with (JS_DIR / ".install.lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if not _installed():
            done = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=JS_DIR,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
            )
            if done.returncode != 0:
                raise RuntimeError(f"npm ci failed in {JS_DIR}:\n{done.stdout}\n{done.stderr}")
            (JS_DIR / "node_modules" / ".iven-installed").write_text(
                (JS_DIR / "package-lock.json").read_text()
            )
    return JS_DIR


def run_node(
    script: str | Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Runs `node script args…` in tests/js (its node_modules installed first)."""
    cwd = node_tools()
    return subprocess.run(
        ["node", str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def run_node_json(script: str | Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """run_node, then the JSON document the script printed last on stdout (fails the test with
    the script's output if it failed)."""
    done = run_node(script, *args, env=env)
    assert done.returncode == 0, f"node {script} failed:\n{done.stdout}\n{done.stderr}"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines, f"node {script} printed nothing:\n{done.stderr}"
    return json.loads(lines[-1])


class NodeLines:
    """A Node script from tests/js run alongside the test (the in-process server keeps serving),
    read one JSON line at a time: the test acts on the server between the script's lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, script: str, *args: str) -> NodeLines:
        cwd = node_tools()
        process = await asyncio.create_subprocess_exec(
            "node",
            script,
            *args,
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def line(self, timeout: float = 20.0) -> Any:
        """The script's next JSON line (fails the test with its stderr if it ended instead)."""
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not raw:
            await self.process.wait()
            assert self.process.stderr is not None
            errors = (await self.process.stderr.read()).decode()
            raise AssertionError(f"the script ended ({self.process.returncode}):\n{errors}")
        return json.loads(raw)

    async def finished(self, timeout: float = 20.0) -> int:
        """Waits for the script to exit; its exit status."""
        return await asyncio.wait_for(self.process.wait(), timeout)

    def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
