"""Re-encrypt every provider account's credentials with the newest key.

Rotation: put a new key first in CREDENTIALS_ENCRYPTION_KEYS, run this, then
remove the old key.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from integrations.crypto import CredentialsDecryptError
from integrations.services import provider_account_rotate_credentials


class Command(BaseCommand):
    help = "Re-encrypt all provider credentials with the newest configured key."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = provider_account_rotate_credentials()
        except CredentialsDecryptError as exc:
            raise CommandError(
                f"{exc}; nothing was changed. Add the key these credentials were "
                "encrypted with to CREDENTIALS_ENCRYPTION_KEYS and run again."
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted credentials of {count} account(s) with the newest key."
            )
        )
