"""Where the time goes: py-spy attached to the benchmark's service processes, and a
reader for what it wrote.

`Profiler` runs `py-spy record --pid PID --gil --format raw` against one process
until stop() (SIGINT: py-spy then writes its file and exits; it also stops by itself
when the process it samples exits). py-spy pauses the process for each sample (its
default, blocking mode), so every stack is consistent; that costs the process a little
time. --gil keeps only the samples of the thread holding the GIL: Python code, and C
code that keeps the GIL (pydantic-core, asyncpg's protocol, uvloop's callbacks). The
services run on uvloop, which waits in epoll without the GIL; without --gil py-spy
counted much of that waiting as busy here (stacks ending in asyncio.runners:Runner.run:
a third of triage's samples), and the shares would not be shares of the work done.
C code that drops the GIL while it works (a blocking call in a thread, some hashing) is
not counted; uvloop writes to sockets with the GIL held, so those writes are.

The raw format is one line per distinct stack, root first, frames separated by ";",
then a space and the number of samples:

    <module> (signpost:8);main (services/cli.py:800);...;dumps (json/__init__.py:231) 3

`summarise` reads such a file and counts:

* self time per function: the samples whose deepest (leaf) frame is that function;
* buckets: each stack's samples go to the bucket of its deepest frame whose module
  belongs to a bucket (BUCKETS), so a sample counts once, where the work was finally
  done: asyncpg called from SQLAlchemy called from a FastAPI endpoint is "SQL/DB",
  json.dumps called from Signpost code is "JSON/pydantic". A stack with no frame in
  any bucket (the event loop itself, the standard library's asyncio, logging, ...)
  is "event loop/other". Signpost's own code (services, shared) is a bucket too, so
  that work done in the endpoints is not counted as the HTTP server's. The frames
  from the entry point down to asyncio's Runner.run (services.cli, uvicorn.run) are
  on every stack and are left out of the matching: a sample whose leaf is Runner.run
  (uvloop's C code running callbacks, with the GIL) is "event loop/other".
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Bucket name -> top-level packages (first component of the module's dotted name).
BUCKETS: dict[str, tuple[str, ...]] = {
    "SQL/DB driver": ("asyncpg", "sqlalchemy", "sqlmodel", "aiosqlite", "alembic"),
    "JSON/pydantic": ("pydantic", "pydantic_core", "pydantic_settings", "json", "orjson"),
    "Kafka": ("aiokafka", "kafka"),
    "HTTP server": ("uvicorn", "starlette", "fastapi", "h11", "httptools", "anyio"),
    "HTTP client": ("httpx", "httpcore", "aiohttp"),
    "Signpost code": ("services", "shared"),
}
OTHER = "event loop/other"
BUCKET_ORDER = (*BUCKETS, OTHER)
_PACKAGE_BUCKET = {pkg: bucket for bucket, pkgs in BUCKETS.items() for pkg in pkgs}

# "function (path/to/file.py:123)"; the line number is absent with py-spy --function.
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_MARKERS = ("/site-packages/", "/dist-packages/")
_STDLIB = re.compile(r"/lib/python3\.\d+/")


def py_spy() -> str | None:
    """py-spy next to this interpreter (the venv's), else on PATH, else None."""
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def module_of(filename: str, repo: Path | None = None) -> str:
    """A dotted module name from the file name py-spy printed ("json/__init__.py" ->
    "json"; absolute paths are cut at site-packages, the standard library or `repo`)."""
    path = filename.replace("\\", "/")
    if path.startswith("/"):
        cut = None
        for marker in _MARKERS:
            if marker in path:
                cut = path.rsplit(marker, 1)[1]
                break
        if cut is None and (m := _STDLIB.search(path)):
            cut = path[m.end() :]
        if cut is None and repo is not None and path.startswith(str(repo) + "/"):
            cut = path[len(str(repo)) + 1 :]
        path = cut if cut is not None else path.lstrip("/")
    if path.endswith(".py"):
        path = path[:-3]
    if path.endswith("/__init__"):
        path = path[: -len("/__init__")]
    return path.replace("/", ".")


def bucket_of(module: str) -> str | None:
    return _PACKAGE_BUCKET.get(module.split(".", 1)[0])


@dataclass
class Summary:
    samples: int = 0
    buckets: Counter[str] = field(default_factory=Counter)
    self_time: Counter[str] = field(default_factory=Counter)  # "module:function"

    def share(self, n: int) -> float:
        return 100.0 * n / self.samples if self.samples else 0.0

    def top(self, k: int) -> list[tuple[str, float]]:
        return [(name, self.share(n)) for name, n in self.self_time.most_common(k)]

    def bucket_shares(self) -> dict[str, float]:
        return {b: self.share(self.buckets[b]) for b in BUCKET_ORDER}


def _frame(text: str, repo: Path | None) -> tuple[str, str]:
    """(module, function) of one frame."""
    m = _FRAME.match(text)
    if m is None:
        return "?", text
    return module_of(m["file"], repo), m["func"]


def summarise(lines: Sequence[str], repo: Path | None = None) -> Summary:
    out = Summary()
    for raw in lines:
        stack, _, count = raw.rstrip("\n").rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        out.samples += n
        if not stack:  # the GIL held with no Python frame (C code called back by uvloop)
            out.self_time["(no Python frame)"] += n
            out.buckets[OTHER] += n
            continue
        frames = [_frame(f, repo) for f in stack.split(";")]
        leaf_module, leaf_func = frames[-1]
        out.self_time[f"{leaf_module}:{leaf_func}"] += n
        # The frames from the process's entry point down to the event loop's Runner.run
        # (services.cli, uvicorn.run) are on every stack: they say nothing.
        entry = max(
            (i for i, (mod, _) in enumerate(frames) if mod == "asyncio.runners"), default=-1
        )
        below = frames[entry + 1 :]
        bucket = next(
            (b for b in (bucket_of(mod) for mod, _ in reversed(below)) if b is not None), OTHER
        )
        out.buckets[bucket] += n
    return out


def summarise_file(path: Path, repo: Path | None = None) -> Summary:
    with open(path, encoding="utf-8", errors="replace") as f:
        return summarise(f.readlines(), repo)


class Profiler:
    """`py-spy record` attached to one running process, writing raw stacks to `output`."""

    def __init__(self, name: str, pid: int, output: Path, rate: int, log_path: Path) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed (bash scripts/bootstrap.sh installs it)")
        self.name = name
        self.output = output
        self._log = open(log_path, "wb")
        cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--gil"]
        cmd += ["--format", "raw", "--output", str(output)]
        self.popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20) -> int | None:
        """SIGINT (py-spy writes its file and exits), then SIGKILL if it does not."""
        if self.alive():
            try:
                self.popen.send_signal(signal.SIGINT)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                try:
                    self.popen.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        self._log.close()
        return self.popen.returncode


