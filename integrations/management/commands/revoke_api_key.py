"""Revoke a storefront API key by its prefix (shown in the admin)."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from integrations.api.services import api_key_revoke
from integrations.management.arguments import TextArgumentsCommand
from integrations.models import ApiKey


class Command(TextArgumentsCommand):
    help = "Revoke an API key: requests with it get 401 from now on."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix", help="The key's prefix, as the admin lists it.")

    def handle(self, *args: Any, **options: Any) -> None:
        prefix = options["prefix"].strip()
        api_key = ApiKey.objects.filter(prefix=prefix).first()
        if api_key is None:
            raise CommandError(f"No API key with prefix '{prefix}'.")
        if api_key_revoke(api_key=api_key):
            self.stdout.write(
                self.style.SUCCESS(f"Revoked API key '{api_key.name}' ({prefix}).")
            )
        else:
            self.stdout.write(
                f"API key '{api_key.name}' ({prefix}) was already revoked at "
                f"{api_key.revoked_at:%Y-%m-%d %H:%M:%S %Z}."
            )
