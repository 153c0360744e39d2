"""The README's first-hour commands work as written: `signpost run` (what `make run`
starts), then the shell blocks of its walkthrough, run by bash exactly as a newcomer
pastes them (only `localhost:8000` becomes this test's port). They reach a verified
webhook at the demo sink, an agency (the MASH) accepting the referral, and a school
acknowledging its Operation Encompass notice.

A person pastes one command after another, and the pipeline works in between; the
test runs the commands one at a time and repeats a read until what its comment promises
has happened (at most `PATIENCE` seconds). Variables a command sets (`REF=$(…)`) carry
to the next, as in one shell."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Process, free_port, wait_ready
from tests.infra import ROOT

pytestmark = pytest.mark.app

PATIENCE = 30.0
BLOCKS = (
    "Then, in a second shell in this folder, with the demo keys",
    "Operation Encompass, with the same police key:",
)
ASSIGNED = re.compile(r"^([A-Z][A-Z_]*)=\$\(", re.MULTILINE)


def blocks_of_readme() -> list[str]:
    """The sh code block that follows each of BLOCKS' introductions."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = []
    for intro in BLOCKS:
        start = text.index(intro)
        opening = text.index("```sh\n", start) + len("```sh\n")
        found.append(text[opening : text.index("```", opening)])
    return found


def commands_of(block: str) -> list[str]:
    """A block's commands: the groups of lines between blank lines, comments dropped."""
    groups = [g for g in block.split("\n\n") if g.strip()]
    return ["\n".join(ln for ln in g.splitlines() if not ln.startswith("#")) for g in groups]


class Shell:
    """Runs commands as one shell would: each command sees the variables the ones
    before it set."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env = env
        self.port = port

    def run(self, command: str) -> str:
        names = ASSIGNED.findall(command)
        script = "set -euo pipefail\n" + command.replace("localhost:8000", f"127.0.0.1:{self.port}")
        script += "".join(f'\nprintf "\\n__VAR__ %s=%s\\n" {n} "${{{n}}}"' for n in names)
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        out = []
        for line in done.stdout.splitlines():
            if line.startswith("__VAR__ "):
                name, _, value = line.removeprefix("__VAR__ ").partition("=")
                assert value, f"{command} set no {name}"
                self.env[name] = value
            else:
                out.append(line)
        return "\n".join(out)

    def until(self, command: str, promise: Callable[[str], bool]) -> str:
        deadline = time.monotonic() + PATIENCE
        while True:
            out = self.run(command)
            if promise(out):
                return out
            assert time.monotonic() < deadline, f"{command}\nnever kept its promise:\n{out}"
            time.sleep(0.5)


def answer(out: str) -> Any:
    """A command's output as the JSON it printed."""
    return json.loads(out)


async def test_a_newcomer_follows_the_readme_to_a_verified_webhook_an_accept_and_an_ack(
    tmp_path: Path,
) -> None:
    port = free_port()
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "KEYS_DATABASE_URL")}
    server = Process(["run", "--port", str(port), "--data-dir", str(data)], env, tmp_path / "log")
    try:
        await wait_ready(f"http://127.0.0.1:{port}", [server])
        keys = json.loads((data / "demo.json").read_text())["keys"]
        shell = Shell(
            {"KEY": keys["police"], "SCHOOL_KEY": keys["school"], "MASH_KEY": keys["mash"]},
            port,
        )
        first, encompass = (commands_of(block) for block in blocks_of_readme())
        assert len(first) == 5 and len(encompass) == 4, "the walkthrough's commands changed"

        # 1. The statutory report is accepted (202): REF is its referral id.
        shell.run(first[0])
        ref = shell.env["REF"]
        assert ref.startswith("ref_")
        # 2. Its journey reaches routed, to the MASH.
        journey = shell.until(first[1], lambda out: '"routed"' in out)
        assert "MASH" in journey
        # 3. The demo sink kept the hub's webhook about it: kept only once its signature
        #    verified (a bad signature is a 401 and is not kept).
        shell.until(first[2], lambda out: ref in out)
        # 4. The MASH accepts it, and the police journey shows it.
        accepted = answer(shell.run(first[3]))
        assert isinstance(accepted, dict) and accepted["status"] == "accepted", accepted
        shell.until(first[1], lambda out: '"accepted"' in out)
        # 5. A broken report is a 422 problem naming its fields.
        problem = answer(shell.run(first[4]))
        assert isinstance(problem, dict) and problem["status"] == 422 and problem["errors"]

        # Operation Encompass: the report names two children at two schools.
        shell.run(encompass[0])
        assert shell.env["DA"].startswith("ref_")
        shell.until(encompass[1], lambda out: "org.signpost.encompass.notice.v1" in out)
        told = shell.until(encompass[2], lambda out: out.strip() not in ("", "[]"))
        assert {n["school_urn"] for n in answer(told)} >= {"100001"}
        # The school reads its notice and acknowledges it (delivered to its webhook
        # already, the first way it arrived is what is kept).
        acknowledged = answer(shell.run(encompass[3]))
        assert isinstance(acknowledged, dict), acknowledged
        assert acknowledged["notice_id"] == shell.env["NOTICE"]
        assert acknowledged["school_urn"] == "100001" and acknowledged["notified_at"]
    finally:
        server.stop()
