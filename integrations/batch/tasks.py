"""django-q2 tasks for batch jobs: thin, they bind the correlation id and call
one service."""

from integrations import correlation
from integrations.batch import services


def work_batch_job(job_id: int, correlation_id: str = "") -> str:
    with correlation.bind(correlation_id or None):
        return services.batch_job_run(job_id=job_id).state


def sweep_batch_jobs() -> int:
    with correlation.bind(None):
        return services.batch_jobs_sweep()
