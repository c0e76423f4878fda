"""API shapes of recurring charges. Amounts are integers in the currency's
minor unit with an ISO 4217 code, bounded as a payment's are."""

from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations import money
from payments.models import RecurringCharge, RecurringInterval
from payments.serializers import CurrencyField, currency_checked
from payments.services.recurring_manage import MAX_INTERVAL_COUNT


class AwareDateTimeField(serializers.DateTimeField):
    """A date-time with its UTC offset: a naive one's meaning would hang on
    the deploy's TIME_ZONE (and fall in a DST gap in some zones)."""

    default_error_messages = {
        "naive_datetime": "Give the time with its UTC offset (such as Z or +01:00)."
    }

    def enforce_timezone(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            self.fail("naive_datetime")
        return super().enforce_timezone(value)


class RecurringChargeCreateSerializer(serializers.Serializer):
    payment_method = serializers.CharField(
        max_length=64, help_text="The id of one of this customer's saved methods."
    )
    amount = serializers.IntegerField(
        min_value=1,
        max_value=money.MAX_AMOUNT_ANY,
        help_text="Charged each period, in the currency's minor unit. At most "
        f"{money.MAX_AMOUNT:,} in most currencies, as for a payment.",
    )
    currency = CurrencyField(help_text="ISO 4217, e.g. EUR.")
    interval = serializers.ChoiceField(choices=RecurringInterval.choices)
    interval_count = serializers.IntegerField(
        min_value=1,
        max_value=max(MAX_INTERVAL_COUNT.values()),
        default=1,
        help_text="Periods of `interval` between charges; a period is at most a "
        "year (365 days, 52 weeks, 12 months, 1 year).",
    )
    first_run_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The first charge (default now). Not in the past beyond five "
        "minutes, nor more than two years ahead; with its UTC offset. Later "
        "charges keep its day "
        "and time.",
    )
    description = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default=""
    )

    def validate_currency(self, value: str) -> str:
        return currency_checked(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        limit = money.max_amount(attrs["currency"])
        if attrs["amount"] > limit:
            detail = serializers.ErrorDetail(
                f"At most {limit} in {attrs['currency']}.", code="max_value"
            )
            raise serializers.ValidationError({"amount": [detail]})
        most = MAX_INTERVAL_COUNT[attrs["interval"]]
        if attrs["interval_count"] > most:
            detail = serializers.ErrorDetail(
                f"At most {most} for a {attrs['interval']} interval.",
                code="max_value",
            )
            raise serializers.ValidationError({"interval_count": [detail]})
        return attrs


class RecurringChargeMethodSerializer(serializers.Serializer):
    payment_method = serializers.CharField(
        max_length=64,
        help_text="The id of another saved method of the charge's customer.",
    )


class RecurringChargeSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    customer_reference = serializers.CharField(source="saved_method.customer_reference")
    payment_method = serializers.CharField(source="saved_method.public_id")
    last_payment = serializers.SerializerMethodField()

    class Meta:
        model = RecurringCharge
        fields = [
            "id",
            "customer_reference",
            "payment_method",
            "amount",
            "currency",
            "interval",
            "interval_count",
            "status",
            "next_run_at",
            "description",
            "runs",
            "last_payment",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_last_payment(self, recurring: RecurringCharge) -> str | None:
        """The id of the latest period's payment (GET /payments/<id>/)."""
        payment = recurring.last_payment
        return payment.public_id if payment is not None else None
