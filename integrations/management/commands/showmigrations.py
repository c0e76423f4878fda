"""Django's ``showmigrations``, an unknown app label said as the project's
other argument errors are: one line ending "(see --help)", exit 2."""

from typing import Any

from django.core.management.commands import showmigrations

from integrations.management.arguments import OneLineCommand, refuse_unknown_apps


class Command(OneLineCommand, showmigrations.Command):
    help = showmigrations.Command.help

    def _validate_app_names(self, loader: Any, app_names: list[str]) -> None:
        refuse_unknown_apps(self, "showmigrations", app_names)
