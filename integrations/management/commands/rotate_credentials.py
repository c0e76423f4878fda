"""Re-encrypt every provider account's credentials, and the other encrypted
rows named in ``SWITCHYARD_ENCRYPTED_ROWS`` (webhook endpoint secrets), with
the newest key; all rows or none.

Rotation: put a new key first in CREDENTIALS_ENCRYPTION_KEYS, run this, then
remove the old key.
"""

from typing import Any

from django.core.management.base import CommandError

from integrations.crypto import CredentialsDecryptError
from integrations.management.arguments import OneLineCommand
from integrations.services import credentials_rotate_all


class Command(OneLineCommand):
    help = "Re-encrypt all stored credentials and secrets with the newest key."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            counts = credentials_rotate_all()
        except CredentialsDecryptError as exc:
            raise CommandError(
                f"{exc}; nothing was changed. Add the key these credentials were "
                "encrypted with to CREDENTIALS_ENCRYPTION_KEYS and run again."
            ) from exc
        rows = ", ".join(f"{count} {label}" for label, count in counts.items())
        self.stdout.write(
            self.style.SUCCESS(f"Re-encrypted with the newest key: {rows}.")
        )
