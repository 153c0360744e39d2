"""Benchmark: end-to-end reports/s and POST-to-webhook latency through all four
services as separate processes on real Kafka and PostgreSQL.

Starts Kafka (scripts/kafka.sh) and PostgreSQL (scripts/postgres.sh; one database
per service plus signpost_keys), then `signpost serve intake|triage|routing|notify`
on free 127.0.0.1 ports (MODE=distributed, TOPIC_PARTITIONS=3). A webhook sink runs
inside this process; the hub subscribes it to org.signpost.referral.routed.v1 through
notify's POST /v1/subscriptions, and the sink verifies every signature and records
when each referral_id first arrives.

  warm-up  a few reports end to end (consumer groups settle; not counted)
  phase A  throughput: N reports posted by 32 workers as fast as intake accepts;
           reports/s = N / (first POST start -> last webhook received)
  phase B  latency: a fixed rate (100/s) for a fixed time (20 s), open loop;
           per report, scheduled POST start -> webhook receipt: p50, p99
  phase E  embedded: `signpost run --no-demo` (the four services in one process on
           SQLite and the in-process bus, the README's default), N reports posted by
           the same workers: reports/s = N / (first POST start -> last webhook)
Each service's RSS is sampled every 0.5 s (psutil); the peak is printed.
The broker's JVM compiles with its first tier only (`--kafka-full-jit`: both); the CPU
table shows what its JIT compiler threads used, as part of kafka's.

Everything is stopped at the end (services, Kafka, PostgreSQL), whatever happens.
Prints tables and, last, one JSON line of results.
Targets: >= 300 reports/s; p99 <= 500 ms at 100/s; each service <= 150 MB RSS;
embedded >= 150 reports/s.

With --profile DIR, py-spy samples each service process for the length of phase A
(of phase B with --profile-phase b; DIR/<service>.txt, py-spy's raw collapsed stacks)
and the run ends by printing, per service, the share of samples (GIL held) per bucket
(SQL/DB, JSON/pydantic, Kafka, HTTP, Signpost code, other) and the top functions by self
time (bench/_profile.py). Sampling slows the services a little: a profiled run's
reports/s is lower than an unprofiled one.

Example:  .venv/bin/python bench/e2e.py --reports 3000 --rate 100 --seconds 20
Profile:  .venv/bin/python bench/e2e.py --reports 2000 --skip-b --profile /tmp/profiles
          .venv/bin/python bench/e2e.py --skip-a --skip-embedded --profile /tmp/pb \
              --profile-phase b
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import sys
import tempfile
import threading
import time
from base64 import b64decode
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _profile
from bench._common import (
    COUNT_STATEMENTS,
    Kafka,
    Poster,
    Postgres,
    Proc,
    Statements,
    add_client_option,
    base_env,
    closed_loop,
    create_key,
    fmt_errors,
    free_port,
    log,
    migrate,
    percentile,
    report_factory,
    signpost_cmd,
    table,
    wait_ready,
)

SERVICES = ("intake", "triage", "routing", "notify")
ROUTED = "org.signpost.referral.routed.v1"
TARGET_RPS = 300.0
TARGET_P99_MS = 500.0
TARGET_RSS_MB = 150.0
TARGET_EMBEDDED_RPS = 150.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/e2e.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--reports", type=int, default=3000, help="phase A reports (default 3000)")
    p.add_argument("--concurrency", type=int, default=32, help="phase A workers (default 32)")
    add_client_option(p)
    p.add_argument("--rate", type=float, default=100.0, help="phase B reports/s (default 100)")
    p.add_argument("--seconds", type=float, default=20.0, help="phase B duration (default 20)")
    p.add_argument("--warmup", type=int, default=30, help="warm-up reports (default 30)")
    p.add_argument(
        "--phase-a-timeout",
        type=float,
        default=180.0,
        help="cap on phase A, posting plus webhook drain, in seconds (default 180)",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="wait for the last webhooks after phase B / warm-up (default 60)",
    )
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument(
        "--consumer-linger-ms",
        type=int,
        metavar="MS",
        help="the services' CONSUMER_LINGER_MS (default: theirs, 50)",
    )
    p.add_argument("--skip-a", action="store_true", help="skip phase A")
    p.add_argument("--skip-b", action="store_true", help="skip phase B")
    p.add_argument(
        "--skip-embedded", action="store_true", help="skip phase E (the embedded process)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    p.add_argument(
        "--kafka-full-jit",
        action="store_true",
        help="let the broker's JVM compile with both tiers (C1 and C2); by default it stops "
        "at C1, whose compiling a cold broker finishes in seconds",
    )
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample each service with py-spy during phase A (or --profile-phase); raw "
        "stacks in DIR/<service>.txt",
    )
    p.add_argument(
        "--profile-phase",
        choices=("a", "b"),
        default="a",
        help="the phase --profile samples: a (throughput, default) or b (the fixed rate)",
    )
    p.add_argument(
        "--profile-rate", type=int, default=200, help="py-spy samples per second (default 200)"
    )
    args = p.parse_args(argv)
    if args.profile is not None:
        if args.skip_a and args.profile_phase == "a":
            p.error("--profile samples phase A: it cannot go with --skip-a")
        if args.skip_b and args.profile_phase == "b":
            p.error("--profile-phase b samples phase B: it cannot go with --skip-b")
        if _profile.py_spy() is None:
            p.error("--profile needs py-spy (bash scripts/bootstrap.sh installs it)")
    if args.consumer_linger_ms is not None and not 0 <= args.consumer_linger_ms <= 1000:
        p.error("--consumer-linger-ms must be in [0, 1000]")
    if not 1 <= args.profile_rate <= 1000:
        p.error("--profile-rate must be in [1, 1000]")
    if not 1 <= args.reports <= 200_000:
        p.error("--reports must be in [1, 200000]")
    if not 1 <= args.concurrency <= 512:
        p.error("--concurrency must be in [1, 512]")
    if not 0 < args.rate <= 2000 or not 0 < args.seconds <= 600:
        p.error("--rate must be in (0, 2000] and --seconds in (0, 600]")
    if not 0 <= args.warmup <= 10_000:
        p.error("--warmup must be in [0, 10000]")
    for name in ("phase_a_timeout", "drain_timeout", "startup_timeout"):
        if not 0 < getattr(args, name) <= 1800:
            p.error(f"--{name.replace('_', '-')} must be in (0, 1800]")
    return args


# --------------------------------------------------------------------------- sink


class Sink:
    """The partner's webhook endpoint: verifies signatures, records first receipt."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        # Per referral: seconds from routing's decision (the event's routed_at, wall
        # clock) to the webhook's receipt here: notify's part of the journey.
        self.after_routing: dict[str, float] = {}
        self.duplicates = 0
        self.bad_signatures = 0
        self.other = Counter[str]()
        self.secret: str | None = None
        self._verifier: Any = None
        self.server: Any = None
        self.task: asyncio.Task[None] | None = None
        self.port = 0

    def set_secret(self, secret: str) -> None:
        from standardwebhooks.webhooks import Webhook

        self.secret = secret
        self._verifier = Webhook(secret)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """A bare ASGI app (cheaper than a framework; the sink shares our CPU)."""
        if scope["type"] == "lifespan":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        now = time.perf_counter()
        body = b"".join(chunks)
        status = 204
        try:
            if self._verifier is not None:
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                try:
                    self._verifier.verify(body, headers)
                except Exception:
                    self.bad_signatures += 1
                    status = 400
            if status == 204:
                payload = json.loads(body)
                if payload.get("type") != ROUTED:
                    self.other[str(payload.get("type"))] += 1
                else:
                    rid = payload["data"]["referral_id"]
                    if rid in self.received:
                        self.duplicates += 1
                    else:
                        self.received[rid] = now
                        routed_at = datetime.fromisoformat(payload["data"]["routed_at"])
                        self.after_routing[rid] = time.time() - routed_at.timestamp()
        except Exception as exc:  # never let the sink 500 on an odd body
            self.other[f"unreadable: {type(exc).__name__}"] += 1
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def start(self) -> str:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            self.handle,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            interface="asgi3",
        )
        self.server = uvicorn.Server(config)
        # Keep Ctrl-C working as usual: the bench's own finally stops everything.
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 15
        while not self.server.started:
            if self.task.done() or time.monotonic() > deadline:
                raise RuntimeError("webhook sink did not start")
            await asyncio.sleep(0.05)
        return f"http://127.0.0.1:{self.port}/webhook"

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            try:
                await asyncio.wait_for(self.task, 10)
            except (TimeoutError, asyncio.CancelledError):
                self.task.cancel()

    async def subscribe(self, notify: str, hub_key: str) -> str:
        """Start the sink and subscribe it, as the hub, to referral.routed through the
        notify API at `notify`; the sink's URL."""
        sink_url = await self.start()
        async with httpx.AsyncClient(timeout=15) as client:
            r = await client.post(
                f"{notify}/v1/subscriptions",
                json={"url": sink_url, "event_types": [ROUTED]},
                headers={"Authorization": f"Bearer {hub_key}"},
            )
        if r.status_code != 201:
            raise RuntimeError(f"subscription failed: {r.status_code} {r.text[:500]}")
        self.set_secret(r.json()["secret"])
        return sink_url

    def throughput(
        self, starts: dict[str, float], res: Any, *, reports: int, complete: bool, posted_at: float
    ) -> dict[str, Any]:
        """A closed-loop phase's figures: reports/s from the first POST's start to the
        last webhook, and each report's POST-to-webhook latency."""
        first = min(starts.values()) if starts else posted_at
        got_at = [self.received[i] for i in starts if i in self.received]
        wall = (max(got_at) if got_at else posted_at) - first
        lat = [self.received[i] - s for i, s in starts.items() if i in self.received]
        return {
            "reports": reports,
            "accepted": res.ok,
            "post_errors": dict(res.errors),
            "webhooks": len(got_at),
            "missing": len(starts) - len(got_at),
            "complete": complete,
            "intake_accept_rps": round(res.ok / res.elapsed, 1) if res.elapsed else 0,
            "seconds": round(wall, 2),
            "e2e_rps": round(len(got_at) / wall, 1) if wall > 0 else 0,
            "latency_p50_ms": round(percentile(lat, 50) * 1000, 1),
            "latency_p99_ms": round(percentile(lat, 99) * 1000, 1),
        }

    async def wait_for(self, ids: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if all(i in self.received for i in ids):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- sampling


class ResourceSampler:
    """Peak RSS per service every 0.5 s; CPU seconds of every party on demand."""

    def __init__(self, procs: dict[str, Proc], kafka: Kafka, pg: Postgres) -> None:
        self.procs = {name: psutil.Process(p.pid) for name, p in procs.items()}
        self.kafka, self.pg = kafka, pg
        self.peak: dict[str, int] = {name: 0 for name in procs}
        self.last: dict[str, int] = {name: 0 for name in procs}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, proc in self.procs.items():
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                self.last[name] = rss
                self.peak[name] = max(self.peak[name], rss)
            self._stop.wait(0.5)

    @staticmethod
    def _tree_cpu(pids: list[int]) -> float:
        total = 0.0
        for pid in pids:
            try:
                root = psutil.Process(pid)
                for p in [root, *root.children(recursive=True)]:
                    try:
                        t = p.cpu_times()
                        total += t.user + t.system
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
        return total

    def cpu(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, proc in self.procs.items():
            try:
                t = proc.cpu_times()
                out[name] = t.user + t.system
            except psutil.Error:
                out[name] = float("nan")
        out["kafka"] = self._tree_cpu(self.kafka.pids())
        out["postgres"] = self._tree_cpu(self.pg.pids())
        me = psutil.Process().cpu_times()
        out["bench (load+sink)"] = me.user + me.system
        sys_t = psutil.cpu_times()
        busy = (
            sys_t.user
            + sys_t.system
            + sys_t.nice
            + getattr(sys_t, "irq", 0.0)
            + getattr(sys_t, "softirq", 0.0)
            + getattr(sys_t, "steal", 0.0)
        )
        # Whatever else ran on the machine meanwhile (other test runs, the OS).
        out["other (not this bench)"] = busy - sum(v for v in out.values() if v == v)
        # Part of kafka's, not added to the others.
        out[KAFKA_JIT] = self.kafka.jit_cpu()
        return out


KAFKA_JIT = "(of kafka: its JIT compiler)"


def cpu_delta(a: dict[str, float], b: dict[str, float], wall: float) -> dict[str, float]:
    return {k: round((b[k] - a[k]) / wall, 2) for k in a} if wall > 0 else {}


# --------------------------------------------------------------------------- phases


def _referral_id(content: bytes) -> str | None:
    try:
        return str(json.loads(content)["referral_id"])
    except (ValueError, KeyError, TypeError):
        return None


async def post_batch(
    url: str,
    headers: dict[str, str],
    make: Any,
    n: int,
    concurrency: int,
    start: int,
    duration: float,
    *,
    client: str,
) -> tuple[dict[str, float], Any]:
    poster = Poster(concurrency, kind=client)
    try:
        result = await closed_loop(
            poster,
            url,
            headers,
            make,
            total=n,
            duration=duration,
            start_index=start,
            keep_bodies=True,
        )
    finally:
        await poster.close()
    starts: dict[str, float] = {}
    for started, content in result.bodies:
        rid = _referral_id(content)
        if rid is not None:
            starts[rid] = started
    return starts, result


async def phase_b(
    url: str,
    headers: dict[str, str],
    make: Any,
    rate: float,
    seconds: float,
    start: int,
    *,
    client: str,
) -> tuple[dict[str, float], dict[str, float], Counter[str], int, float]:
    """Open loop: report i is due at t0 + i/rate, whatever happened to earlier ones.

    Latency counts from the scheduled start, so a stalled server cannot hide its
    queue behind a load generator that waited for it (coordinated omission).
    """
    total = int(rate * seconds)
    # At most this many requests in flight: a stalled server makes reports wait here,
    # from their due time, as they would in a police system's queue.
    poster = Poster(max(16, min(256, int(rate))), kind=client)
    starts: dict[str, float] = {}
    post_latency: dict[str, float] = {}
    errors: Counter[str] = Counter()
    late = 0
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int, due: float) -> None:
        try:
            status, content = await poster.post(url, make(i), headers)
        except Poster.errors as exc:
            errors[type(exc).__name__] += 1
            return
        done = time.perf_counter()
        if status != 202:
            errors[f"HTTP {status}"] += 1
            return
        rid = _referral_id(content)
        if rid is not None:
            starts[rid] = due
            post_latency[rid] = done - due

    t0 = time.perf_counter() + 0.05
    try:
        for i in range(total):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.01:
                late += 1  # the generator itself fell behind schedule
            tasks.append(asyncio.create_task(one(start + i, due)))
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    finally:
        for t in tasks:
            t.cancel()
        await poster.close()
    achieved = total / (time.perf_counter() - t0) if total else 0.0
    return starts, post_latency, errors, late, achieved


async def drive(
    args: argparse.Namespace,
    ports: dict[str, int],
    police_key: str,
    hub_key: str,
    sampler: ResourceSampler,
    procs: dict[str, Proc],
    profilers: dict[str, _profile.Profiler],
    statements: Statements,
) -> dict[str, Any]:
    sink = Sink()
    out: dict[str, Any] = {}
    try:
        sink_url = await sink.subscribe(f"http://127.0.0.1:{ports['notify']}", hub_key)
        log(f"hub subscribed {sink_url}")

        url = f"http://127.0.0.1:{ports['intake']}/v1/reports"
        headers = {"Authorization": f"Bearer {police_key}", "Content-Type": "application/json"}
        make = report_factory(f"E2E-{secrets.token_hex(3)}")
        next_index = 0

        async def start_profiling() -> None:
            assert args.profile is not None
            profilers.update(
                _profile.start_all(
                    {n: p.pid for n, p in procs.items()}, args.profile, args.profile_rate
                )
            )
            await asyncio.sleep(0.5)  # py-spy attaches before the first POST
            log(f"py-spy sampling {len(profilers)} services at {args.profile_rate}/s")

        async def stop_profiling() -> None:
            if profilers:
                await asyncio.to_thread(_profile.stop_all, profilers)
                log(f"py-spy stopped; raw stacks in {args.profile}")

        def check_alive() -> None:
            for name, proc in procs.items():
                if not proc.alive():
                    raise RuntimeError(f"{name} died (rc {proc.popen.returncode}):\n{proc.tail()}")

        if args.warmup:
            log(f"warm-up: {args.warmup} reports end to end")
            starts, res = await post_batch(
                url, headers, make, args.warmup, 8, next_index, 60, client=args.client
            )
            next_index += args.warmup
            if res.ok == 0:
                raise RuntimeError(f"warm-up posts failed: {fmt_errors(res.errors)}")
            if not await sink.wait_for(set(starts), args.drain_timeout):
                got = sum(1 for i in starts if i in sink.received)
                raise RuntimeError(
                    f"warm-up: only {got}/{len(starts)} webhooks within {args.drain_timeout:.0f}s"
                )
            lat = [sink.received[i] - s for i, s in starts.items()]
            notify = [sink.after_routing[i] for i in starts if i in sink.after_routing]
            log(
                f"warm-up done: p50 {percentile(lat, 50) * 1000:.0f} ms, of which routed to "
                f"webhook (notify) p50 {percentile(notify, 50) * 1000:.0f} ms"
            )
            check_alive()

        log("idle: 3 s without traffic")
        cpu0 = sampler.cpu()
        await asyncio.sleep(3.0)
        out["idle_cpu_cores"] = cpu_delta(cpu0, sampler.cpu(), 3.0)

        if not args.skip_a:
            log(f"phase A: {args.reports} reports, {args.concurrency} workers")
            if args.profile is not None and args.profile_phase == "a":
                await start_profiling()
            await statements.reset()
            try:
                cpu0 = sampler.cpu()
                t_cap = time.monotonic() + args.phase_a_timeout
                starts, res = await post_batch(
                    url,
                    headers,
                    make,
                    args.reports,
                    args.concurrency,
                    next_index,
                    args.phase_a_timeout,
                    client=args.client,
                )
                next_index += args.reports
                posted_at = time.perf_counter()
                remaining = max(1.0, t_cap - time.monotonic())
                complete = await sink.wait_for(set(starts), remaining)
                cpu1 = sampler.cpu()
            finally:
                await stop_profiling()
            a = out["phase_a"] = sink.throughput(
                starts, res, reports=args.reports, complete=complete, posted_at=posted_at
            )
            a["cpu_cores"] = cpu_delta(cpu0, cpu1, a["seconds"])
            a["statements"] = await statements.since_reset()
            log_throughput("phase A", a)
            if not complete:
                log(f"phase A: {a['missing']} webhooks still missing; waiting before phase B")
                await sink.wait_for(set(starts), args.drain_timeout)
            check_alive()

        if not args.skip_b:
            log(f"phase B: {args.rate:g}/s for {args.seconds:g}s, open loop")
            if args.profile is not None and args.profile_phase == "b":
                await start_profiling()
            await statements.reset()
            try:
                cpu0 = sampler.cpu()
                t0 = time.perf_counter()
                starts, post_lat, errors, late, achieved = await phase_b(
                    url, headers, make, args.rate, args.seconds, next_index, client=args.client
                )
                complete = await sink.wait_for(set(starts), args.drain_timeout)
                cpu1 = sampler.cpu()
            finally:
                await stop_profiling()
            lat = [sink.received[i] - s for i, s in starts.items() if i in sink.received]
            out["phase_b"] = {
                "rate": args.rate,
                "seconds": args.seconds,
                "achieved_rate": round(achieved, 1),
                "accepted": len(starts),
                "post_errors": dict(errors),
                "generator_late": late,
                "webhooks": len(lat),
                "missing": len(starts) - len(lat),
                "complete": complete,
                "p50_ms": round(percentile(lat, 50) * 1000, 1),
                "p90_ms": round(percentile(lat, 90) * 1000, 1),
                "p99_ms": round(percentile(lat, 99) * 1000, 1),
                "max_ms": round(max(lat) * 1000, 1) if lat else None,
                "post_p50_ms": round(percentile(list(post_lat.values()), 50) * 1000, 1),
                "post_p99_ms": round(percentile(list(post_lat.values()), 99) * 1000, 1),
                "cpu_cores": cpu_delta(cpu0, cpu1, time.perf_counter() - t0),
                "statements": await statements.since_reset(),
            }
            b = out["phase_b"]
            b["hops"] = await hops(statements.admin_url, set(starts))
            log(f"phase B: p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms ({b['webhooks']} webhooks)")
            check_alive()
        out["sink"] = {
            "routed_received": len(sink.received),
            "duplicates": sink.duplicates,
            "bad_signatures": sink.bad_signatures,
            "other": dict(sink.other),
        }
    finally:
        await sink.stop()
    return out


async def hops(admin_url: str, referral_ids: set[str]) -> list[dict[str, Any]]:
    """Where these referrals' time went between POST and webhook, hop by hop, from the
    services' own rows (one machine, one clock): each outbox row from its unit
    (`created_at`) to its publish acknowledged (`sent_at`, the relay), then to each
    consumer's unit that handled it (the inbox's `handled_at`: waiting in the topic,
    the consumer's linger, the batches before it); notify's delivery from its creation
    to the partner's 2xx. Milliseconds, p50 and p90, in the pipeline's order."""
    import asyncpg

    base = admin_url.rsplit("/", 1)[0]
    sent: dict[str, tuple[str, str, datetime]] = {}  # ce_id -> service, topic, sent_at
    waits: dict[tuple[int, str], list[float]] = {}

    def note(order: int, hop: str, ms: float) -> None:
        waits.setdefault((order, hop), []).append(ms)

    inboxes = []
    for order, svc in enumerate(SERVICES):
        conn = await asyncpg.connect(f"{base}/signpost_{svc}")
        try:
            for row in await conn.fetch(
                "SELECT topic, headers, created_at, sent_at FROM outbox WHERE sent_at IS NOT NULL"
            ):
                header = {k: b64decode(v).decode() for k, v in json.loads(row["headers"])}
                if header.get("ce_subject") not in referral_ids:
                    continue
                sent[header["ce_id"]] = (svc, row["topic"], row["sent_at"])
                ms = (row["sent_at"] - row["created_at"]).total_seconds() * 1000
                note(2 * order, f"{svc} publishes {row['topic']}", ms)
            inboxes.append(
                (order, await conn.fetch("SELECT consumer, ce_id, handled_at FROM inbox"))
            )
            if svc == "notify":
                for row in await conn.fetch(
                    "SELECT referral_id, created_at, delivered_at FROM delivery"
                    " WHERE delivered_at IS NOT NULL"
                ):
                    if row["referral_id"] in referral_ids:
                        ms = (row["delivered_at"] - row["created_at"]).total_seconds() * 1000
                        note(2 * order + 1, "notify delivers the webhook", ms)
        finally:
            await conn.close()
    for order, rows in inboxes:
        for row in rows:
            if row["ce_id"] in sent:
                _, topic, sent_at = sent[row["ce_id"]]
                ms = (row["handled_at"] - sent_at).total_seconds() * 1000
                # Intake follows the journey after the webhook (the referrer's loop).
                position = 2 * order - 1 if order else 2 * len(SERVICES)
                note(position, f"{row['consumer']} handles {topic}", ms)
    return [
        {
            "hop": hop,
            "events": len(ms),
            "p50_ms": round(percentile(ms, 50), 1),
            "p90_ms": round(percentile(ms, 90), 1),
        }
        for (_, hop), ms in sorted(waits.items())
    ]


# --------------------------------------------------------------------------- main


def stop_all(procs: list[Proc], timeout: float = 20) -> None:
    for p in procs:
        if p.alive():
            try:
                p.popen.terminate()
            except OSError:
                pass
    for p in procs:
        p.stop(timeout)


def log_throughput(phase: str, out: dict[str, Any]) -> None:
    log(
        f"{phase}: {out['webhooks']}/{out['accepted']} webhooks in {out['seconds']}s = "
        f"{out['e2e_rps']}/s (intake accepted at {out['intake_accept_rps']}/s)"
    )


async def drive_embedded(
    args: argparse.Namespace, port: int, police_key: str, hub_key: str, proc: Proc
) -> dict[str, Any]:
    """Phase E: warm-up, then `--reports` reports through the one embedded process."""
    sink = Sink()
    base = f"http://127.0.0.1:{port}"
    try:
        await sink.subscribe(base, hub_key)
        url = f"{base}/v1/reports"
        headers = {"Authorization": f"Bearer {police_key}", "Content-Type": "application/json"}
        make = report_factory(f"EMB-{secrets.token_hex(3)}")
        if args.warmup:
            starts, res = await post_batch(
                url, headers, make, args.warmup, 8, 0, 60, client=args.client
            )
            if res.ok == 0 or not await sink.wait_for(set(starts), args.drain_timeout):
                raise RuntimeError(f"embedded warm-up failed: {fmt_errors(res.errors)}")
        if not proc.alive():
            raise RuntimeError(f"the embedded process died:\n{proc.tail()}")
        log(f"phase E: {args.reports} reports, {args.concurrency} workers, embedded")
        cpu = psutil.Process(proc.pid)
        cpu0 = sum(cpu.cpu_times()[:2])
        t_cap = time.monotonic() + args.phase_a_timeout
        starts, res = await post_batch(
            url,
            headers,
            make,
            args.reports,
            args.concurrency,
            args.warmup,
            args.phase_a_timeout,
            client=args.client,
        )
        posted_at = time.perf_counter()
        complete = await sink.wait_for(set(starts), max(1.0, t_cap - time.monotonic()))
        cpu1 = sum(cpu.cpu_times()[:2])
        out = sink.throughput(
            starts, res, reports=args.reports, complete=complete, posted_at=posted_at
        )
        webhooks = out["webhooks"]
        out["cpu_ms_per_report"] = round(1000 * (cpu1 - cpu0) / webhooks, 2) if webhooks else None
        out["duplicates"], out["bad_signatures"] = sink.duplicates, sink.bad_signatures
        log_throughput("phase E", out)
        return out
    finally:
        await sink.stop()


def linger_env(args: argparse.Namespace) -> dict[str, str]:
    """The services' consumer linger, when the bench sets it."""
    if args.consumer_linger_ms is None:
        return {}
    return {"CONSUMER_LINGER_MS": str(args.consumer_linger_ms)}


def run_embedded(args: argparse.Namespace, root: Path) -> tuple[dict[str, Any], float]:
    """Phase E in a folder of its own: its results and the process's peak RSS (MB)."""
    data = root / "embedded"
    data.mkdir()
    env = base_env(
        PSEUDONYM_SECRET=secrets.token_urlsafe(32),
        WEBHOOK_ALLOW_PRIVATE="true",
        WEBHOOK_ALLOW_HTTP="true",
        **linger_env(args),
    )
    police = create_key(
        env=env,
        cwd=root,
        kind="police",
        organisation="demo-police",
        scopes="reports:write",
        data_dir=data,
    )
    hub = create_key(
        env=env,
        cwd=root,
        kind="hub",
        organisation="demoshire-hub",
        scopes="subscriptions:write",
        data_dir=data,
    )
    port = free_port()
    proc = Proc(
        "embedded",
        [
            *signpost_cmd(),
            "run",
            "--no-demo",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ],
        env,
        root,
    )
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        watched = psutil.Process(proc.pid)
        while not stop.wait(0.5):
            try:
                peak[0] = max(peak[0], watched.memory_info().rss)
            except psutil.Error:
                return

    sampler = threading.Thread(target=sample, name="rss-embedded", daemon=True)
    try:
        wait_ready([(proc, f"http://127.0.0.1:{port}/readyz")], args.startup_timeout)
        sampler.start()
        log(f"embedded Signpost ready on :{port}")
        return asyncio.run(drive_embedded(args, port, police, hub, proc)), round(peak[0] / 2**20, 1)
    finally:
        stop.set()
        stop_all([proc])


def print_report(args: argparse.Namespace, res: dict[str, Any], rss: dict[str, float]) -> None:
    print()
    a, b = res.get("phase_a"), res.get("phase_b")
    rows = []
    if a:
        rows.append(
            [
                "A throughput",
                f"{a['e2e_rps']} reports/s",
                f">= {TARGET_RPS:g}/s",
                "PASS" if a["e2e_rps"] >= TARGET_RPS and a["complete"] else "MISS",
            ]
        )
    if b:
        rows.append(["B latency p50", f"{b['p50_ms']} ms", "-", "-"])
        rows.append(
            [
                "B latency p99",
                f"{b['p99_ms']} ms",
                f"<= {TARGET_P99_MS:g} ms",
                "PASS" if b["p99_ms"] <= TARGET_P99_MS and b["complete"] else "MISS",
            ]
        )
    e = res.get("embedded")
    if e:
        rows.append(
            [
                "E embedded throughput",
                f"{e['e2e_rps']} reports/s",
                f">= {TARGET_EMBEDDED_RPS:g}/s",
                "PASS" if e["e2e_rps"] >= TARGET_EMBEDDED_RPS and e["complete"] else "MISS",
            ]
        )
        rows.append(["E peak RSS (one process)", f"{e.get('peak_rss_mb')} MB", "-", "-"])
    for name, mb in rss.items():
        rows.append(
            [
                f"peak RSS {name}",
                f"{mb} MB",
                f"<= {TARGET_RSS_MB:g} MB",
                "PASS" if mb <= TARGET_RSS_MB else "MISS",
            ]
        )
    print("End to end: intake -> triage -> routing -> notify -> webhook, Kafka + PostgreSQL")
    print(table(["measure", "value", "target", "result"], rows))
    if a:
        print(
            f"Phase A: {a['accepted']} accepted "
            f"(POST errors: {fmt_errors(Counter(a['post_errors']))}), "
            f"{a['webhooks']} webhooks, {a['missing']} missing, in {a['seconds']} s; "
            f"intake accepted at {a['intake_accept_rps']}/s; "
            f"latency under saturation p50 {a['latency_p50_ms']} ms, p99 {a['latency_p99_ms']} ms"
        )
    if b:
        print(
            f"Phase B: {b['accepted']} accepted at {b['achieved_rate']}/s "
            f"(POST errors: {fmt_errors(Counter(b['post_errors']))}; "
            f"generator late {b['generator_late']}), "
            f"{b['webhooks']} webhooks, {b['missing']} missing; POST p50 {b['post_p50_ms']} ms, "
            f"p99 {b['post_p99_ms']} ms; end to end p90 {b['p90_ms']} ms, max {b['max_ms']} ms"
        )
    if b and b.get("hops"):
        print(
            "Phase B, hop by hop (ms; from each outbox row's unit to its publish, then to "
            "each consumer's unit that handled it; notify's delivery to the partner's 2xx)"
        )
        print(
            table(
                ["hop", "events", "p50 ms", "p90 ms"],
                [[h["hop"], h["events"], h["p50_ms"], h["p90_ms"]] for h in b["hops"]],
            )
        )
    cpu_rows = []
    idle = res.get("idle_cpu_cores", {})
    names = list((a or b or {}).get("cpu_cores", {}).keys())
    for name in names:
        per_report: object = "-"
        if a and a["webhooks"] and name in a["cpu_cores"]:
            per_report = round(1000 * a["cpu_cores"][name] * a["seconds"] / a["webhooks"], 2)
        cpu_rows.append(
            [
                name,
                idle.get(name, "-"),
                (a or {}).get("cpu_cores", {}).get(name, "-"),
                per_report,
                (b or {}).get("cpu_cores", {}).get(name, "-"),
            ]
        )
    if cpu_rows:
        print(
            "CPU used (cores = CPU seconds per wall second; the machine has "
            f"{psutil.cpu_count()} logical CPUs; 'other' is everything else running on it)"
        )
        print(
            table(
                ["process", "idle cores", "phase A cores", "A CPU ms/report", "phase B cores"],
                cpu_rows,
            )
        )


def print_statements(a: dict[str, Any], phase: str = "A") -> None:
    """Round trips to PostgreSQL per report in a phase, per service's database."""
    counted = a.get("statements") or {}
    webhooks = a.get("webhooks") or 0
    if not counted or not webhooks:
        return
    rows = []
    for name in (*SERVICES, "keys"):
        db = counted.get(f"signpost_{name}")
        if db is None:
            continue
        rows.append(
            [
                name,
                round(db["statements"] / webhooks, 2),
                round(db["transactions"] / webhooks, 2),
                round(db.get("exec_ms", 0) / webhooks, 3),
                round(db.get("bytes", 0) / webhooks / 1024, 1),
            ]
        )
    print(
        f"PostgreSQL round trips in phase {phase}, per report (pg_stat_statements: every "
        "statement, BEGIN and COMMIT included; transactions from pg_stat_database; "
        "server ms: the statements' execution time in PostgreSQL; KB grown: "
        "pg_database_size, tables and indexes, outbox and inbox rows not yet "
        "purged, WAL not counted)"
    )
    print(
        table(
            [
                "database",
                "statements/report",
                "transactions/report",
                "server ms/report",
                "KB grown/report",
            ],
            rows,
        )
    )
    for name in SERVICES:
        db = counted.get(f"signpost_{name}")
        if db is None:
            continue
        print(
            f"  {name}: the most frequent statements (calls per report, server ms per "
            "report, statement)"
        )
        for calls, ms, query in db["top"]:
            print(f"    {calls / webhooks:6.2f}  {ms / webhooks:6.3f}  {query}")
        print(f"  {name}: the statements that took longest in all")
        for calls, ms, query in db.get("slowest", []):
            print(f"    {calls / webhooks:6.2f}  {ms / webhooks:6.3f}  {query}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="signpost-bench-e2e-"))
    kafka = Kafka(root / "kafka", full_jit=args.kafka_full_jit)
    pg = Postgres()
    procs: dict[str, Proc] = {}
    sampler: ResourceSampler | None = None
    profilers: dict[str, _profile.Profiler] = {}
    results: dict[str, Any] = {}
    failure: str | None = None
    started = time.monotonic()
    try:
        log("starting Kafka and PostgreSQL")
        dbs = [f"signpost_{s}" for s in SERVICES] + ["signpost_keys"]
        with ThreadPoolExecutor(2) as pool:
            fk = pool.submit(kafka.start)
            fp = pool.submit(pg.start, dbs, options=COUNT_STATEMENTS)
            bootstrap, _ = fk.result(), fp.result()
        log(f"Kafka {bootstrap}, PostgreSQL {pg.admin_url}")
        common = base_env(
            MODE="distributed",
            KEYS_DATABASE_URL=pg.url("signpost_keys"),
            KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            PSEUDONYM_SECRET=secrets.token_urlsafe(32),
            WEBHOOK_ALLOW_PRIVATE="true",
            WEBHOOK_ALLOW_HTTP="true",
            TOPIC_PARTITIONS="3",
            **linger_env(args),
        )
        police_key = create_key(
            env=common,
            cwd=root,
            kind="police",
            organisation="demo-police",
            scopes="reports:write",
        )
        hub_key = create_key(
            env=common,
            cwd=root,
            kind="hub",
            organisation="demoshire-hub",
            scopes="subscriptions:write",
        )
        ports: dict[str, int] = {}
        for svc in SERVICES:
            port = free_port()
            while port in ports.values():
                port = free_port()
            ports[svc] = port
            env = dict(common, DATABASE_URL=pg.url(f"signpost_{svc}"))
            migrate(env=env, cwd=root, service=svc)
            procs[svc] = Proc(
                svc,
                [*signpost_cmd(), "serve", svc, "--port", str(port), "--host", "127.0.0.1"],
                env,
                root,
            )
        sampler = ResourceSampler(procs, kafka, pg)
        sampler.start()
        wait_ready(
            [(procs[s], f"http://127.0.0.1:{ports[s]}/readyz") for s in SERVICES],
            args.startup_timeout,
        )
        log("all four services ready: " + ", ".join(f"{s}:{p}" for s, p in ports.items()))
        results = asyncio.run(
            drive(
                args,
                ports,
                police_key,
                hub_key,
                sampler,
                procs,
                profilers,
                Statements(pg.admin_url),
            )
        )
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
        log(f"FAILED: {failure}")
    except KeyboardInterrupt:
        failure = "interrupted"
        log("interrupted; cleaning up")
    finally:
        if sampler is not None:
            sampler.stop()
        _profile.stop_all(profilers)  # no-op once phase A stopped them
        log("stopping services, Kafka and PostgreSQL")
        stop_all(list(procs.values()))
        for name, proc in procs.items():
            noisy = [
                ln
                for ln in proc.tail(100000).splitlines()
                if '"level": "error"' in ln or '"level": "warning"' in ln or "Traceback" in ln
            ]
            if noisy:
                log(f"{name}: {len(noisy)} warning/error log line(s); first: {noisy[0][:400]}")
                results.setdefault("log_warnings", {})[name] = len(noisy)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda f: f(), [kafka.stop, pg.stop]))

    embedded_rss: float | None = None
    if not args.skip_embedded and failure is None:
        # Phase E, with Kafka and PostgreSQL stopped: the embedded process alone.
        try:
            results["embedded"], embedded_rss = run_embedded(args, root)
            results["embedded"]["peak_rss_mb"] = embedded_rss
        except Exception as exc:
            failure = f"phase E: {type(exc).__name__}: {exc}"
            log(f"FAILED: {failure}")
    if args.keep:
        log(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)

    rss = {n: round(v / 2**20, 1) for n, v in (sampler.peak if sampler else {}).items()}
    if results:
        print_report(args, results, rss)
        for phase in ("phase_a", "phase_b"):
            if results.get(phase):
                print_statements(results[phase], phase[-1].upper())
    if args.profile is not None and profilers:
        phase = args.profile_phase.upper()
        print(f"Where the time goes in phase {phase} (py-spy --gil at {args.profile_rate}/s)")
        print(_profile.report(args.profile, list(SERVICES), Path(__file__).resolve().parent.parent))
    a, b, e = results.get("phase_a"), results.get("phase_b"), results.get("embedded")
    passed = (
        failure is None
        and (a is None or (a["complete"] and a["e2e_rps"] >= TARGET_RPS))
        and (b is None or (b["complete"] and b["p99_ms"] <= TARGET_P99_MS))
        and (e is None or (e["complete"] and e["e2e_rps"] >= TARGET_EMBEDDED_RPS))
        and all(v <= TARGET_RSS_MB for v in rss.values())
    )
    print(
        json.dumps(
            {
                "bench": "e2e",
                "client": args.client,
                "consumer_linger_ms": args.consumer_linger_ms,
                "kafka_jit": "C1 and C2" if args.kafka_full_jit else "C1",
                "results": results,
                "peak_rss_mb": rss,
                "targets": {
                    "reports_per_s": TARGET_RPS,
                    "p99_ms": TARGET_P99_MS,
                    "rss_mb": TARGET_RSS_MB,
                    "embedded_reports_per_s": TARGET_EMBEDDED_RPS,
                },
                "failure": failure,
                "pass": passed,
                "wall_seconds": round(time.monotonic() - started, 1),
            }
        )
    )
    return 0 if failure is None else 1


if __name__ == "__main__":
    sys.exit(main())
