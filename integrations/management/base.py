"""The base of every command that talks to providers."""

from typing import Any

from django.core.management.base import BaseCommand

from integrations import secrets_registry


class ProviderCommand(BaseCommand):
    """Loads the secret registry before ``handle``: a command gets no request
    or task start to do it, and its log lines and stored provider text must
    be masked like a worker's."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        secrets_registry.refresh(force_check=True)
        return super().execute(*args, **options)
