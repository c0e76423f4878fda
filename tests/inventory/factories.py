"""factory-boy factories for the inventory tests."""

import factory

from inventory.models import Location, ReorderPoint, StockLevel, Supplier


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"WH{n}")
    name = factory.LazyAttribute(lambda o: f"Warehouse {o.code}")
    priority = 10


class StockLevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StockLevel

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    location = factory.SubFactory(LocationFactory, code="MAIN")
    location_active = factory.LazyAttribute(lambda o: o.location.active)
    on_hand = 10
    low_threshold = 2
    state = "in_stock"


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Supplier
        django_get_or_create = ("code",)

    code = "ACME"
    name = "Acme Supplies"
    currency = "EUR"


class ReorderPointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReorderPoint

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    supplier = factory.SubFactory(SupplierFactory)
    location = factory.SubFactory(LocationFactory, code="MAIN")
    reorder_level = 5
    reorder_quantity = 20
    unit_cost = 250
