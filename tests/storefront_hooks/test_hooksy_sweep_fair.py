"""The sweep shares its batch among endpoints: a large backlog on one
endpoint (rows its in-flight cap held back, all due) does not keep another
endpoint's due retries out of the batch, however much older it is."""

import pytest

from storefront_hooks import services
from tests.storefront_hooks.cap_setup import due_rows, swept

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    return swept(monkeypatch)


def test_a_backlog_on_one_endpoint_leaves_room_for_the_others(
    settings, make_endpoint, queued
):
    settings.STOREFRONT_WEBHOOK_SWEEP_BATCH = 10
    slow, quiet, other = (make_endpoint()[0] for _ in range(3))
    backlog = due_rows(slow, 40, age_minutes=30)
    retries = due_rows(quiet, 3, age_minutes=5)
    more = due_rows(other, 6, age_minutes=1)

    assert services.deliveries_sweep() == 10

    assert set(retries) <= set(queued)  # fewer than its share: all of them
    # The rest of the batch shared by the two with more, oldest first each.
    assert queued.count(backlog[0]) == 1
    assert [pk for pk in queued if pk in backlog] == backlog[:4]
    assert [pk for pk in queued if pk in more] == more[:3]


def test_one_endpoint_alone_still_fills_the_batch(settings, make_endpoint, queued):
    settings.STOREFRONT_WEBHOOK_SWEEP_BATCH = 10
    backlog = due_rows(make_endpoint()[0], 40, age_minutes=30)

    assert services.deliveries_sweep() == 10
    assert queued == backlog[:10]
