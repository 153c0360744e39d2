"""Structured JSON logs with personal data redacted by field name.

Code logs ids, codes and counts; the redaction is the safety net for anything that
slips into `extra` or a message argument.

An outage is logged once when it begins and once when it ends (`OutageLog`), however
many requests, records or retries meet it meanwhile; and the Kafka client's own
loggers, which repeat every failed connection attempt, are quietened (`Quieten`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

# Field names whose values are personal data about a child or family, or secrets.
REDACTED_FIELDS = frozenset(
    {
        "given_name",
        "family_name",
        "name",
        "date_of_birth",
        "dob",
        "address",
        "postcode",
        "narrative",
        "detail",
        "child",
        "children",
        "household",
        "upn",
        "phone",
        "email",
        "officer",
        "contact",
        "report",
        "payload",
        "notice",
        "incident",
        "circumstances",
        "location",
        "voice_of_the_child",
        "whereabouts",
        "children_present",
        "authorization",
        "secret",
        "api_key",
        "token",
    }
)
_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def redact(value: Any) -> Any:
    """A copy of `value` with every personal field's value replaced."""
    if isinstance(value, dict):
        return {
            k: "[redacted]" if str(k).lower() in REDACTED_FIELDS else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = {
            k: v for k, v in vars(record).items() if k not in _STANDARD and k != "color_message"
        }
        entry.update(redact(extra))
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = type(record.exc_info[1]).__name__
            entry["traceback"] = redacted_traceback(record.exc_info[1])
        return json.dumps(entry, default=str)


def redacted_traceback(exc: BaseException) -> list[str]:
    """The whole traceback of `exc` and of the errors that caused it, as lines of
    where (file, line, function, the source line) and which error class: never an
    error's message or a frame's values, which can carry a child's details."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    chain: list[BaseException] = []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    for depth, error in enumerate(reversed(chain)):
        if depth:
            lines.append("which led to:")
        for frame in traceback.extract_tb(error.__traceback__):
            lines.append(f"{frame.filename}:{frame.lineno} in {frame.name}: {frame.line or ''}")
        lines.append(f"{type(error).__module__}.{type(error).__qualname__}")
    return lines


# A fault that recurs (see OutageLog.failed) is logged again at most this often.
REPEAT_FAULT_SECONDS = 60.0


class OutageLog:
    """One dependency's outages, logged once each: a warning when the first failure is
    reported (`failed`), nothing for the failures that follow, and one info line when
    it works again (`recovered`), with how long it was away and how many failures it
    caused. Durations are measured on the monotonic clock (transport time, not domain
    time)."""

    def __init__(
        self,
        what: str,
        logger: logging.Logger,
        *,
        down: str | None = None,
        up: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.logger = logger
        self.down_message = down or f"{what} unavailable"
        self.up_message = up or f"{what} available again"
        self._monotonic = monotonic
        self._since: float | None = None
        self._last_logged = 0.0
        self.failures = 0

    @property
    def down(self) -> bool:
        """True from the first failure until `recovered`."""
        return self._since is not None

    def failed(
        self, error: BaseException | str | None = None, *, traceback: bool = False, **extra: Any
    ) -> bool:
        """Count one failure; True when it was logged: the one that began an outage
        (with the error's class, and its redacted traceback if asked).

        A failure that asks for its traceback is not an outage but a fault (a bug, bad
        data): it is never silenced, only thinned to one line a minute (with the count
        so far), so a loop that fails on every turn keeps saying so."""
        self.failures += 1
        now = self._monotonic()
        if self._since is not None:
            if not (traceback and now - self._last_logged >= REPEAT_FAULT_SECONDS):
                return False
            extra["failures"] = self.failures
        else:
            self._since = now
            self.failures = 1
        self._last_logged = now
        if isinstance(error, BaseException):
            extra["error"] = type(error).__name__
        elif error is not None:
            extra["error"] = error
        self.logger.warning(
            self.down_message,
            exc_info=error if traceback and isinstance(error, BaseException) else None,
            extra={"dependency": self.what, **extra},
        )
        return True

    def recovered(self, **extra: Any) -> bool:
        """The dependency works (again); True when that ended an outage (and was logged)."""
        if self._since is None:
            return False
        seconds = self._monotonic() - self._since
        self.logger.info(
            self.up_message,
            extra={
                "dependency": self.what,
                "outage_seconds": round(seconds, 1),
                "failures": self.failures,
                **extra,
            },
        )
        self._since = None
        self.failures = 0
        return True


class Quieten(logging.Filter):
    """Holds back the repeats of a library's log lines (Kafka's client logs every failed
    connection attempt, thousands a second while a broker is away).

    For loggers under `prefix` only: the first line of each kind (logger and message
    template) passes, then at most one per `period` seconds, and at most `budget` lines
    of all kinds per period; a line that passes after some were held back says how many
    (`suppressed`). Install it on a handler: a logger's filter does not see its
    children's records."""

    def __init__(
        self,
        prefix: str = "aiokafka",
        *,
        period: float = 60.0,
        budget: int = 5,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.prefix = prefix
        self.period = period
        self.budget = budget
        self._monotonic = monotonic
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}
        self._window: float | None = None
        self._passed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name != self.prefix and not name.startswith(self.prefix + "."):
            return True
        now = self._monotonic()
        if self._window is None or now - self._window >= self.period:
            self._window, self._passed = now, 0
        kind = (name, str(record.msg))
        last = self._last.get(kind)
        if (last is not None and now - last < self.period) or self._passed >= self.budget:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        self._last[kind] = now
        self._passed += 1
        held = self._held.pop(kind, 0)
        if held:
            record.suppressed = held
        return True


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for every logger, uvicorn's included; the Kafka client's
    repeats held back (`Quieten`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(Quieten("aiokafka"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("aiokafka").setLevel("WARNING")
    # Alembic narrates every run; shared.migrations logs what actually changed.
    logging.getLogger("alembic").setLevel("WARNING")
    # httpx logs every request line at INFO, partner URLs included.
    logging.getLogger("httpx").setLevel("WARNING")
