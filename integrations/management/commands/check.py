"""Django's ``check``, an unknown app label or tag said as the project's
other argument errors are: one line ending "(see --help)", exit 2 (Django's
own: a traceback for the label, exit 1 for the tag)."""

from typing import Any

from django.core import checks
from django.core.management.commands import check

from integrations.management.arguments import (
    OneLineCommand,
    refuse_unknown,
    refuse_unknown_apps,
)


class Command(OneLineCommand, check.Command):
    help = check.Command.help

    def handle(self, *app_labels: str, **options: Any) -> None:
        refuse_unknown_apps(self, "check", app_labels)
        deploy = options["deploy"]
        unknown = [
            tag
            for tag in dict.fromkeys(options.get("tags") or ())
            if not checks.tag_exists(tag, deploy)
        ]
        refuse_unknown(
            self,
            "check",
            unknown,
            "no system check with tag",
            "no system checks with tags",
        )
        super().handle(*app_labels, **options)
