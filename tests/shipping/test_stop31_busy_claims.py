"""A stop (gunicorn's worker timeout raises SystemExit anywhere) that lands
while psycopg reads an answer leaves the answer unread on the connection.
Releasing the void's claim then failed "another command is already in
progress": the stop became a database error and the shipment stayed
claimed, refusing the staff's next void until the claim's life ran out."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from shipping import services
from shipping.models import Shipment
from shipping.services import voids
from tests.shipping.ups_answers import ups_account, ups_shipment

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = "1Z12345E8791315599"


def _busy_then_stopped(*args, **kwargs):
    connection.ensure_connection()
    connection.connection.pgconn.send_query(b"SELECT pg_sleep(0.05)")
    raise SystemExit(1)


def test_a_stop_leaving_the_connection_busy_releases_the_void_claim(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL connection left busy")
    shipment = ups_shipment(
        ups_account("ups-stop31"),
        "ups-stop31-1",
        tracking_number=NUMBER,
        carrier_shipment_id=NUMBER,
    )
    Shipment.objects.filter(pk=shipment.pk).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    shipment.refresh_from_db()
    monkeypatch.setattr(voids, "void_at_carrier", _busy_then_stopped)

    with pytest.raises(SystemExit):
        services.shipment_void(shipment=shipment)

    assert Shipment.objects.get(pk=shipment.pk).void_started_at is None
