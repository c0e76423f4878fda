"""Django's ``dumpdata``, an unknown app label or model label (to dump or
``--exclude``) said as the project's other argument errors are: one line
ending "(see --help)", exit 2."""

from typing import Any

from django.core.management.commands import dumpdata

from integrations.management.arguments import (
    OneLineCommand,
    refuse_unknown_app_or_model_labels,
)


class Command(OneLineCommand, dumpdata.Command):
    help = dumpdata.Command.help

    def handle(self, *app_labels: str, **options: Any) -> None:
        labels = [*app_labels, *(options.get("exclude") or ())]
        refuse_unknown_app_or_model_labels(self, "dumpdata", labels)
        super().handle(*app_labels, **options)
