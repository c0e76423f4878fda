"""Admin for storefront webhooks: endpoints (``endpoints``) and their
delivery log (``deliveries``)."""

from storefront_hooks.admin.deliveries import WebhookDeliveryAdmin
from storefront_hooks.admin.endpoints import WebhookEndpointAdmin

__all__ = ["WebhookDeliveryAdmin", "WebhookEndpointAdmin"]
