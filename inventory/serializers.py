"""API shapes of stock and reservations. Quantities are integers in the SKU's
stock unit; availability never shows below zero."""

from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from rest_framework import serializers

from integrations.clock import database_now
from inventory.models import Reservation, ReservationStatus, StockLevel
from inventory.services.levels import available_units, oversold_units

MAX_LINES = 100


def _ttl_min() -> int:
    return settings.INVENTORY_RESERVATION_TTL_MIN_SECONDS


def _ttl_max() -> int:
    return settings.INVENTORY_RESERVATION_TTL_MAX_SECONDS


class StockLevelSerializer(serializers.ModelSerializer):
    """A SKU at one location; ``expired`` in the context: units per level
    still held by reservations past their time, which no longer count."""

    location = serializers.CharField(source="location.code")
    reserved = serializers.SerializerMethodField()
    available = serializers.SerializerMethodField()
    oversold_by = serializers.SerializerMethodField()

    class Meta:
        model = StockLevel
        fields = [
            "sku",
            "location",
            "on_hand",
            "reserved",
            "available",
            "state",
            "oversold_by",
            "synced_at",
        ]

    def _reserved(self, level: StockLevel) -> int:
        return level.reserved - self.context.get("expired", {}).get(level.pk, 0)

    def get_reserved(self, level: StockLevel) -> int:
        return self._reserved(level)

    def get_available(self, level: StockLevel) -> int:
        return available_units(level.on_hand, self._reserved(level))

    def get_oversold_by(self, level: StockLevel) -> int:
        return oversold_units(level.on_hand, self._reserved(level))


class ReservationLineInSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    location = serializers.CharField(
        max_length=32,
        required=False,
        default="",
        allow_blank=True,
        help_text="Only this location; default: locations in priority order.",
    )


class ReservationCreateSerializer(serializers.Serializer):
    order_id = serializers.CharField(max_length=64)
    lines = ReservationLineInSerializer(
        many=True, allow_empty=False, max_length=MAX_LINES
    )
    # The bounds are settings, read when a value is checked; the schema
    # declares them as minimum/maximum (validators, not min_value=, whose
    # message would be fixed at import).
    ttl_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        validators=[
            MinValueValidator(_ttl_min, "Must be at least %(limit_value)s seconds."),
            MaxValueValidator(_ttl_max, "Must be at most %(limit_value)s seconds."),
        ],
        help_text="How long the stock is held (default 900 s).",
    )


class ReservationLineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    location = serializers.CharField(source="location.code")
    quantity = serializers.IntegerField()


class ReservationSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    status = serializers.SerializerMethodField(
        help_text="active, confirmed, released or expired (a reservation past "
        "its time reads expired at once)."
    )
    seconds_left = serializers.SerializerMethodField()
    lines = ReservationLineSerializer(many=True)

    class Meta:
        model = Reservation
        fields = [
            "id",
            "order_id",
            "status",
            "expires_at",
            "seconds_left",
            "lines",
            "created_at",
            "closed_at",
        ]

    def get_status(self, reservation: Reservation) -> str:
        if reservation.is_expired(self._now()):
            return ReservationStatus.EXPIRED
        return reservation.status

    def get_seconds_left(self, reservation: Reservation) -> int:
        if reservation.status != ReservationStatus.ACTIVE:
            return 0
        left = (reservation.expires_at - self._now()).total_seconds()
        return max(0, int(left))

    def _now(self) -> datetime:
        # The database's clock, which expires_at is stamped and swept by;
        # read once per response (a list's rows share this serializer).
        if not hasattr(self, "_read_at"):
            self._read_at = database_now()
        return self._read_at
