import pytest

from integrations.batch import services
from tests.integrations.batch import handlers


@pytest.fixture(autouse=True)
def _batch_settings(settings):
    settings.BATCH_CHUNK_SIZE = 10
    settings.BATCH_TIME_BUDGET_SECONDS = 30
    settings.BATCH_MAX_ATTEMPTS = 3
    settings.BATCH_RETRY_BASE_SECONDS = 30
    settings.BATCH_RETRY_MAX_SECONDS = 3600
    settings.BATCH_SWEEP_AFTER_MINUTES = 2
    settings.BATCH_LEASE_SECONDS = 300
    settings.BATCH_PACE_SECONDS = 5
    handlers.PACE.update(left=0, retry_after=None)
    handlers.workers.clear()


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple]:
    """Work tasks enqueued (at once or later) instead of run: the tests drive
    the worker themselves."""
    calls: list[tuple] = []
    monkeypatch.setattr(
        services, "async_task", lambda func, *args, **kw: calls.append(("now", *args))
    )
    monkeypatch.setattr(
        services,
        "schedule",
        lambda func, *args, **kw: calls.append(("later", *args, kw["next_run"])),
    )
    return calls


class FakeClock:
    """Monotonic time that moves only when the worker sleeps, or by ``tick``
    on every reading."""

    def __init__(self, tick: float = 0.0) -> None:
        self.now = 1000.0
        self.tick = tick
        self.slept: list[float] = []

    def __call__(self) -> float:
        self.now += self.tick
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
