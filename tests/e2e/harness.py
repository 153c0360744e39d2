"""Helpers for the end-to-end tests: real processes, a real webhook receiver."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.infra import SCRIPTS, start_script, stop_script, unavailable

ROOT = Path(__file__).resolve().parents[2]
SIGNPOST = [sys.executable, "-m", "services.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def create_key(
    env: Mapping[str, str],
    *,
    kind: str,
    organisation: str,
    scopes: str,
    data_dir: Path | None = None,
) -> str:
    """`signpost keys create`; the key is the last line it prints."""
    args = [
        *SIGNPOST,
        "keys",
        "create",
        "--name",
        f"e2e {kind}",
        "--kind",
        kind,
        "--organisation",
        organisation,
        "--scopes",
        scopes,
    ]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    return run(args, env).strip().splitlines()[-1]


def migrate(env: Mapping[str, str], service: str) -> None:
    """`signpost migrate --service NAME`: the service's database (and the key registry)
    to this release's schema, as a deployment does before the service starts."""
    run([*SIGNPOST, "migrate", "--service", service], env, timeout=120)


def run(args: list[str], env: Mapping[str, str], *, timeout: float = 60) -> str:
    """A command to completion (it must succeed): its standard output."""
    done = subprocess.run(
        args,
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout


class Process:
    """A Signpost process whose output goes to a file the test can show on failure."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.args = list(args)
        self.env = dict(env)
        self.started = time.monotonic()
        self.log = log
        self.handle = log.open("w")
        self.proc = subprocess.Popen(
            [*SIGNPOST, *args],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.handle.close()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL, as a crash (or the OOM killer) would: no clean-up of any kind."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.handle.close()

    def again(self, log: Path) -> Process:
        """The same command with the same environment, started now (after `kill` or
        `stop`), its output in `log`."""
        return Process(self.args, self.env, log)

    def lines(self) -> list[str]:
        """Every line the process has written so far."""
        return self.log.read_text().splitlines()


async def time_to_answer(
    url: str, proc: Process, *, within: float = 30.0, method: str = "GET", **request: Any
) -> float:
    """Seconds from the process's start until `url` first answers 2xx (polled every
    50 ms); fails if the process exits or nothing answers `within` seconds."""
    deadline = proc.started + within
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            if proc.proc.poll() is not None:
                raise AssertionError(f"process exited:\n{proc.tail()}")
            try:
                answer = await client.request(method, url, **request)
                if answer.is_success:
                    return time.monotonic() - proc.started
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {within} s:\n{proc.tail()}")
            await asyncio.sleep(0.05)


class Infrastructure:
    """A PostgreSQL cluster or Kafka broker of the test's own (scripts/postgres.sh,
    scripts/kafka.sh), which the test may stop and start again at the same address."""

    def __init__(self, script: str) -> None:
        self.script = script
        try:
            self.workdir, self.address = start_script(script)
        except Exception as exc:
            unavailable(script, str(exc))
            raise

    def _run(self, *args: str, env: Mapping[str, str] | None = None) -> None:
        subprocess.run(
            ["bash", str(SCRIPTS / self.script), *args],
            env={**os.environ, **(env or {})},
            capture_output=True,
            timeout=180,
            check=True,
        )

    def remove(self) -> None:
        stop_script(self.script, self.workdir)


class Postgres(Infrastructure):
    """`address` is the admin URL."""

    def __init__(self) -> None:
        super().__init__("postgres.sh")
        self.port = self.address.rsplit(":", 1)[1].split("/", 1)[0]

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server: `immediate` is a crash (no checkpoint; recovery at start)."""
        self._run("stop", self.workdir, mode)

    def start(self) -> None:
        """Start it again on the same port."""
        self._run("start", self.workdir, env={"PG_PORT": self.port})


class Kafka(Infrastructure):
    """`address` is the bootstrap server."""

    def __init__(self) -> None:
        super().__init__("kafka.sh")
        self.running = True

    def stop(self) -> None:
        """A clean shutdown of the broker (SIGTERM)."""
        self._run("stop", self.workdir)
        self.running = False

    def start(self) -> None:
        """Start it again: same port, same cluster, the records it had."""
        self._run("restart", self.workdir)
        self.running = True

    def start_if_stopped(self) -> None:
        if not self.running:
            self.start()


async def wait_ready(base_url: str, procs: list[Process], within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while True:
            for p in procs:
                if p.proc.poll() is not None:
                    raise AssertionError(f"process exited early:\n{p.tail()}")
            try:
                if (await client.get(f"{base_url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("not ready in time:\n" + "\n".join(p.tail() for p in procs))
            await asyncio.sleep(0.3)


class WebhookSink:
    """A local partner endpoint that keeps every request exactly as it arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.requests: list[tuple[dict[str, str], bytes]] = []
        # When each request arrived (time.monotonic()), in the same order.
        self.arrivals: list[float] = []
        self.arrived = asyncio.Event()

        async def hooks(request: Request) -> Response:
            self.requests.append((dict(request.headers), await request.body()))
            self.arrivals.append(time.monotonic())
            self.arrived.set()
            return Response(status_code=204)

        config = uvicorn.Config(
            Starlette(routes=[Route("/hooks", hooks, methods=["POST"])]),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WebhookSink:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task

    async def wait_for(self, count: int, within: float) -> None:
        async with asyncio.timeout(within):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


def report(i: int, *, organisation: str = "e2e-police") -> dict[str, Any]:
    """A valid police report; every third one carries a statutory indicator."""
    body = json.loads((ROOT / "examples" / "police-report.json").read_text())
    body["source"]["organisation"] = organisation
    body["source"]["reference"] = f"E2E-{i:05d}"
    body["child"]["given_name"] = f"Child{i}"
    # Thirty different children: triage matches on names, date of birth and postcode.
    body["child"]["date_of_birth"] = f"2015-{1 + i % 12:02d}-{1 + i % 28:02d}"
    if i % 3 == 0:
        body["concerns"] = [{"code": "child_criminal_exploitation"}]
        body["immediate_risk"] = True
    return body


class Poster:
    """Posts a report every `interval` seconds, keeping the ids of those accepted; a
    refused connection (intake is down) is counted, any answer but 202 is kept."""

    def __init__(
        self, intake: str, key: str, *, interval: float = 0.3, first: int = 10_000
    ) -> None:
        self.intake, self.key, self.interval, self.first = intake, key, interval, first
        self.accepted: set[str] = set()
        self.unreachable = 0
        self.refused: list[tuple[int, str]] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        n = self.first
        async with httpx.AsyncClient(timeout=30) as client:
            while not self._stop.is_set():
                n += 1
                try:
                    answer = await client.post(
                        f"{self.intake}/v1/reports",
                        headers={"Authorization": f"Bearer {self.key}"},
                        json=report(n),
                    )
                except httpx.HTTPError:
                    self.unreachable += 1
                else:
                    if answer.status_code == 202:
                        self.accepted.add(answer.json()["referral_id"])
                    else:
                        self.refused.append((answer.status_code, answer.text[:300]))
                await asyncio.sleep(self.interval)

    def __enter__(self) -> Poster:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
