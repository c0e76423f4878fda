"""The one-time tokens of signed email webhooks (Mailgun's), kept in the
database so the replay check needs no shared cache: a Redis outage must not
refuse (and so lose) a webhook Mailgun will not deliver again."""

from django.db import models

from integrations.models import ProviderAccount


class WebhookToken(models.Model):
    """A token seen on an account's verified webhook, bound to the body it
    came with; purged once its signed time is past the account's tolerance
    (``webhook_tokens_purge``), when the time check refuses it anyway."""

    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="+"
    )
    # SHA-256 hex digests: a token is at most a webhook body's size.
    token_digest = models.CharField(max_length=64)
    body_digest = models.CharField(max_length=64)
    signed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "token_digest"], name="webhooktoken_unique_token"
            )
        ]
        indexes = [
            models.Index(fields=["account", "signed_at"], name="webhooktoken_signed")
        ]

    def __str__(self) -> str:
        return f"webhook token {self.token_digest[:12]}"
