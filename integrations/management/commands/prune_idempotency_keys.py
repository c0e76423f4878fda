"""Delete Idempotency-Key records older than IDEMPOTENCY_KEY_TTL_HOURS (the
hourly schedule does the same)."""

from typing import Any

from django.conf import settings

from integrations.api.services import idempotency_records_prune
from integrations.management.arguments import OneLineCommand


class Command(OneLineCommand):
    help = "Delete Idempotency-Key records older than IDEMPOTENCY_KEY_TTL_HOURS."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = idempotency_records_prune()
        self.stdout.write(
            f"Deleted {deleted} idempotency record(s) older than "
            f"{settings.IDEMPOTENCY_KEY_TTL_HOURS} h."
        )
