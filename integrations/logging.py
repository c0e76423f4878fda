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
            # Formatted (and secrets masked) by SecretRedactionFilter if set.
            payload["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class SecretRedactionFilter(logging.Filter):
    """Masks every account's known secrets in a record's message, string
    extras and traceback, whatever logger wrote it (a provider SDK's too),
    in every form a stored answer's masking knows (one masker for both:
    ``integrations.secret_masking``)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        from integrations.secret_masking import mask_secrets
        from integrations.secrets_registry import known_secrets

        secrets = known_secrets()
        if not secrets:
            return True
        message = record.getMessage()
        redacted = mask_secrets(message, secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, mask_secrets(value, secrets))
        if record.exc_info:
            # Every formatter reuses exc_text once it is set.
            text = record.exc_text or self._formatter.formatException(record.exc_info)
            record.exc_text = mask_secrets(text, secrets)
        return True
