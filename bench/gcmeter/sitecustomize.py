"""Time each Python process spends in the garbage collector (issue 18's measurement).

Put this folder first on PYTHONPATH for a bench run; every Python process it starts
(the services, the embedded process, the CLI) then appends, at most every two seconds
while it collects, one line to `$GCMETER_DIR/gcmeter.<pid>` (default: the temporary
folder): the wall-clock time (Unix seconds), CPU seconds spent in collections so far,
collections so far, CPU seconds of the process so far, objects frozen (`gc.freeze`),
and its command line. Two lines of one file bracket a phase the bench logs:

    PYTHONPATH=bench/gcmeter .venv/bin/python bench/e2e.py --reports 2000 --skip-b
    cat /tmp/gcmeter.*

Never imported by Signpost itself.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from typing import Any

_DIRECTORY = os.environ.get("GCMETER_DIR", tempfile.gettempdir())
_PATH = os.path.join(_DIRECTORY, f"gcmeter.{os.getpid()}")
_spent = 0.0
_collections = 0
_started = 0.0
_written = 0.0


def _meter(phase: str, _info: dict[str, Any]) -> None:
    global _spent, _collections, _started, _written
    if phase == "start":
        _started = time.process_time()
        return
    _spent += time.process_time() - _started
    _collections += 1
    now = time.monotonic()
    if now - _written > 2:
        _written = now
        command = " ".join(sys.argv)[:120]
        cpu, frozen = time.process_time(), gc.get_freeze_count()
        line = f"{time.time():.1f} {_spent:.3f} {_collections} {cpu:.3f} {frozen} {command}\n"
        with open(_PATH, "a") as out:
            out.write(line)


gc.callbacks.append(_meter)
