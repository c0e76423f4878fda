"""API shapes of payments, refunds and saved methods. Amounts are integers in
the currency's minor unit with an ISO 4217 code."""

import threading
from collections.abc import Mapping
from datetime import datetime
from functools import cache, cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.fields import Field, SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

from integrations import money
from integrations.api import plain_bodies
from payments import limits
from payments.models import Payment, Refund, SavedPaymentMethod


def currency_checked(value: str) -> str:
    try:
        return money.validate_currency(value)
    except ValueError:
        raise serializers.ValidationError(
            "Unknown ISO 4217 currency code.", code="invalid_currency"
        ) from None


@extend_schema_field(
    {"type": "string", "enum": sorted(money.EXPONENTS), "minLength": 3, "maxLength": 3}
)
class CurrencyField(serializers.CharField):
    """An ISO 4217 code; the schema lists the codes the server accepts."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_length=3, max_length=3, **kwargs)


@extend_schema_field(limits.metadata_schema(limits.registered_limits()))
class MetadataField(serializers.DictField):
    """Storefront metadata; checked against the enabled gateways' limits."""


def _check_gateway_limits(attrs: dict[str, Any], enabled: set[str] | None) -> None:
    """What a gateway would refuse is refused here, before anything is sent.
    ``enabled``: the enabled providers if the caller read them already."""
    reserved = limits.reserved_key(attrs["metadata"])
    if reserved is not None:
        detail = serializers.ErrorDetail(
            "This key is reserved by Switchyard.", code="reserved_key"
        )
        raise serializers.ValidationError({f"metadata.{reserved}": [detail]})
    if enabled is None:
        enabled = limits.enabled_providers()
    classes = limits.adapter_classes(enabled)  # once for the three checks
    problem = limits.metadata_problem(attrs["metadata"], limits.limits_of(classes))
    if problem is not None:
        param, message = problem
        detail = serializers.ErrorDetail(message, code="gateway_limit")
        raise serializers.ValidationError({param: [detail]})
    if not limits.source_accepted(attrs["source_token"], classes):
        detail = serializers.ErrorDetail(
            "No enabled gateway accepts a source token of this format.",
            code="invalid_source_token",
        )
        raise serializers.ValidationError({"source_token": [detail]})
    saved_method_id_refuse(attrs["source_token"], classes)


def saved_method_id_refuse(source_token: str, classes: limits.Adapters) -> None:
    """Refuse a saved payment method's gateway id sent as a one-time source
    token (a payment's or a card to save): the gateway would refuse it without
    its customer. One answer whoever's id it is, and for an id we do not know."""
    if limits.saved_method_id(source_token, classes):
        detail = serializers.ErrorDetail(
            "A saved payment method's id is no one-time source token: charge "
            "it through its customer's saved payment methods.",
            code="invalid_source_token",
        )
        raise serializers.ValidationError({"source_token": [detail]})


# For serializers whose fields never change once bound: their readable and
# writable fields listed once (DRF's generators cost a Python call per field
# on every use), and their plain attributes read directly. No docstring: the
# schema would show it as each serializer's description.
class _FieldsFixed:
    @cached_property
    def _readable_fields(self) -> tuple[serializers.Field, ...]:
        fields = self.fields.values()  # type: ignore[attr-defined]
        return tuple(field for field in fields if not field.write_only)

    @cached_property
    def _writable_fields(self) -> tuple[serializers.Field, ...]:
        fields = self.fields.values()  # type: ignore[attr-defined]
        return tuple(field for field in fields if not field.read_only)

    @cached_property
    def _reads(self) -> tuple[tuple[serializers.Field, str | None, bool], ...]:
        """Each readable field, with the one attribute it reads when DRF's
        own ``get_attribute`` would read just that, and whether it is a
        DateTimeField shown DRF's default way (``_iso_moment``)."""
        return tuple(
            (field, field.source_attrs[0], _iso_moment(field))
            if type(field).get_attribute is Field.get_attribute
            and len(field.source_attrs) == 1
            else (field, None, _iso_moment(field))
            for field in self._readable_fields
        )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """DRF's ``Serializer.to_representation``, reading a plain attribute
        itself (DRF's walk costs ~8 Python calls a field); DRF's own read for
        the rest: methods, callables, missing attributes, relations."""
        if isinstance(instance, Mapping):
            return super().to_representation(instance)  # type: ignore[misc]
        shown: dict[str, Any] = {}
        zone: Any = _UNREAD  # the time zone moments are shown in, read once
        for field, name, moment in self._reads:
            try:
                value = _UNREAD if name is None else getattr(instance, name)
            except (AttributeError, ObjectDoesNotExist):
                value = _UNREAD
            if value is _UNREAD or callable(value):
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
            if moment and type(value) is datetime and value.tzinfo is not None:
                zone = _iso_zone() if zone is _UNREAD else zone
                shown[field.field_name] = _iso_shown(field, value, zone)
                continue
            bare = value.pk if isinstance(value, PKOnlyObject) else value
            shown[field.field_name] = (
                None if bare is None else field.to_representation(value)
            )
        return shown


