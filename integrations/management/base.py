"""The base of every command that talks to providers."""

from typing import Any

from integrations import secrets_registry
from integrations.management.arguments import TextArgumentsCommand


class ProviderCommand(TextArgumentsCommand):
    """Loads the secret registry before ``handle``: a command gets no request
    or task start to do it, and its log lines and stored provider text must
    be masked like a worker's. Its arguments must be text."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        secrets_registry.refresh(force_check=True)
        return super().execute(*args, **options)
