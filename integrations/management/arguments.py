"""The argument rule of the project's commands that store what they are given:
text only. A byte the terminal's encoding could not decode reaches Python as
a lone surrogate, which no column can store; control characters are no one's
input. Paths are left alone: os functions round-trip surrogate escapes."""

import re
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError

# integrations.api.parsers' rule for free text (tab and line feeds pass: a
# pasted JSON context).
NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Django's own options: a settings module or a path, not stored.
DJANGO_OPTIONS = frozenset({"settings", "pythonpath"})
# What str.splitlines breaks at: argparse quotes an unknown argument back raw.
LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


class OneLineCommand(BaseCommand):
    """argparse's own errors (an unknown, missing or malformed argument) in
    one line naming the command, not the whole usage before it."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        return one_line_errors(parser, subcommand)


def one_line_errors(parser: Any, subcommand: str) -> Any:
    """``parser`` (a command's) saying its errors in one line."""
    parser.error = partial(_one_line_error, parser, subcommand)
    return parser


def _one_line_error(parser: Any, subcommand: str, message: str) -> None:
    if not parser.called_from_command_line:
        raise CommandError(f"Error: {message}")  # call_command, as Django does
    parser.exit(2, f"{subcommand}: {quoted_breaks(message)} (see --help)\n")


def refuse_unknown_apps(
    command: BaseCommand, subcommand: str, labels: Iterable[str]
) -> None:
    """An app label no installed app has is an argument error of
    ``command`` (an app-label positional): every such label, in the parser's
    one line (exit 2; ``call_command``: CommandError)."""
    unknown = [label for label in dict.fromkeys(labels) if not _installed(label)]
    refuse_unknown(
        command,
        subcommand,
        unknown,
        "no installed app with label",
        "no installed app with labels",
    )


def refuse_unknown_app_or_model_labels(
    command: BaseCommand, subcommand: str, labels: Iterable[str]
) -> None:
    """``refuse_unknown_apps`` for labels that are "app_label" or
    "app_label.ModelName" (``dumpdata``'s): then every unknown model."""
    labels = list(dict.fromkeys(labels))
    refuse_unknown_apps(command, subcommand, [label.split(".")[0] for label in labels])
    unknown = [label for label in labels if "." in label and not _a_model(label)]
    refuse_unknown(
        command, subcommand, unknown, "no model with label", "no models with labels"
    )


def refuse_unknown(
    command: BaseCommand,
    subcommand: str,
    unknown: list[str],
    singular: str,
    plural: str,
) -> None:
    """``unknown`` (arguments naming nothing there is) as one argument error
    of ``command``: "``singular`` 'x'" or "``plural`` 'x', 'y'" in the
    parser's one line (exit 2; ``call_command``: CommandError)."""
    if not unknown:
        return
    named = ", ".join(f"'{label}'" for label in unknown)
    parser = command.create_parser("manage.py", subcommand)
    parser.error(f"{plural if len(unknown) > 1 else singular} {named}")


def _installed(label: str) -> bool:
    try:
        apps.get_app_config(label)
    except LookupError:
        return False
    return True


def _a_model(label: str) -> bool:
    try:
        apps.get_model(label)
    except (LookupError, ValueError):  # ValueError: more than one dot
        return False
    return True


def quoted_breaks(text: str) -> str:
    """``text`` with each line break written as its escape (``\\n``)."""
    return LINE_BREAK.sub(lambda found: ascii(found[0])[1:-1], text)


class TextArgumentsCommand(OneLineCommand):
    """Refuses, in one line, an argument that is not text before ``handle``.
    ``path_options``: the dests of arguments that name files."""

    path_options: tuple[str, ...] = ()

    def execute(self, *args: Any, **options: Any) -> str | None:
        skip = DJANGO_OPTIONS | set(self.path_options)
        refuse_non_text(args, {k: v for k, v in options.items() if k not in skip})
        return super().execute(*args, **options)


def refuse_non_text(args: Iterable[Any], options: dict[str, Any]) -> None:
    """CommandError naming the first argument that is not text."""
    named = [("an argument", value) for value in args]
    named += [(f"--{dest.replace('_', '-')}", value) for dest, value in options.items()]
    for name, value in named:
        values = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, str) and NOT_TEXT.search(v) for v in values):
            raise CommandError(
                f"{name} holds characters that are not text "
                "(is the terminal's encoding UTF-8?)"
            )
