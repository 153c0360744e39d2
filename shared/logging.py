"""Structured JSON logs with personal data redacted by field name.

Code logs ids, codes and counts; the redaction is the safety net for anything that
slips into `extra` or a message argument.
"""

from __future__ import annotations

import json
import logging
import sys
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
        if record.exc_info and record.exc_info[0] is not None:
            # The class only: a traceback's locals and messages can carry personal data.
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


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
    # httpx logs every request line at INFO, partner URLs included.
    logging.getLogger("httpx").setLevel("WARNING")
