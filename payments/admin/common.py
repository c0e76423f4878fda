"""What every payments admin page shares."""

from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from integrations.errors import ProviderError
from integrations.money import MoneyError
from payments.models import Payment
from payments.services import PaymentError

# What a service may raise for a request it refuses; anything else is a bug
# and should surface as one.
SERVICE_ERRORS = (PaymentError, ProviderError, MoneyError)


def actor(request: HttpRequest) -> str:
    """Who did it, for the services' logs and the refund's ``requested_by``."""
    return request.user.get_username()


def payment_link(payment: Payment) -> SafeString:
    url = reverse("admin:payments_payment_change", args=[payment.pk])
    return format_html('<a href="{}">{}</a>', url, payment.public_id)
