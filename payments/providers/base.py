"""Base class of every payments adapter."""

from integrations.providers.base import BaseAdapter


class PaymentsAdapter(BaseAdapter):
    kind = "payments"
