"""Base class of every shipping adapter."""

from integrations.providers.base import BaseAdapter


class ShippingAdapter(BaseAdapter):
    kind = "shipping"
