"""Django's ``sqlmigrate``, an unknown app label said as the project's
other argument errors are: one line ending "(see --help)", exit 2."""

from typing import Any

from django.core.management.commands import sqlmigrate

from integrations.management.arguments import OneLineCommand, refuse_unknown_apps


class Command(OneLineCommand, sqlmigrate.Command):
    help = sqlmigrate.Command.help

    def handle(self, *args: Any, **options: Any) -> str:
        refuse_unknown_apps(self, "sqlmigrate", [options["app_label"]])
        return super().handle(*args, **options)
