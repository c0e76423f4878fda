"""Base class of every email adapter."""

from integrations.providers.base import BaseAdapter


class EmailAdapter(BaseAdapter):
    kind = "email"