_UNREAD = object()
_DRF_MOMENT = ("to_representation", "enforce_timezone", "default_timezone")


def _iso_moment(field: serializers.Field) -> bool:
    """``field`` is DRF's own DateTimeField with no format or time zone of
    its own: DRF shows an aware value in ISO 8601 in the current time zone,
    ~19 Python calls a field, which ``_iso_shown`` does in three."""
    cls = type(field)
    return (
        isinstance(field, serializers.DateTimeField)
        and all(
            getattr(cls, n) is getattr(serializers.DateTimeField, n)
            for n in _DRF_MOMENT
        )
        and not hasattr(field, "format")
        and not hasattr(field, "timezone")
    )


def _iso_zone() -> Any:
    """The zone DRF shows a moment in where it shows ISO 8601; None where
    the settings ask for something else (DRF's own way then)."""
    if not settings.USE_TZ or api_settings.DATETIME_FORMAT != ISO_8601:
        return None
    return timezone.get_current_timezone()


def _iso_shown(field: serializers.Field, value: datetime, zone: Any) -> Any:
    """``field.to_representation(value)`` for an aware ``value`` (DRF's
    text: ``Z`` for UTC); DRF's own for anything it would refuse."""
    if zone is None:
        return field.to_representation(value)
    try:
        text = value.astimezone(zone).isoformat()
    except OverflowError:
        return field.to_representation(value)  # DRF's "overflow" error
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class PaymentCreateSerializer(_FieldsFixed, serializers.Serializer):
    order_id = serializers.CharField(max_length=128)
    amount = serializers.IntegerField(
        min_value=1,
        max_value=money.MAX_AMOUNT_ANY,
        help_text="In the currency's minor unit (cents; yen for JPY). At most "
        f"{money.MAX_AMOUNT:,} in most currencies (what every gateway accepts).",
    )
    currency = CurrencyField(
        help_text="ISO 4217, e.g. EUR (lower case is accepted too)."
    )
    source_token = serializers.CharField(
        max_length=255,
        help_text="Token or nonce from the provider's client-side SDK. A raw card "
        "number is refused (400 pan_not_allowed).",
    )
    capture = serializers.BooleanField(
        default=True, help_text="False: authorize only; capture later."
    )
    customer_reference = serializers.CharField(
        max_length=128, required=False, default=""
    )
    # As long as the column it is stored in (EmailField's 254), not the
    # validator's 320: a longer address was a 500 from the INSERT.
    customer_email = serializers.EmailField(
        max_length=Payment._meta.get_field("customer_email").max_length,
        required=False,
        default="",
    )
    ip_address = serializers.IPAddressField(required=False, allow_null=True)
    ip_country = serializers.CharField(max_length=2, required=False, default="")
    billing_country = serializers.CharField(max_length=2, required=False, default="")
    card_fingerprint = serializers.CharField(max_length=255, required=False, default="")
    metadata = MetadataField(
        child=serializers.CharField(max_length=500, allow_blank=True),
        required=False,
        default=dict,
    )

    def validate_currency(self, value: str) -> str:
        return currency_checked(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        _check_gateway_limits(attrs, self.context.get("enabled_providers"))
        limit = money.max_amount(attrs["currency"])
        if attrs["amount"] > limit:
            raise serializers.ValidationError(
                {
                    "amount": serializers.ErrorDetail(
                        f"At most {limit} in {attrs['currency']}.",
                        code="max_value",
                    )
                }
            )
        return attrs


def payment_create_validated(
    data: Any, *, enabled_providers: set[str]
) -> dict[str, Any]:
    """What ``PaymentCreateSerializer(data=data, context=...)`` with
    ``is_valid(raise_exception=True)`` gives: the validated data, or the same
    ValidationError. One serializer per thread, its fields bound once: DRF
    deep-copies and binds them on every instantiation (a tenth of a
    payment's Python work); validation keeps no state on it but the context."""
    serializer = getattr(_per_thread, "payment_create", None)
    if serializer is None:
        serializer = _per_thread.payment_create = PaymentCreateSerializer()
        plain_bodies.surrogates_searched(serializer)
    serializer._context = {"enabled_providers": enabled_providers}
    try:
        # A plain body in a few calls; anything else, and every error, DRF's.
        attrs = plain_bodies.validated(serializer, data)
        return serializer.run_validation(data) if attrs is None else attrs
    except serializers.ValidationError as exc:
        serializer._errors = exc.detail
        errors = serializer.errors
    finally:
        serializer._context = {}
    raise serializers.ValidationError(errors)


_per_thread = threading.local()


class CaptureSerializer(serializers.Serializer):
    amount = serializers.IntegerField(
        min_value=1,
        max_value=money.MAX_AMOUNT_ANY,
        required=False,
        help_text="Default: all that is authorized.",
    )


class RefundCreateSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, max_value=money.MAX_AMOUNT_ANY)
    reason = serializers.CharField(max_length=255, required=False, default="")


