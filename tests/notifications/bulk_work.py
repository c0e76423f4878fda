"""Working a bulk send's job in the test, as its tasks would (with the
``no_batch_tasks`` fixture, none are queued)."""

from integrations.batch import WorkState, batch_job_work


def work_bulk_job(job_id: int, rounds: int = 20) -> None:
    """Work the job until it has nothing more to do (or ``rounds`` ran)."""
    for _ in range(rounds):
        if batch_job_work(job_id=job_id, budget_seconds=0).state != WorkState.MORE:
            return
