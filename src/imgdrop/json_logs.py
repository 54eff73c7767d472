"""JSON log lines for CloudWatch: one object per line with the record's `extra` fields."""

from __future__ import annotations

import json
import logging
import sys
from typing import IO, Any


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    RESERVED = frozenset(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            {k: v for k, v in vars(record).items() if k not in self.RESERVED and k != "message"}
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    """Send imgdrop's logs as JSON lines to stdout (CloudWatch keeps one event per line)."""
    logger = logging.getLogger("imgdrop")
    for old in [h for h in logger.handlers if getattr(h, "imgdrop_json", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.imgdrop_json = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False  # the Lambda runtime's root handler would print plain-text copies
