"""Staff typing suppliers and reorder points in the admin: a currency that is
not an ISO 4217 code, or a negative unit cost, is a form error on the field,
not a purchase order drafted for the ERP with it (one at a negative price, or
one every send refuses)."""

import pytest
from django.urls import reverse

from inventory.models import ReorderPoint, Supplier
from tests.inventory.factories import LocationFactory, SupplierFactory

pytestmark = pytest.mark.django_db


def _supplier(admin_client, currency: str):
    return admin_client.post(
        reverse("admin:inventory_supplier_add"),
        {"code": "GLOBEX", "name": "Globex", "currency": currency},
    )


@pytest.mark.parametrize("currency", ["zz1", "XXY", "E"])
def test_a_currency_that_is_no_iso_code_is_a_form_error(admin_client, currency):
    response = _supplier(admin_client, currency)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["currency"]
    assert not Supplier.objects.filter(code="GLOBEX").exists()


def test_a_currency_in_lower_case_is_stored_as_its_code(admin_client):
    response = _supplier(admin_client, "jpy")
    assert response.status_code == 302
    assert Supplier.objects.get(code="GLOBEX").currency == "JPY"


def _point(admin_client, unit_cost: int):
    return admin_client.post(
        reverse("admin:inventory_reorderpoint_add"),
        {
            "sku": "MUG-BLUE",
            "supplier": SupplierFactory(code="ACME").pk,
            "location": LocationFactory(code="MAIN").pk,
            "reorder_level": 5,
            "reorder_quantity": 20,
            "unit_cost": unit_cost,
        },
    )


@pytest.mark.parametrize("unit_cost", [-1, -250])
def test_a_negative_unit_cost_is_a_form_error(admin_client, unit_cost):
    response = _point(admin_client, unit_cost)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["unit_cost"]
    assert not ReorderPoint.objects.exists()


def test_a_unit_cost_of_zero_leaves_the_price_to_the_erp(admin_client):
    assert _point(admin_client, 0).status_code == 302
    assert ReorderPoint.objects.get().unit_cost == 0
