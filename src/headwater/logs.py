"""Structured logs: one JSON object per line on stderr. Secrets are never passed to a logger."""

from __future__ import annotations

import logging
import sys

import msgspec

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(entry, enc_hook=str).decode()


def configure(level: str) -> None:
    """JSON lines on stderr for Headwater (at `level`) and its libraries (warnings and up)."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JSONFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JSONFormatter())
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.getLogger("headwater").setLevel(level.upper())


#: logging.config for granian's own loggers, so the server's lines are JSON on stderr too.
GRANIAN_LOGGING: dict[str, object] = {
    "formatters": {"json": {"()": "headwater.logs.JSONFormatter"}},
    "handlers": {
        name: {"formatter": "json", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
        for name in ("console", "access")
    },
}
