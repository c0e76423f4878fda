"""Django's ``sqlsequencereset``, an unknown app label said as the project's
other argument errors are: one line ending "(see --help)", exit 2."""

from typing import Any

from django.core.management.commands import sqlsequencereset

from integrations.management.arguments import OneLineCommand, refuse_unknown_apps


class Command(OneLineCommand, sqlsequencereset.Command):
    help = sqlsequencereset.Command.help

    def handle(self, *app_labels: str, **options: Any) -> str | None:
        refuse_unknown_apps(self, "sqlsequencereset", app_labels)
        return super().handle(*app_labels, **options)
