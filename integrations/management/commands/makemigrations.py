"""Django's ``makemigrations``, an unknown app label said as the project's
other argument errors are: one line ending "(see --help)", exit 2."""

from typing import Any

from django.core.management.commands import makemigrations

from integrations.management.arguments import OneLineCommand, refuse_unknown_apps


class Command(OneLineCommand, makemigrations.Command):
    help = makemigrations.Command.help

    def handle(self, *app_labels: str, **options: Any) -> None:
        refuse_unknown_apps(self, "makemigrations", app_labels)
        super().handle(*app_labels, **options)
