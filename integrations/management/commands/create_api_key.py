"""Create a storefront API key and print it, the only time it is shown."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from integrations.api.scopes import SCOPES
from integrations.api.services import api_key_create
from integrations.management.arguments import TextArgumentsCommand


class Command(TextArgumentsCommand):
    help = (
        "Create an API key. The key is printed once on stdout; only its hash is "
        "stored. Scopes: " + ", ".join(SCOPES)
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="Who uses the key.")
        parser.add_argument(
            "--scopes",
            required=True,
            help="Comma-separated scopes, e.g. payments:write,shipping:read",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            api_key, full_key = api_key_create(
                name=options["name"], scopes=options["scopes"].split(",")
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        # The bare key alone on stdout so a script can capture it; the note
        # goes to stderr.
        self.stdout.write(full_key)
        self.stderr.write(
            f"Created API key '{api_key.name}' (prefix {api_key.prefix}) with "
            f"scopes {', '.join(api_key.scopes)}. Store it now: it cannot be "
            "shown again."
        )
