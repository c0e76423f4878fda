"""factory-boy factories shared by the suite. Append yours below."""

import factory

from integrations.models import ProviderAccount


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
