"""The shipping admin: compare carrier rates, buy a label from a row, the
shipment page with its timeline, label download and void; pickups."""

import re
from decimal import Decimal

import pytest

from shipping.models import Pickup, RateQuote, Shipment
from tests.shipping.helpers import carrier

FORM = {
    "from_name": "Switchyard Warehouse",
    "from_street": "1 Dock Road",
    "from_city": "Memphis",
    "from_postal_code": "38118",
    "from_state_code": "TN",
    "from_country_code": "US",
    "to_name": "Ada Buyer",
    "to_street": "742 Evergreen Terrace",
    "to_city": "Springfield",
    "to_postal_code": "62704",
    "to_state_code": "IL",
    "to_country_code": "US",
    "weight": "1.2",
    "weight_unit": "kg",
    "dimension_unit": "cm",
    "customs_currency": "USD",
    "order_id": "o-77",
}
COMPARE = "/admin/shipping/shipment/compare-rates/"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
def test_compare_buy_and_void_from_the_admin(admin_client):
    carrier("cheap-post", price_factor=0.5)
    carrier("dear-express", price_factor=2)
    carrier("down-freight", outage=True)
    page = admin_client.post(COMPARE, FORM)
    html = page.content.decode()
    assert page.status_code == 200
    amounts = [int(a) for a in re.findall(r'data-amount="(\d+)"', html)]
    assert len(amounts) == 6 and amounts == sorted(amounts)
    assert 'class="failure-row" data-account="down-freight"' in html
    assert "connection_refused" in html
    quote = re.search(r'name="quote_id" value="(rq_\w+)"', html).group(1)
    key = re.search(r'name="key" value="(\w+)"', html).group(1)
    bought = admin_client.post(
        "/admin/shipping/shipment/buy/",
        {"quote_id": quote, "key": key, "order_id": "o-77"},
    )
    shipment = Shipment.objects.get()
    assert bought.url == f"/admin/shipping/shipment/{shipment.pk}/change/"
    assert shipment.order_id == "o-77" and shipment.tracking_number
    change = admin_client.get(bought.url).content.decode()
    assert shipment.tracking_number in change
    assert 'id="shipment-timeline"' in change and "create_label" in change
    label = admin_client.get(f"/admin/shipping/shipment/{shipment.pk}/label/")
    assert label.content.startswith(b"%PDF")
    admin_client.post(f"/admin/shipping/shipment/{shipment.pk}/void/")
    shipment.refresh_from_db()
    assert shipment.status == "voided"


@pytest.mark.django_db
def test_an_invalid_parcel_is_shown_with_its_field(admin_client):
    carrier("post")
    page = admin_client.post(COMPARE, {**FORM, "weight": "0"})
    assert "parcels[0].weight" in page.content.decode()
    assert not Shipment.objects.exists()


@pytest.mark.django_db
def test_the_list_links_the_compare_page_and_pickups_list(admin_client):
    page = admin_client.get("/admin/shipping/shipment/").content.decode()
    assert 'id="compare-rates-link"' in page
    assert admin_client.get("/admin/shipping/pickup/").status_code == 200
    assert not Pickup.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
def test_compare_quotes_several_parcels(admin_client):
    carrier("post")
    one = admin_client.post(COMPARE, FORM).content.decode()
    second = {
        "parcel2_weight": "2.5",
        "parcel2_length": "30",
        "parcel2_width": "20",
        "parcel2_height": "10",
    }
    two = admin_client.post(COMPARE, {**FORM, **second}).content.decode()

    assert 'class="parcel-row"' in two
    single = sorted(int(a) for a in re.findall(r'data-amount="(\d+)"', one))
    double = sorted(int(a) for a in re.findall(r'data-amount="(\d+)"', two))
    assert len(double) == len(single) == 3
    # 3.7 kg over two parcels costs more than 1.2 kg in one.
    assert all(d > s for d, s in zip(double, single, strict=True))
    quote = re.search(r'name="quote_id" value="(rq_\w+)"', two).group(1)
    parcels = RateQuote.objects.get(public_id=quote).request["parcels"]
    assert [Decimal(p["weight"]) for p in parcels] == [Decimal("1.2"), Decimal("2.5")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
def test_an_international_parcel_takes_several_customs_lines(admin_client):
    carrier("post")
    abroad = {
        **FORM,
        "to_city": "Berlin",
        "to_postal_code": "10115",
        "to_state_code": "",
        "to_country_code": "DE",
        "customs_description": "Ceramic mug",
        "customs_quantity": "2",
        "customs_value": "1500",
        "customs2_description": "Loose tea",
        "customs2_value": "800",
        "customs2_weight": "0.2",
        "customs_currency": "eur",
    }
    html = admin_client.post(COMPARE, abroad).content.decode()

    quote = re.search(r'name="quote_id" value="(rq_\w+)"', html).group(1)
    items = RateQuote.objects.get(public_id=quote).request["customs"]["items"]
    assert [(i["description"], i["quantity"], i["value"]) for i in items] == [
        ("Ceramic mug", 2, 1500),
        ("Loose tea", 1, 800),
    ]
    assert {i["currency"] for i in items} == {"EUR"}
    # The mug has no weight of its own: the parcels' 1.2 kg over three units.
    assert [Decimal(i["weight"]) for i in items] == [Decimal("0.4"), Decimal("0.2")]


@pytest.mark.django_db
def test_the_compare_form_names_what_is_missing(admin_client):
    carrier("post")
    abroad = {**FORM, "to_country_code": "DE", "to_postal_code": "10115"}
    no_customs = admin_client.post(COMPARE, abroad).content.decode()
    assert "customs.items" in no_customs

    half = admin_client.post(
        COMPARE,
        {**FORM, "parcel2_length": "30", "customs2_value": "100"},
    ).content.decode()
    assert "A parcel with dimensions needs a weight." in half
    assert "A customs line with a value needs a description." in half
    # The service names the second parcel the way the API does.
    sides = {**FORM, "parcel2_weight": "1", "parcel2_length": "30"}
    assert "parcels[1].length" in admin_client.post(COMPARE, sides).content.decode()
    assert not RateQuote.objects.exists() and not Shipment.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
def test_the_compare_page_says_which_currency_each_price_is_in(admin_client):
    carrier("us-post", currency="USD")
    carrier("eu-post", priority=20, currency="EUR", price_factor=1.1)

    html = admin_client.post(COMPARE, FORM).content.decode()

    # As many quotes in each: the groups go by currency code.
    assert 'id="currency-note"' in html and "EUR, USD" in html
    rows = re.findall(r'data-amount="(\d+)" data-currency="(\w+)"', html)
    assert [c for _, c in rows] == ["EUR"] * 3 + ["USD"] * 3
    assert html.count("cheapest in USD") == 1 and html.count("cheapest in EUR") == 1
    assert html.count('class="rate-currency">EUR<') == 3
