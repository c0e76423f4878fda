"""Working a bulk send's job in the test, as its tasks would (with the
``no_batch_tasks`` fixture, none are queued), and the set-up those tests
share: a newsletter send, a template edited after the send was created."""

from pathlib import Path
from typing import Any

from integrations.batch import WorkState, batch_job_work
from notifications import rendering
from notifications.models import BulkSend
from notifications.services.bulk import bulk_send_create

# A recipient whose message the primary cannot carry (``odd_waits``), and two
# it can.
ODD = "odd@example.com"
OTHERS = ["ada@example.com", "bob@example.com"]
# A body.txt that uses ``first_name``, which a recipient may lack.
FIRST_NAME_BODY = "Hello {{ first_name }},\n\n{{ body }}\n\n{{ unsubscribe_url }}"


def work_bulk_job(job_id: int, rounds: int = 20) -> None:
    """Work the job until it has nothing more to do (or ``rounds`` ran)."""
    for _ in range(rounds):
        if batch_job_work(job_id=job_id, budget_seconds=0).state != WorkState.MORE:
            return


def newsletter_bulk(recipients: list[dict[str, Any]]) -> BulkSend:
    """A bulk send of the newsletter template to ``recipients``."""
    return bulk_send_create(
        template="newsletter",
        context={"headline": "Hi", "body": "News."},
        recipients=recipients,
    ).bulk_send


def odd_and_others_bulk() -> BulkSend:
    """A newsletter to ODD and OTHERS (``newsletter_bulk``)."""
    return newsletter_bulk([{"email": ODD}, *({"email": e} for e in OTHERS)])


def newsletter_edit(templates: Path, body: str) -> None:
    """The newsletter's body.txt edited (``templates`` fixture), read anew
    from the next render on."""
    (templates / "newsletter" / "body.txt").write_text(body)
    rendering._engine.cache_clear()
