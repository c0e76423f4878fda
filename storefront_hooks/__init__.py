"""Storefront webhooks: domain events delivered to the storefront's endpoints
as signed Standard Webhooks. Design: docs/storefront-webhooks.md."""
