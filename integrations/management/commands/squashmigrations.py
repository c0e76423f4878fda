"""Django's ``squashmigrations``, an unknown app label said as the
project's other argument errors are: one line ending "(see --help)", exit 2."""

from typing import Any

from django.core.management.commands import squashmigrations

from integrations.management.arguments import OneLineCommand, refuse_unknown_apps


class Command(OneLineCommand, squashmigrations.Command):
    help = squashmigrations.Command.help

    def handle(self, **options: Any) -> None:
        refuse_unknown_apps(self, "squashmigrations", [options["app_label"]])
        super().handle(**options)
