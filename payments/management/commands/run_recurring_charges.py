"""Charge the recurring charges that are due, once each, and print how many.

A recurring charge a fault of ours stops (an account no adapter serves,
credentials no key opens) is not charged and its slot is given back; the
others are still charged, and the run ends with one line and a non-zero
exit, so a scheduler or monitor notices. A hard failure (database
unreachable, broken configuration) stops the run the same way.
"""

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.db import DatabaseError

from integrations.errors import ProviderError
from integrations.management.base import ProviderCommand
from integrations.registry import UnknownProvider
from integrations.secrets_registry import staff_text
from payments.services.recurring import RecurringRun, recurring_charges_report

HELD_SHOWN = 20


class Command(ProviderCommand):
    help = "Charge every active recurring charge whose next run is due."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = recurring_charges_report()
        except (
            DatabaseError,
            ImproperlyConfigured,
            UnknownProvider,
            ProviderError,
        ) as exc:
            first_line = (str(exc).strip().splitlines() or [""])[0]
            raise CommandError(
                f"recurring charges stopped: {type(exc).__name__}: "
                + staff_text(first_line)
            ) from exc
        self.stdout.write(_summary(run))
        if run.errors:
            more = f" (and {len(run.errors) - 1} more)" if len(run.errors) > 1 else ""
            raise CommandError(
                f"{len(run.errors)} recurring charge(s) not run, their slot "
                f"given back: {staff_text(run.errors[0])}{more}"
            )


def _summary(run: RecurringRun) -> str:
    """ "Charged N recurring charge(s)." and, when there are any, the ones
    that are not charged (yet)."""
    parts = [
        f"{run.unknown} unknown, being reconciled" if run.unknown else "",
        f"{run.declined} declined, stopped" if run.declined else "",
        f"{run.retry} not charged, gateway unreachable, retried next run"
        if run.retry
        else "",
        f"{len(run.held)} held for the card network's advice: {_held(run.held)}"
        if run.held
        else "",
    ]
    rest = "; ".join(p for p in parts if p)
    return f"Charged {run.charged} recurring charge(s)" + (
        f"; {rest}." if rest else "."
    )


def _held(lines: list[str]) -> str:
    # The first ones, as the task result keeps: a busy card's wait may hold
    # thousands, and this is one line.
    shown = ", ".join(lines[:HELD_SHOWN])
    rest = len(lines) - HELD_SHOWN
    return shown + (f" (and {rest} more)" if rest > 0 else "")
