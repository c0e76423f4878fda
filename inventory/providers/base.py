"""Base class of every inventory adapter."""

from integrations.providers.base import BaseAdapter


class InventoryAdapter(BaseAdapter):
    kind = "inventory"
