"""Public ids: prefixed, random, unique, and invisible to migrations."""

import re

import pytest
from django.db.migrations.writer import MigrationWriter

from integrations.public_ids import (
    PublicIdDefault,
    PublicIdField,
    new_public_id,
)
from payments.models import Payment, Refund
from payments.models.payments import new_payment_id


def test_new_public_id_is_prefix_and_24_lowercase_characters():
    ids = {new_public_id("shp_") for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"shp_[0-9a-z]{24}", value) for value in ids)


def test_field_with_prefix_makes_ids_and_serialises_by_prefix():
    field = PublicIdField(prefix="shp_")
    assert re.fullmatch(r"shp_[0-9a-z]{24}", field.get_default())
    _name, path, args, kwargs = field.deconstruct()
    assert args == []
    # Migrations see a plain CharField whose default names only the prefix.
    assert path == "django.db.models.CharField"
    assert kwargs == {
        "default": PublicIdDefault("shp_"),
        "editable": False,
        "max_length": 32,
        "unique": True,
    }
    text, imports = MigrationWriter.serialize(kwargs["default"])
    assert text == "integrations.public_ids.PublicIdDefault('shp_')"
    assert imports == {"import integrations.public_ids"}


def test_field_with_default_function_keeps_it():
    field = PublicIdField(default=new_payment_id)
    assert field.deconstruct()[3]["default"] is new_payment_id


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"prefix": "x_", "default": new_payment_id}, {"prefix": "much_too_long_"}],
)
def test_field_refuses_ambiguous_or_oversized_configuration(kwargs):
    with pytest.raises((TypeError, ValueError)):
        PublicIdField(**kwargs)


@pytest.mark.django_db
def test_payments_rows_get_their_prefixed_ids():
    payment = Payment.objects.create(order_id="o-1", amount=100, currency="EUR")
    refund = Refund.objects.create(
        payment=payment, amount=10, currency="EUR", idempotency_key="k"
    )
    assert re.fullmatch(r"pay_[0-9a-z]{24}", payment.public_id)
    assert re.fullmatch(r"re_[0-9a-z]{24}", refund.public_id)
