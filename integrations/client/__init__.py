"""Every outbound provider call goes through ``client_for(account)``: the
client (``core``), error classification (``classify``), the session and
transport adapter (``session``), the call-log rows (``call_rows``) and the
per-account settings (``config``). Design: docs/transport.md."""

from integrations.client.call_rows import (
    FINISH_FIELDS,
    RELAXED_FROM,
    insert_fields,
    relaxed_sql,
    write_relaxed,
)
from integrations.client.classify import (
    STATUS_CODES,
    ErrorMap,
    ExceptionMap,
    as_provider_error,
    classify_exception,
    classify_response,
    is_throttle,
    parse_retry_after,
    response_json,
    retry_after_ceiling,
    server_now,
)
from integrations.client.config import ClientConfig, settings_generation
from integrations.client.core import (
    DEFAULT_IDEMPOTENCY_HEADER,
    NEVER_RETRY_CODES,
    SAFE_METHODS,
    ProviderClient,
    client_for,
    may_retry,
)
from integrations.client.session import (
    CallContext,
    ProviderSession,
    ProviderTransport,
    active_call,
    key_on_record,
)

__all__ = [
    "DEFAULT_IDEMPOTENCY_HEADER",
    "FINISH_FIELDS",
    "NEVER_RETRY_CODES",
    "RELAXED_FROM",
    "SAFE_METHODS",
    "STATUS_CODES",
    "CallContext",
    "ClientConfig",
    "ErrorMap",
    "ExceptionMap",
    "ProviderClient",
    "ProviderSession",
    "ProviderTransport",
    "active_call",
    "as_provider_error",
    "classify_exception",
    "classify_response",
    "client_for",
    "insert_fields",
    "is_throttle",
    "key_on_record",
    "may_retry",
    "parse_retry_after",
    "relaxed_sql",
    "response_json",
    "retry_after_ceiling",
    "server_now",
    "settings_generation",
    "write_relaxed",
]
