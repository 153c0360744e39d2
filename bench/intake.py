"""Benchmark: intake reports/s (durable write included) against a bare FastAPI
endpoint that only validates the same body, both measured in the same run with the
same load generator and concurrency, on SQLite and/or PostgreSQL.

Each server is its own single-worker uvicorn subprocess on a free 127.0.0.1 port:
  bare    bench._apps:bare_app    ConcernReport body model, answers 202
  intake  bench._apps:intake_app  services.apps.service_app("intake", Settings())
Intake runs with MODE=embedded + DATA_DIR so its outbox relay publishes to the
embedded event log; with --db postgres its DATABASE_URL and KEYS_DATABASE_URL point
at a throwaway PostgreSQL started by scripts/postgres.sh (stopped afterwards).

Prints a table and, last, one JSON line of results. Targets (issue 18): intake/bare
>= 0.5 on PostgreSQL and >= 0.35 on SQLite, in requests per second under the load
generator the issue measured them with (httpx, the default here). That generator
costs 0.5-0.75 ms of CPU a request on this machine, so it sets the bare endpoint's
pace: the ratio says how far intake's durable write falls behind an endpoint that
only validates, with the same client in front of both. The table also gives the ratio
of server CPU per request, which no generator moves (0.15-0.21 in the seventh round:
a durable write costs five to seven times a validation); `--client aiohttp`, the lean
generator bench/e2e.py uses, reads close to it. Judging the targets under httpx is
the seventh round's decision, which the owner may reverse (bench/README.md).

Example:  .venv/bin/python bench/intake.py --db both --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    LoadResult,
    Poster,
    Postgres,
    Proc,
    add_client_option,
    base_env,
    closed_loop,
    create_key,
    fmt_errors,
    free_port,
    log,
    percentile,
    report_factory,
    table,
    uvicorn_proc,
    wait_ready,
)

# intake/bare per database (issue 18), under the generator the issue measured with.
TARGET_RATIO = {"sqlite": 0.35, "postgres": 0.5}
TARGET_CLIENT = "httpx"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/intake.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--concurrency", type=int, default=32, help="concurrent workers (default 32)")
    add_client_option(p, default=TARGET_CLIENT)
    p.add_argument(
        "--requests", type=int, default=2000, help="timed requests per server (default 2000)"
    )
    p.add_argument(
        "--duration", type=float, default=20.0, help="timed window cap in seconds (default 20)"
    )
    p.add_argument("--warmup", type=int, default=200, help="warm-up requests per server")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate bare/intake this many times; the best round of each counts (default 1)",
    )
    p.add_argument("--startup-timeout", type=float, default=60.0)
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, data)")
    args = p.parse_args(argv)
    for name in ("concurrency", "requests", "warmup", "rounds"):
        if getattr(args, name) < (0 if name == "warmup" else 1):
            p.error(f"--{name} is out of range")
    if not 0 < args.duration <= 600:
        p.error("--duration must be in (0, 600]")
    if args.requests > 1_000_000 or args.concurrency > 1024 or args.rounds > 10:
        p.error("counts are bounded: --requests <= 1e6, --concurrency <= 1024, --rounds <= 10")
    return args


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


async def measure(
    url: str, key: str, prefix: str, args: argparse.Namespace, offset: int, server_pid: int
) -> LoadResult:
    """Warm-up, then the timed window; records server and load-generator CPU seconds."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    make = report_factory(prefix)
    poster = Poster(args.concurrency, kind=args.client)
    server, me = psutil.Process(server_pid), psutil.Process()
    try:
        if args.warmup:
            warm = await closed_loop(
                poster,
                url,
                headers,
                make,
                total=args.warmup,
                duration=30.0,
                start_index=offset,
            )
            if warm.ok == 0:
                raise RuntimeError(f"warm-up against {url} failed: {fmt_errors(warm.errors)}")
        s0, c0 = cpu_seconds(server), cpu_seconds(me)
        result = await closed_loop(
            poster,
            url,
            headers,
            make,
            total=args.requests,
            duration=args.duration,
            start_index=offset + args.warmup,
        )
        result.server_cpu = cpu_seconds(server) - s0
        result.client_cpu = cpu_seconds(me) - c0
        return result
    finally:
        await poster.close()


