"""Django's ``optimizemigration``, an unknown app label said as the
project's other argument errors are: one line ending "(see --help)", exit 2."""

from typing import Any

from django.core.management.commands import optimizemigration

from integrations.management.arguments import OneLineCommand, refuse_unknown_apps


class Command(OneLineCommand, optimizemigration.Command):
    help = optimizemigration.Command.help

    def handle(self, *args: Any, **options: Any) -> None:
        refuse_unknown_apps(self, "optimizemigration", [options["app_label"]])
        super().handle(*args, **options)
