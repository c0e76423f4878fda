"""The base of every command that talks to providers."""

from typing import Any

from integrations import secrets_registry
from integrations.management.arguments import TextArgumentsCommand
from integrations.management.entry import database_reachable


class ProviderCommand(TextArgumentsCommand):
    """Loads the secret registry before ``handle``: a command gets no request
    or task start to do it, and its log lines and stored provider text must
    be masked like a worker's. Its arguments must be text. The database is
    connected to first, and the registry's database errors are raised:
    unreachable or never migrated, it is one line (manage.py's), not the
    registry's warning before it."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        database_reachable()
        secrets_registry.refresh(force_check=True, strict=True)
        return super().execute(*args, **options)
