"""Django's ``loaddata``, an unknown ``--app`` label said as the project's
other argument errors are: one line ending "(see --help)", exit 2 (Django's
own: "No fixture named ... found", as if the fixture were missing)."""

from typing import Any

from django.core.management.commands import loaddata

from integrations.management.arguments import OneLineCommand, refuse_unknown_apps


class Command(OneLineCommand, loaddata.Command):
    help = loaddata.Command.help

    def handle(self, *fixture_labels: str, **options: Any) -> None:
        if options.get("app_label"):
            refuse_unknown_apps(self, "loaddata", [options["app_label"]])
        super().handle(*fixture_labels, **options)
