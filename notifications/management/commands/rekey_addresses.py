"""Re-key stored addresses (suppressions, bulk recipients) under today's
``normalise_address``: run it once a deploy has finished, for the rows the
release before wrote while it still took events (migration 0004 re-keyed
what was there when it ran). Safe to run again at any time: a row already
in its key is left alone.

    manage.py rekey_addresses

Prints one line with what it changed; on error, one line on stderr and a
non-zero exit status (what it did before the error stays done).
"""

from typing import Any

from django.core.management.base import CommandError
from django.db import DatabaseError

from integrations.management.arguments import OneLineCommand
from integrations.management.entry import database_reachable
from notifications.services.address_rekey import addresses_rekey


class Command(OneLineCommand):
    help = (
        "Re-key stored email addresses (suppressions, bulk recipients) under "
        "today's normalise_address; safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Unreachable before it starts: manage.py's one line, as every
        # command's; "stopped" is for a database lost part way.
        database_reachable()
        try:
            result = addresses_rekey()
        except DatabaseError as exc:
            # The first line only: the database's detail can run long.
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise CommandError(
                f"re-keying stopped: {type(exc).__name__}: {detail} "
                "(what was done stays done; run it again)"
            ) from None
        self.stdout.write(result.summary())
