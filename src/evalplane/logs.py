"""Logging for `serve` and `worker`: readable lines, or one JSON object per line.

``EVALPLANE_LOG_FORMAT=json`` suits log shippers (Loki, CloudWatch, Datadog): every record,
uvicorn's included, becomes ``{"ts", "level", "logger", "message", "pid", ...}`` with the
traceback under ``exc_info`` instead of spread over several lines.
"""

from __future__ import annotations

import logging
import logging.config
import os
from datetime import UTC, datetime
from typing import Any

import orjson

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
_CHATTY = ("httpx", "httpx2", "httpcore", "openai", "anthropic", "alembic")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": os.getpid(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def check_format(log_format: str) -> str:
    value = log_format.strip().lower()
    if value not in ("text", "json"):
        raise ValueError(f"EVALPLANE_LOG_FORMAT must be 'text' or 'json', not {log_format!r}")
    return value


def dict_config(log_format: str, level: str) -> dict[str, Any]:
    """A logging config for the whole process (also handed to uvicorn as its log_config)."""
    level = level.upper()
    quiet = "WARNING" if level == "INFO" else level  # at DEBUG, show everything
    if check_format(log_format) == "json":
        formatter: dict[str, Any] = {"()": "evalplane.logs.JsonFormatter"}
    else:
        formatter = {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
            # Only written when the access log is on; then every line, whatever the level.
            "evalplane.access": {"handlers": ["default"], "level": "INFO", "propagate": False},
            # Libraries that log a line per LLM call or per migration step at INFO.
            **{name: {"level": quiet} for name in _CHATTY},
        },
        "root": {"handlers": ["default"], "level": level},
    }


def configure(log_format: str, level: str) -> None:
    logging.config.dictConfig(dict_config(log_format, level))
