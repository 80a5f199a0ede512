"""Structured logging: one JSON object per line, with the request id of the request being served.

A redacting filter masks anything shaped like one of our API keys or a provider credential, as a second line of
defence: no code path is meant to log one in the first place.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("payi_request_id", default=None)

_SECRET_PATTERNS = re.compile(
    r"payi_(?:app|org)_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}"  # our keys
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"  # Authorization values
    r"|sk-[A-Za-z0-9_-]{16,}"  # OpenAI / Anthropic style provider keys
    r"|AKIA[0-9A-Z]{16}"  # AWS access key ids
)


def redact(text: str) -> str:
    return _SECRET_PATTERNS.sub("[REDACTED]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            data["request_id"] = rid
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            data.update(extra)
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        # The whole line is redacted: structured fields (a request path, say) can carry what a caller pasted.
        return redact(orjson.dumps(data, default=str).decode())


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = request_id_var.get()
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict) and extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        if rid:
            line += f" request_id={rid}"
        return redact(line)


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_payi", False):
            root.removeHandler(old)
    handler._payi = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    # uvicorn's own access log is replaced by ours (with request id and application).
    logging.getLogger("uvicorn.access").disabled = True
