"""Structured JSON logs with personal data redacted by field name.

Code logs ids, codes and counts; the redaction is the safety net for anything that
slips into `extra` or a message argument.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
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


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for every logger, uvicorn's included."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
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