def start_all(pids: dict[str, int], directory: Path, rate: int) -> dict[str, Profiler]:
    directory.mkdir(parents=True, exist_ok=True)
    started: dict[str, Profiler] = {}
    try:
        for name, pid in pids.items():
            started[name] = Profiler(
                name, pid, directory / f"{name}.txt", rate, directory / f"{name}.py-spy.log"
            )
    except BaseException:
        stop_all(started)
        raise
    return started


def stop_all(profilers: dict[str, Profiler]) -> None:
    for p in profilers.values():
        if p.alive():
            try:
                p.popen.send_signal(signal.SIGINT)
            except OSError:
                pass
    for p in profilers.values():
        p.stop()


def report(directory: Path, names: Sequence[str], repo: Path | None = None, top: int = 10) -> str:
    """Per service: the bucket shares and the top functions by self time, as text."""
    from bench._common import table

    parts: list[str] = []
    for name in names:
        path = directory / f"{name}.txt"
        if not path.exists() or os.path.getsize(path) == 0:
            parts.append(f"{name}: no profile ({path} missing or empty)")
            continue
        s = summarise_file(path, repo)
        shares = s.bucket_shares()
        parts.append(f"{name}: {s.samples} samples holding the GIL ({path})")
        parts.append(
            table(
                ["bucket", "% of samples"],
                [[b, f"{shares[b]:.1f}"] for b in BUCKET_ORDER],
            )
        )
        parts.append(
            table(
                ["function (self time)", "%"],
                [[fn, f"{pct:.1f}"] for fn, pct in s.top(top)],
            )
        )
    return "\n".join(parts)


if __name__ == "__main__":
    # Summarise profiles written earlier:  python bench/_profile.py DIR [service ...]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    folder = Path(sys.argv[1])
    services = sys.argv[2:] or sorted(p.stem for p in folder.glob("*.txt"))
    print(report(folder, services, Path(__file__).resolve().parent.parent))
