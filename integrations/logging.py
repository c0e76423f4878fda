"""JSON-lines log formatter. Values under secret-looking keys are masked so a
careless ``extra=`` cannot leak a credential."""

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_SECRET_KEY = re.compile(
    r"(secret|password|passwd|token|api[_-]?key|authorization|credential|signature)",
    re.IGNORECASE,
)
MASK = "[redacted]"


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: MASK if _SECRET_KEY.search(str(k)) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key in payload or key.startswith("_"):
                continue
            payload[key] = MASK if _SECRET_KEY.search(key) else redact(value)
        if record.exc_info:
            payload["exc_type"] = record.exc_info[0].__name__
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)
