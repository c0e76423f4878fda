"""run_recurring_charges names the held charges in its one summary line: with
many held (a card network's wait on a busy card) the line listed every one;
it names the first 20, as the task result does, and counts the rest."""

from io import StringIO

import pytest
from django.core.management import call_command

from payments.management.commands import run_recurring_charges as command
from payments.services.recurring import RecurringRun


@pytest.mark.django_db
def test_the_line_names_twenty_held_charges_and_counts_the_rest(monkeypatch):
    held = [f"rc_{n:03d} until 2026-12-07" for n in range(25)]
    monkeypatch.setattr(
        command, "recurring_charges_report", lambda: RecurringRun(held=held)
    )
    out = StringIO()

    call_command("run_recurring_charges", stdout=out)

    text = out.getvalue()
    assert "25 held for the card network's advice: " in text
    assert "rc_019 until" in text
    assert "rc_020" not in text
    assert "(and 5 more)" in text
