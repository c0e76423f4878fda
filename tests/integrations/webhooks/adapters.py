"""A test adapter whose requests carry many events, as SendGrid's do: one
Standard Webhooks signature over a JSON array of ``{"id", "type",
"timestamp", "data"}`` objects. Registered by settings override."""

from collections.abc import Mapping

from django.conf import settings

from integrations.webhooks.messages import (
    WebhookMessage,
    iso_time,
    json_body,
    required_str,
)
from integrations.webhooks.verification import (
    WebhookVerificationError,
    verify_standard_webhook,
)
from payments.providers.sandbox import SandboxPaymentsAdapter

PATH = "tests.integrations.webhooks.adapters.ManyEventsAdapter"


class ManyEventsAdapter(SandboxPaymentsAdapter):
    code = "many"
    display_name = "Many events (test)"

    def webhook_messages(
        self, *, body: bytes, headers: Mapping[str, str], url: str
    ) -> list[WebhookMessage]:
        verify_standard_webhook(
            secret=self.credentials.get("webhook_secret"),
            body=body,
            headers=headers,
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
        )
        events = json_body(body, what="a JSON array of events")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise WebhookVerificationError(
                "The webhook body is not a JSON array of events.",
                code=WebhookVerificationError.MALFORMED,
            )
        return [
            WebhookMessage.build(
                event_type=required_str(event, "type", what="event"),
                dedupe_key=required_str(event, "id", what="event"),
                payload=event,
                occurred_at=iso_time(event.get("timestamp")),
            )
            for event in events
        ]