def summarise(r: LoadResult) -> dict[str, Any]:
    return {
        "ok": r.ok,
        "sent": r.sent,
        "errors": dict(r.errors),
        "seconds": round(r.elapsed, 3),
        "rps": round(r.rps, 1),
        "p50_ms": round(percentile(r.latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(r.latencies, 99) * 1000, 1),
        "server_cpu_ms_per_req": round(1000 * r.server_cpu / r.ok, 2) if r.ok else None,
        "client_cpu_ms_per_req": round(1000 * r.client_cpu / r.ok, 2) if r.ok else None,
        "server_cpu_util": round(r.server_cpu / r.elapsed, 2) if r.elapsed else None,
        "client_cpu_util": round(r.client_cpu / r.elapsed, 2) if r.elapsed else None,
    }


def run_db(db: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    work = root / db
    work.mkdir(parents=True)
    data_dir = work / "data"
    data_dir.mkdir()
    pg: Postgres | None = None
    procs: list[Proc] = []
    try:
        env = base_env(
            MODE="embedded",
            DATA_DIR=str(data_dir),
            PSEUDONYM_SECRET=secrets.token_urlsafe(32),
        )
        if db == "postgres":
            pg = Postgres()
            log("starting PostgreSQL (scripts/postgres.sh)")
            pg.start(["signpost_intake", "signpost_keys"])
            env["DATABASE_URL"] = pg.url("signpost_intake")
            env["KEYS_DATABASE_URL"] = pg.url("signpost_keys")
            key = create_key(
                env=env,
                cwd=work,
                kind="police",
                organisation="demo-police",
                scopes="reports:write,reports:read",
            )
        else:
            key = create_key(
                env=env,
                cwd=work,
                kind="police",
                organisation="demo-police",
                scopes="reports:write,reports:read",
                data_dir=data_dir,
            )
        bare_port, intake_port = free_port(), free_port()
        while intake_port == bare_port:
            intake_port = free_port()
        bare = uvicorn_proc(f"bare-{db}", "bench._apps:bare_app", bare_port, env, work)
        procs.append(bare)
        intake = uvicorn_proc(f"intake-{db}", "bench._apps:intake_app", intake_port, env, work)
        procs.append(intake)
        wait_ready(
            [
                (bare, f"http://127.0.0.1:{bare_port}/readyz"),
                (intake, f"http://127.0.0.1:{intake_port}/readyz"),
            ],
            args.startup_timeout,
        )
        log(f"{db}: bare on :{bare_port}, intake on :{intake_port} ready")
        rounds: dict[str, list[LoadResult]] = {"bare": [], "intake": []}
        run_id = secrets.token_hex(3)
        per_round = args.warmup + args.requests
        for n in range(args.rounds):
            for name, port in (("bare", bare_port), ("intake", intake_port)):
                log(f"{db}: round {n + 1}/{args.rounds} {name} ...")
                result = asyncio.run(
                    measure(
                        f"http://127.0.0.1:{port}/v1/reports",
                        key,
                        f"BENCH-{run_id}",
                        args,
                        offset=(2 * n + (name == "intake")) * per_round,
                        server_pid=(bare if name == "bare" else intake).pid,
                    )
                )
                rounds[name].append(result)
                log(
                    f"{db}: {name}: {result.ok} x 202 in {result.elapsed:.2f}s = "
                    f"{result.rps:.1f}/s; errors: {fmt_errors(result.errors)}"
                )
        for proc in procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} died during the run:\n{proc.tail()}")
        log_lines = [ln for ln in intake.tail(100000).splitlines() if ln.strip()]
        if log_lines:
            log(
                f"{db}: intake logged {len(log_lines)} line(s) during the run, e.g.:\n"
                + "\n".join(log_lines[:5])
            )
        best = {name: max(rs, key=lambda r: r.rps) for name, rs in rounds.items()}
        ratio = best["intake"].rps / best["bare"].rps if best["bare"].rps else 0.0
        b, i = summarise(best["bare"]), summarise(best["intake"])
        # Load-generator-independent view: server CPU per accepted report, bare / intake.
        cpu_ratio = (
            b["server_cpu_ms_per_req"] / i["server_cpu_ms_per_req"]
            if b["server_cpu_ms_per_req"] and i["server_cpu_ms_per_req"]
            else None
        )
        return {
            "bare": b,
            "intake": i,
            "ratio": round(ratio, 3),
            "cpu_ratio": round(cpu_ratio, 3) if cpu_ratio else None,
            "target": TARGET_RATIO[db],
            # The targets were set under one generator: another one's ratio is not judged.
            "pass": ratio >= TARGET_RATIO[db] if args.client == TARGET_CLIENT else None,
            "rounds": {k: [round(r.rps, 1) for r in v] for k, v in rounds.items()},
            "intake_log_lines": len(log_lines),
        }
    finally:
        for proc in procs:
            rc = proc.stop()
            if rc not in (0, None, -15):
                log(f"{proc.name} exited with {rc}; log tail:\n{proc.tail(20)}")
        if pg is not None:
            log("stopping PostgreSQL")
            pg.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    root = Path(tempfile.mkdtemp(prefix="signpost-bench-intake-"))
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    started = time.monotonic()
    try:
        for db in dbs:
            try:
                results[db] = run_db(db, args, root)
            except Exception as exc:  # report and carry on with the other database
                failures[db] = f"{type(exc).__name__}: {exc}"
                log(f"{db}: FAILED: {failures[db]}")
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    rows = []
    for db, r in results.items():
        for name in ("bare", "intake"):
            s = r[name]
            rows.append(
                [
                    db,
                    name,
                    s["ok"],
                    s["seconds"],
                    s["rps"],
                    s["p50_ms"],
                    s["p99_ms"],
                    s["server_cpu_ms_per_req"],
                    s["server_cpu_util"],
                    s["client_cpu_ms_per_req"],
                    s["client_cpu_util"],
                    fmt_errors(Counter(s["errors"])),
                ]
            )
    print()
    print(
        f"Intake vs bare validation endpoint — concurrency {args.concurrency}, "
        f"{args.requests} requests or {args.duration:.0f}s per server, warm-up {args.warmup}"
    )
    print(
        table(
            [
                "db",
                "server",
                "202s",
                "seconds",
                "req/s",
                "p50 ms",
                "p99 ms",
                "srv cpu ms/req",
                "srv cores",
                "gen cpu ms/req",
                "gen cores",
                "errors",
            ],
            rows,
        )
    )
    print(
        "srv/gen cores = CPU seconds per wall second of the server / the load generator; "
        "gen cores near 1.0 means the load generator, not the server, set the pace."
    )
    judged = args.client == TARGET_CLIENT
    ratio_rows = [
        [
            db,
            r["ratio"],
            r["cpu_ratio"],
            f">= {r['target']}",
            ("PASS" if r["pass"] else "MISS") if judged else f"(judged with {TARGET_CLIENT})",
        ]
        for db, r in results.items()
    ]
    ratio_rows += [[db, "-", "-", f">= {TARGET_RATIO[db]}", "FAILED"] for db in failures]
    print(
        table(
            ["db", "intake/bare (req/s)", "bare/intake (srv cpu per req)", "target", "result"],
            ratio_rows,
        )
    )
    ok: bool | None = not failures and all(r["pass"] for r in results.values())
    if judged:
        print(
            f"judged under --client {TARGET_CLIENT}, the generator issue 18 set the targets "
            "with; the server-CPU ratio beside it does not depend on the generator."
        )
    elif not failures:
        ok = None
    print(
        json.dumps(
            {
                "bench": "intake",
                "client": args.client,
                "concurrency": args.concurrency,
                "requests": args.requests,
                "duration_cap_s": args.duration,
                "results": results,
                "failures": failures,
                "target_ratio": TARGET_RATIO,
                "target_client": TARGET_CLIENT,
                "pass": ok,
                "wall_seconds": round(time.monotonic() - started, 1),
            }
        )
    )
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
