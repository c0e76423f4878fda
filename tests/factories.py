"""factory-boy factories shared by the suite. Append yours below."""

import json

import factory
from django.utils import timezone

from integrations.api.scopes import SCOPES
from integrations.api.services import api_key_create
from integrations.models import ApiKey, ProviderAccount


class ProviderAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderAccount
        skip_postgeneration_save = True

    kind = "payments"
    provider = "sandbox"
    slug = factory.Sequence(lambda n: f"account-{n}")
    display_name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    priority = factory.Sequence(lambda n: 10 + n)
    enabled = True
    mode = "test"
    settings = factory.LazyFunction(dict)

    @factory.post_generation
    def credentials(self, create: bool, extracted: dict | None, **kwargs) -> None:
        values = {"api_key": "sbx_test_key", "webhook_secret": "whsec_dGVzdHNlY3JldA=="}
        if extracted is not None:
            values = extracted
        self.set_credentials(values)
        if create:
            self.save(update_fields=["credentials_encrypted"])


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """An API key made by the real service; ``.raw_key`` is the full key to send.

    ``ApiKeyFactory(scopes=["payments:write"])``; default: every scope.
    """

    class Meta:
        model = ApiKey

    name = factory.Sequence(lambda n: f"storefront-{n}")
    scopes = factory.LazyFunction(lambda: list(SCOPES))

    @classmethod
    def _create(cls, model_class: type, *args: object, **kwargs: object) -> ApiKey:
        api_key, raw_key = api_key_create(name=kwargs["name"], scopes=kwargs["scopes"])
        api_key.raw_key = raw_key
        return api_key


class WebhookEventFactory(factory.django.DjangoModelFactory):
    """A stored webhook as the intake would leave it (status received)."""

    class Meta:
        model = "integrations.WebhookEvent"

    account = factory.SubFactory(ProviderAccountFactory)
    event_type = "payment.succeeded"
    dedupe_key = factory.Sequence(lambda n: f"msg_{n:06d}")
    payload = factory.LazyAttribute(
        lambda o: {"type": o.event_type, "data": {"id": o.dedupe_key}}
    )
    raw_body = factory.LazyAttribute(lambda o: json.dumps(o.payload).encode())
    headers = factory.LazyFunction(dict)


class EventFactory(factory.django.DjangoModelFactory):
    """An outbox event without deliveries; use ``event_emit`` for the real path."""

    class Meta:
        model = "integrations.Event"

    name = "payment.captured"
    subject = factory.Sequence(lambda n: f"payment:{n}")
    payload = factory.LazyFunction(lambda: {"amount": 1000, "currency": "EUR"})


class ProviderCallFactory(factory.django.DjangoModelFactory):
    """A finished entry of the provider-call log."""

    class Meta:
        model = "integrations.ProviderCall"

    account = factory.SubFactory(ProviderAccountFactory)
    operation = "create_payment"
    outcome = "success"
    http_status = 200
    attempts = 1
    duration_ms = 42
    correlation_id = factory.Faker("md5")
    idempotency_key = factory.Faker("uuid4")
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyAttribute(lambda o: o.started_at)
