"""Issue 17 (pay4): a row's values are read with fewer Python calls, and
stay the values ``save()`` writes: a deferred field is still loaded, and a
statement still runs after the connection was replaced (its Transformer and
prepared names live on the psycopg connection, not in a module cache)."""

import pytest
from django.db import connection
from django.db.models import Field

from integrations.db import execute_one
from integrations.row_sql import field_values, row_insert, row_update
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = {
    "order_id": "order-1",
    "amount": 1050,
    "currency": "EUR",
    "customer_email": "ada@example.com",
    "ip_address": "192.0.2.1",
    "metadata": {"cart": "c-77"},
}


def test_deferred_field_is_loaded_not_written_empty():
    payment = row_insert(Payment(**FIELDS, idempotency_key="k-deferred"))
    partial = Payment.objects.only("id", "status").get(pk=payment.pk)
    assert "amount" in partial.get_deferred_fields()
    fields = [Payment._meta.get_field(name) for name in ("amount", "metadata")]
    values = field_values(fields, partial, add=False, conn=connection)
    assert values[0] == 1050
    assert "cart" in str(values[1])  # the JSON as the database takes it
    partial.order_id = "order-2"
    assert row_update(partial, ["order_id", "amount"])
    fresh = Payment.objects.get(pk=payment.pk)
    assert (fresh.order_id, fresh.amount) == ("order-2", 1050)


def test_values_do_not_hash_fields(monkeypatch):
    """Field.__hash__ is a Python call: a cache keyed by fields paid one per
    field on every row written."""
    instance = Payment(**FIELDS, idempotency_key="k-hash")
    fields = [f for f in Payment._meta.concrete_fields if not f.primary_key]
    field_values(fields, instance, add=True, conn=connection)  # plans made
    hashed = []
    original = Field.__hash__

    def counting(self):  # type: ignore[no-untyped-def]
        hashed.append(self)
        return original(self)

    monkeypatch.setattr(Field, "__hash__", counting)
    values = field_values(fields, instance, add=True, conn=connection)
    monkeypatch.undo()
    assert hashed == []
    assert len(values) == len(fields)


def test_statement_runs_again_on_a_new_connection():
    sql = 'SELECT "id" FROM "payments_payment" WHERE "idempotency_key" = %s'
    payment = row_insert(Payment(**FIELDS, idempotency_key="k-reconnect"))
    assert execute_one(sql, ["k-reconnect"]) == (payment.pk,)
    connection.close()  # a new psycopg connection: nothing prepared on it
    assert execute_one(sql, ["k-reconnect"]) == (payment.pk,)
    assert execute_one(sql, ["k-none"]) is None


def test_choices_and_nulls_go_as_they_are_and_write_the_orms_row(monkeypatch):
    """A TextChoices member and a None date are their own database values:
    no get_db_prep_save call for them, and the row read back is the ORM's."""
    from payments.models import PaymentStatus, ReviewReason, ReviewState

    instance = Payment(
        **FIELDS,
        idempotency_key="k-choices",
        status=PaymentStatus.AUTHORIZED,
        review_state=ReviewState.PENDING,
        review_reason=ReviewReason.CAPTURE_REFUSED,
        reconcile_checked_at=None,
    )
    names = ["status", "review_state", "review_reason", "reconcile_checked_at"]
    fields = [Payment._meta.get_field(name) for name in names]
    prepared = []
    original = Field.get_db_prep_save

    def counting(self, value, conn):  # type: ignore[no-untyped-def]
        prepared.append(self.name)
        return original(self, value, conn)

    monkeypatch.setattr(Field, "get_db_prep_save", counting)
    values = field_values(fields, instance, add=True, conn=connection)
    monkeypatch.undo()
    assert prepared == []
    assert values == ["authorized", "pending", "capture_refused", None]
    by_sql = Payment.objects.get(pk=row_insert(instance).pk)
    by_orm = Payment.objects.create(
        **{**FIELDS, "idempotency_key": "k-choices-orm"},
        status=PaymentStatus.AUTHORIZED,
        review_state=ReviewState.PENDING,
        review_reason=ReviewReason.CAPTURE_REFUSED,
    )
    by_orm.refresh_from_db()
    for name in names:
        assert getattr(by_sql, name) == getattr(by_orm, name)


def test_a_text_field_that_converts_still_converts():
    from django.db import models

    class Upper(models.CharField):
        def get_prep_value(self, value):  # type: ignore[no-untyped-def]
            return super().get_prep_value(value).upper()

    field = Upper(max_length=64)
    field.set_attributes_from_name("order_id")
    instance = Payment(**FIELDS, idempotency_key="k-upper")
    assert field_values([field], instance, add=True, conn=connection) == ["ORDER-1"]


def test_update_guards_by_attname_date_and_choice_match_only_the_row_as_read():
    """The guards go through the same values path as the row: a foreign key
    named by its attname, an aware datetime and a TextChoices member."""
    from datetime import timedelta

    from payments.models import PaymentStatus
    from tests.factories import ProviderAccountFactory

    account = ProviderAccountFactory(slug="sbx-guard", priority=1)
    payment = row_insert(
        Payment(
            **FIELDS,
            idempotency_key="k-guard",
            account=account,
            status=PaymentStatus.PENDING,
        )
    )
    read = Payment.objects.get(pk=payment.pk)
    guard = {
        "account_id": account.pk,
        "updated_at": read.updated_at,
        "status": PaymentStatus.PENDING,
    }
    stale = {**guard, "updated_at": read.updated_at - timedelta(seconds=1)}
    read.order_id = "order-guarded"
    assert not row_update(read, ["order_id"], where=stale)
    assert not row_update(read, ["order_id"], where={**guard, "account_id": 0})
    assert row_update(read, ["order_id"], where=guard)
    assert Payment.objects.get(pk=payment.pk).order_id == "order-guarded"