class CardSerializer(_FieldsFixed, serializers.Serializer):
    brand = serializers.CharField(source="card_brand")
    last4 = serializers.CharField(source="card_last4")
    wallet = serializers.CharField()


class RiskSerializer(_FieldsFixed, serializers.Serializer):
    score = serializers.IntegerField(source="risk_score", allow_null=True)
    level = serializers.CharField(source="risk_level")
    reasons = serializers.ListField(
        child=serializers.CharField(), source="risk_reasons"
    )


class FailureSerializer(_FieldsFixed, serializers.Serializer):
    code = serializers.CharField(source="failure_code")
    message = serializers.CharField(source="failure_message")
    provider_code = serializers.CharField(
        source="failure_provider_code",
        help_text="The gateway's own code for the failure, if it gave one.",
    )


class NextActionSerializer(serializers.Serializer):
    client_secret = serializers.CharField()
    details = serializers.JSONField(allow_null=True)


class PaymentSerializer(_FieldsFixed, serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    provider = serializers.SerializerMethodField()
    amount_refundable = serializers.IntegerField(source="refundable")
    card = serializers.SerializerMethodField()
    risk = RiskSerializer(source="*")
    failure = serializers.SerializerMethodField()
    next_action = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = [
            "id",
            "order_id",
            "status",
            "amount",
            "currency",
            "amount_authorized",
            "amount_captured",
            "amount_refunded",
            "amount_refundable",
            "capture_requested",
            "customer_reference",
            "customer_email",
            "provider",
            "provider_reference",
            "card",
            "risk",
            "review_state",
            "dispute_status",
            "failure",
            "next_action",
            "metadata",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_provider(self, payment: Payment) -> str | None:
        return payment.account.provider if payment.account_id else None

    @extend_schema_field(CardSerializer(allow_null=True))
    def get_card(self, payment: Payment) -> dict[str, str] | None:
        if not (payment.card_brand or payment.card_last4 or payment.wallet):
            return None
        return _bound(CardSerializer).to_representation(payment)

    @extend_schema_field(FailureSerializer(allow_null=True))
    def get_failure(self, payment: Payment) -> dict[str, str] | None:
        if not payment.failure_code:
            return None
        return _bound(FailureSerializer).to_representation(payment)

    @extend_schema_field(NextActionSerializer(allow_null=True))
    def get_next_action(self, payment: Payment) -> dict[str, Any] | None:
        """Only in the create response of a ``requires_action`` payment."""
        secret = getattr(payment, "client_secret", "")
        if not secret:
            return None
        details = payment.next_action  # type: ignore[attr-defined]
        return {"client_secret": secret, "details": details}


def payment_data(payment: Payment) -> dict[str, Any]:
    """``payment`` as the API shows it. One serializer per process: DRF builds
    a ModelSerializer's fields again on every instantiation, about a tenth of
    a payment request's work; reading through bound fields changes nothing."""
    return _payment_serializer().to_representation(payment)


def _payment_serializer() -> PaymentSerializer:
    return _bound(PaymentSerializer)  # type: ignore[return-value]


@cache
def _bound(cls: type[serializers.Serializer]) -> serializers.Serializer:
    """One output serializer of ``cls`` per process, its fields bound once:
    ``to_representation`` keeps no state on it."""
    serializer = cls()
    serializer.fields  # noqa: B018 (bound once, here)
    return serializer


class RefundSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    payment = serializers.CharField(source="payment.public_id")
    failure_code = serializers.CharField()

    class Meta:
        model = Refund
        fields = [
            "id",
            "payment",
            "amount",
            "currency",
            "status",
            "reason",
            "provider_reference",
            "failure_code",
            "next_attempt_at",
            "created_at",
        ]


class PaymentMethodCreateSerializer(serializers.Serializer):
    source_token = serializers.CharField(max_length=255)
    customer_email = serializers.EmailField(required=False, default="")
    make_default = serializers.BooleanField(default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Refused here, before any gateway call, as a payment's create does;
        # not the retry of a save its key made (a Stripe card's saved id is
        # the pm_ it was saved from): the service answers with that method.
        try:
            enabled = limits.enabled_providers()
            saved_method_id_refuse(
                attrs["source_token"], limits.adapter_classes(enabled)
            )
        except serializers.ValidationError:
            key = self.context.get("idempotency_key")
            if not key or not _key_saved(key):
                raise
        return attrs


def _key_saved(idempotency_key: str) -> bool:
    return SavedPaymentMethod.objects.filter(idempotency_key=idempotency_key).exists()


class SavedPaymentMethodSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    provider = serializers.CharField(source="account.provider")

    class Meta:
        model = SavedPaymentMethod
        fields = [
            "id",
            "customer_reference",
            "provider",
            "card_brand",
            "card_last4",
            "exp_month",
            "exp_year",
            "is_default",
            "created_at",
        ]
