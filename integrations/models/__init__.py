from integrations.models.accounts import ProviderAccount
from integrations.models.api import ApiKey, IdempotencyRecord
from integrations.models.batch import (  # noqa: F401
    BatchItem,
    BatchJob,
    BatchJobStatus,
    BatchRow,
    BatchRowStatus,
)
from integrations.models.calls import CallOutcome, ProviderCall  # noqa: F401
from integrations.models.events import (  # noqa: F401
    DeliveryStatus,
    Event,
    EventDelivery,
)
from integrations.models.health import HealthCheckResult, HealthStatus  # noqa: F401
from integrations.models.webhooks import WebhookEvent, WebhookStatus  # noqa: F401

__all__ = ["ApiKey", "IdempotencyRecord", "ProviderAccount"]
