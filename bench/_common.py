"""Shared plumbing for the benchmark scripts: ports, subprocesses, infrastructure,
API keys, the closed-loop load generator and table printing.

Everything listens on 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from shared.settings import Settings

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
EXAMPLE = REPO / "examples" / "police-report.json"

# Settings fields a parent shell might carry: the benchmark sets each one explicitly.
# Every Signpost setting, so the parent's environment never leaks into a child.
_SETTINGS_ENV = {name.upper() for name in Settings.model_fields}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(**extra: str) -> dict[str, str]:
    """The parent environment without Signpost settings, plus the repo on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in _SETTINGS_ENV}
    env["PYTHONPATH"] = str(REPO) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env["PYTHONUNBUFFERED"] = "1"
    # The benches measure throughput from one key: the per-client rate limit is off.
    env["INTAKE_RATE_PER_MINUTE"] = "0"
    env.update(extra)
    return env


def signpost_cmd() -> list[str]:
    exe = Path(PYTHON).parent / "signpost"
    return [str(exe)] if exe.exists() else [PYTHON, "-m", "services.cli"]


def _script_value(
    script: str,
    args: Sequence[str],
    timeout: float,
    name: str,
    env: dict[str, str] | None = None,
) -> str:
    """Run scripts/<script> and return the value of its one `NAME=value` stdout line."""
    cmd = ["bash", str(REPO / "scripts" / script), *args]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=None if env is None else {**os.environ, **env},
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{script} {args[0]} timed out after {timeout:.0f}s") from exc
    if done.returncode != 0:
        raise RuntimeError(
            f"{script} {' '.join(args)} failed (rc {done.returncode}):\n{done.stderr[-3000:]}"
        )
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith(name + "="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError(f"{script} printed no {name}= line; stdout was {done.stdout!r}")


# Server options that make PostgreSQL count every statement per database
# (pg_stat_statements: BEGIN and COMMIT too), for round trips per report.
COUNT_STATEMENTS = (
    "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=10000 "
    "-c pg_stat_statements.track_utility=on"
)


class Statements:
    """Statements and transactions per database over a stretch of load, read from
    pg_stat_statements and pg_stat_database on a cluster started with COUNT_STATEMENTS."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._commits: dict[str, int] = {}
        self._bytes: dict[str, int] = {}

    async def _connect(self) -> Any:
        import asyncpg

        return await asyncpg.connect(self.admin_url)

    async def reset(self) -> None:
        conn = await self._connect()
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.execute("SELECT pg_stat_statements_reset()")
            self._commits = await self._transactions(conn)
            self._bytes = await self._sizes(conn)
        finally:
            await conn.close()

    @staticmethod
    async def _transactions(conn: Any) -> dict[str, int]:
        rows = await conn.fetch(
            "SELECT datname, xact_commit + xact_rollback AS n FROM pg_stat_database "
            "WHERE datname IS NOT NULL"
        )
        return {r["datname"]: int(r["n"]) for r in rows}

    @staticmethod
    async def _sizes(conn: Any) -> dict[str, int]:
        rows = await conn.fetch(
            "SELECT datname, pg_database_size(datname) AS n FROM pg_database WHERE datallowconn"
        )
        return {r["datname"]: int(r["n"]) for r in rows}

    async def since_reset(self, top: int = 12) -> dict[str, Any]:
        """Per database: statements, their execution time in the server (ms), transactions,
        bytes grown (tables and indexes, WAL not counted), the `top` statements by
        calls and the five that took longest in all, each as (calls, execution ms,
        statement)."""
        conn = await self._connect()
        try:
            # The snapshot of pg_stat_database is taken once per transaction: read
            # the counters outside one so they are current.
            commits = await self._transactions(conn)
            sizes = await self._sizes(conn)
            rows = await conn.fetch(
                "SELECT d.datname, s.calls, s.total_exec_time, s.query FROM pg_stat_statements s "
                "JOIN pg_database d ON d.oid = s.dbid ORDER BY s.calls DESC"
            )
        finally:
            await conn.close()
        out: dict[str, Any] = {}
        for r in rows:
            db = out.setdefault(r["datname"], {"statements": 0, "exec_ms": 0.0, "top": []})
            db["statements"] += int(r["calls"])
            db["exec_ms"] += float(r["total_exec_time"])
            if len(db["top"]) < top:
                db["top"].append(
                    (
                        int(r["calls"]),
                        round(float(r["total_exec_time"]), 1),
                        " ".join(str(r["query"]).split())[:110],
                    )
                )
        for name, db in out.items():
            db["exec_ms"] = round(db["exec_ms"], 1)
            slowest = sorted(
                (r for r in rows if r["datname"] == name),
                key=lambda r: float(r["total_exec_time"]),
                reverse=True,
            )[:5]
            db["slowest"] = [
                (
                    int(r["calls"]),
                    round(float(r["total_exec_time"]), 1),
                    " ".join(str(r["query"]).split())[:110],
                )
                for r in slowest
            ]
            db["transactions"] = commits.get(name, 0) - self._commits.get(name, 0)
            db["bytes"] = sizes.get(name, 0) - self._bytes.get(name, 0)
        return out


class Postgres:
    """A throwaway cluster via scripts/postgres.sh, in its own folder under the system
    temp dir (the `postgres` OS user must reach it); stop() stops it and removes it."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="signpost-bench-pg-"))
        self.admin_url = ""
        self.started = False

    def start(self, databases: Sequence[str], timeout: float = 120, options: str = "") -> str:
        """Start the cluster with `databases`; `options` are more server options
        (`PG_OPTIONS` of scripts/postgres.sh)."""
        self.started = True  # stop() is idempotent; call it even if start half-failed
        self.admin_url = _script_value(
            "postgres.sh",
            ["start", str(self.dir), *databases],
            timeout,
            "DATABASE_ADMIN_URL",
            env={"PG_OPTIONS": options} if options else None,
        )
        return self.admin_url

    def url(self, database: str) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{database}"

    def pids(self) -> list[int]:
        """The postmaster and (via psutil, by the caller) its backends."""
        pidfile = self.dir / "data" / "postmaster.pid"
        try:
            return [int(pidfile.read_text().splitlines()[0])]
        except (OSError, ValueError, IndexError):
            return []

    def stop(self, timeout: float = 90) -> None:
        if not self.started:
            return
        try:
            subprocess.run(
                ["bash", str(REPO / "scripts" / "postgres.sh"), "stop", str(self.dir)],
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            log("postgres.sh stop timed out")
            return  # leave the folder of a server that may still run
        self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


# The bench's broker compiles with the JVM's first tier only (C1). With both tiers its
# C2 compiler took about half the broker's CPU in phase B, still 0.12 of a core a
# minute after start: a cold JVM's cost, which a broker running for weeks on its own
# nodes does not pay, taken here from the services' two cores (bench/README.md, "The
# fifth round"). `full_jit` keeps both tiers.
FIRST_TIER_ONLY = "-XX:TieredStopAtLevel=1"
KEEP_JIT_THREADS = "-XX:-UseDynamicNumberOfCompilerThreads"
_JIT_THREADS = ("C1 CompilerThre", "C2 CompilerThre")


class Kafka:
    """A throwaway broker via scripts/kafka.sh (started in `dir`, stopped by stop())."""

    def __init__(self, directory: Path, *, full_jit: bool = False) -> None:
        self.dir = directory
        self.bootstrap = ""
        self.started = False
        self.full_jit = full_jit

    def start(self, timeout: float = 240) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.started = True
        # Compiler threads that come and go would take their CPU time with them when
        # they exit: the bench keeps them, so `jit_cpu` only grows.
        options = [os.environ.get("KAFKA_HEAP_OPTS", "-Xmx512m -Xms128m"), KEEP_JIT_THREADS]
        if not self.full_jit:
            options.append(FIRST_TIER_ONLY)
        env = {"KAFKA_HEAP_OPTS": " ".join(options)}
        self.bootstrap = _script_value(
            "kafka.sh", ["start", str(self.dir)], timeout, "KAFKA_BOOTSTRAP_SERVERS", env
        )
        return self.bootstrap

    def jit_cpu(self) -> float:
        """CPU seconds the broker's JIT compiler threads have used (Linux /proc)."""
        total = 0
        for pid in self.pids():
            tasks = Path(f"/proc/{pid}/task")
            try:
                threads = list(tasks.iterdir())
            except OSError:
                continue
            for thread in threads:
                try:
                    if (thread / "comm").read_text().strip() not in _JIT_THREADS:
                        continue
                    fields = (thread / "stat").read_text().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                total += int(fields[11]) + int(fields[12])  # utime, stime (ticks)
        return total / os.sysconf("SC_CLK_TCK")

    def pids(self) -> list[int]:
        try:
            return [int((self.dir / "kafka.pid").read_text().strip())]
        except (OSError, ValueError):
            return []

    def stop(self, timeout: float = 90) -> None:
        if not self.started:
            return
        try:
            subprocess.run(
                ["bash", str(REPO / "scripts" / "kafka.sh"), "stop", str(self.dir)],
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            log("kafka.sh stop timed out")
        self.started = False


class Proc:
    """A server subprocess with its output in a log file; stop() by its own pid."""

    def __init__(self, name: str, cmd: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.log_path = cwd / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            self.cmd,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15) -> int | None:
        if self.alive():
            try:
                self.popen.send_signal(signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} (pid {self.pid}) ignored SIGTERM for {timeout:.0f}s; killing")
                self.popen.kill()
                try:
                    self.popen.wait(10)
                except subprocess.TimeoutExpired:
                    log(f"{self.name} (pid {self.pid}) did not die")
        self._log.close()
        return self.popen.returncode


def uvicorn_proc(name: str, factory: str, port: int, env: dict[str, str], cwd: Path) -> Proc:
    cmd = [
        PYTHON,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return Proc(name, cmd, env, cwd)


def wait_ready(procs_urls: Sequence[tuple[Proc, str]], timeout: float) -> None:
    """Poll each URL until it answers 200; fail fast if a process exits."""
    deadline = time.monotonic() + timeout
    pending = list(procs_urls)
    last: dict[str, str] = {}
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for proc, url in list(pending):
                if not proc.alive():
                    raise RuntimeError(
                        f"{proc.name} exited (rc {proc.popen.returncode}) before ready; "
                        f"log tail:\n{proc.tail()}"
                    )
                try:
                    r = client.get(url)
                    if r.status_code == 200:
                        pending.remove((proc, url))
                        continue
                    last[proc.name] = f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    last[proc.name] = type(exc).__name__
            if not pending:
                break
            if time.monotonic() > deadline:
                names = ", ".join(f"{p.name}: {last.get(p.name)}" for p, _ in pending)
                tails = "\n".join(f"--- {p.name} ---\n{p.tail()}" for p, _ in pending)
                raise RuntimeError(f"not ready after {timeout:.0f}s ({names})\n{tails}")
            time.sleep(0.25)


def run_signpost(args: list[str], *, env: dict[str, str], cwd: Path, timeout: float) -> str:
    """`signpost ARGS...` to completion: its standard output, or why it failed."""
    done = subprocess.run(
        [*signpost_cmd(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"signpost {' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def migrate(*, env: dict[str, str], cwd: Path, service: str, timeout: float = 120) -> None:
    """`signpost migrate --service NAME`, as a deployment runs it before the service."""
    run_signpost(["migrate", "--service", service], env=env, cwd=cwd, timeout=timeout)


def create_key(
    *,
    env: dict[str, str],
    cwd: Path,
    kind: str,
    organisation: str,
    scopes: str,
    data_dir: Path | None = None,
    timeout: float = 60,
) -> str:
    """`signpost keys create ...`: the key is the last line of stdout."""
    cmd = [
        "keys",
        "create",
        "--name",
        f"bench {kind}",
        "--kind",
        kind,
        "--organisation",
        organisation,
        "--scopes",
        scopes,
    ]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    out = run_signpost(cmd, env=env, cwd=cwd, timeout=timeout)
    return out.strip().splitlines()[-1].strip()


def report_factory(prefix: str) -> Callable[[int], bytes]:
    """examples/police-report.json with a distinct source.reference per request, about
    a different child each time except that every tenth report is about the child of
    the report before (so triage's matching and history are exercised as in life,
    not with one child reported thousands of times, nor thousands at one postcode)."""
    template = json.loads(EXAMPLE.read_text())
    born = date(2016, 1, 1)

    def make(i: int) -> bytes:
        child = i - 1 if i % 10 == 0 and i > 0 else i
        template["source"]["reference"] = f"{prefix}-{i:07d}"
        template["child"]["given_name"] = f"Child{child}"
        template["child"]["date_of_birth"] = (born + timedelta(days=child % 2500)).isoformat()
        # Spread over postcodes as children are (a few per postcode, not all in one).
        inward = f"{child % 9 + 1}{chr(65 + (child // 9) % 26)}{chr(65 + (child // 234) % 26)}"
        template["child"]["address"]["postcode"] = f"EX{1 + child % 20} {inward}"
        return json.dumps(template).encode()

    return make


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    elapsed: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    bodies: list[tuple[float, bytes]] = field(default_factory=list)  # (start, body) if kept
    server_cpu: float = 0.0  # CPU seconds the server process used in the window
    client_cpu: float = 0.0  # CPU seconds the load generator used in the window

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0


CLIENTS = ("aiohttp", "httpx")


def add_client_option(parser: argparse.ArgumentParser, default: str = "aiohttp") -> None:
    """`--client`: which HTTP client the load generator posts with (`Poster`)."""
    parser.add_argument(
        "--client",
        choices=CLIENTS,
        default=default,
        help=f"the load generator's HTTP client (default {default}; httpx is the generator "
        "of the first rounds, ten times dearer in CPU than aiohttp: bench/README.md)",
    )


class Poster:
    """The load generator's HTTP client: `n` keep-alive connections.

    The generator shares the 2-core machine with what it measures, so its own CPU is
    taken from the servers. With `kind="aiohttp"` (the default) it costs 0.07-0.1 ms
    of client CPU per request here; with `kind="httpx"`, the generator of the first two
    rounds of issue 18 (one client per connection), 0.75 ms, and it set the pace of any
    server cheaper than that (`bench/README.md`, "The generator").
    """

    errors: tuple[type[BaseException], ...] = (
        aiohttp.ClientError,
        httpx.HTTPError,
        TimeoutError,
    )

    def __init__(self, n: int, *, kind: str = "aiohttp", timeout: float = 30.0) -> None:
        if kind not in CLIENTS:
            raise ValueError(f"unknown client {kind!r}: one of {', '.join(CLIENTS)}")
        self.size = n
        self.kind = kind
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._pool: asyncio.Queue[httpx.AsyncClient] | None = None
        self._clients: list[httpx.AsyncClient] = []

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST `body`, waiting for a free connection; the status and the response's
        body. Raises one of `Poster.errors`."""
        if self.kind == "httpx":
            return await self._post_httpx(url, body, headers)
        if self._session is None:  # made inside the running loop, as aiohttp requires
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.size),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )
        async with self._session.post(url, data=body, headers=headers) as response:
            return response.status, await response.read()

    async def _post_httpx(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if self._pool is None:
            # One client per connection: one shared pooled client cost ~5 ms of CPU per
            # request (httpcore scans its pool on every request).
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            self._pool = asyncio.Queue()
            for _ in range(self.size):
                client = httpx.AsyncClient(limits=limits, timeout=self._timeout)
                self._clients.append(client)
                self._pool.put_nowait(client)
        client = await self._pool.get()
        try:
            r = await client.post(url, content=body, headers=headers)
            return r.status_code, r.content
        finally:
            self._pool.put_nowait(client)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        clients, self._clients, self._pool = self._clients, [], None
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


async def closed_loop(
    poster: Poster,
    url: str,
    headers: dict[str, str],
    make_body: Callable[[int], bytes],
    *,
    total: int,
    duration: float,
    expect: int = 202,
    start_index: int = 0,
    keep_bodies: bool = False,
) -> LoadResult:
    """`poster.size` workers post back to back until `total` requests or `duration`
    seconds. Only responses with status `expect` count; everything else is an error by
    kind."""
    result = LoadResult()
    counter = iter(range(start_index, start_index + total))
    t0 = time.perf_counter()
    deadline = t0 + duration
    last_done = t0

    async def worker() -> None:
        nonlocal last_done
        for i in counter:
            if time.perf_counter() >= deadline:
                return
            body = make_body(i)
            result.sent += 1
            started = time.perf_counter()
            try:
                status, content = await poster.post(url, body, headers)
            except Poster.errors as exc:
                result.errors[type(exc).__name__] += 1
                continue
            finished = time.perf_counter()
            last_done = max(last_done, finished)
            if status == expect:
                result.ok += 1
                result.latencies.append(finished - started)
                if keep_bodies:
                    result.bodies.append((started, content))
            else:
                result.errors[f"HTTP {status}"] += 1

    await asyncio.gather(*(worker() for _ in range(poster.size)))
    result.elapsed = last_done - t0
    return result


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [sep]
    for n, row in enumerate(cells):
        padded = (c.rjust(w) if n else c.ljust(w) for c, w in zip(row, widths, strict=True))
        out.append("| " + " | ".join(padded) + " |")
        if n == 0:
            out.append(sep)
    out.append(sep)
    return "\n".join(out)


def fmt_errors(errors: Counter[str]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in errors.most_common()) or "-"
