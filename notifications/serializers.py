"""API shapes of email messages and their delivery events."""

from rest_framework import serializers

from notifications.models import EmailEvent, EmailMessage
from notifications.providers.base import EmailCategory


class EmailSendSerializer(serializers.Serializer):
    to = serializers.CharField(max_length=254, help_text="The recipient's address.")
    template = serializers.CharField(
        max_length=100, help_text="A directory under templates/emails/."
    )
    context = serializers.DictField(
        required=False,
        default=dict,
        help_text="Variables the template uses; a missing one is a 400.",
    )
    category = serializers.ChoiceField(
        choices=[c.value for c in EmailCategory],
        default=EmailCategory.TRANSACTIONAL.value,
        help_text="Marketing mail carries one-click unsubscribe headers.",
    )
    order_id = serializers.CharField(
        max_length=64, required=False, default="", allow_blank=True
    )


class EmailEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmailEvent
        fields = ["type", "bounce_type", "occurred_at", "details"]


class EmailListSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    to = serializers.CharField(source="to_email")
    account = serializers.SerializerMethodField()
    provider = serializers.SerializerMethodField()

    class Meta:
        model = EmailMessage
        fields = [
            "id",
            "to",
            "template",
            "category",
            "subject",
            "status",
            "account",
            "provider",
            "provider_message_id",
            "order_id",
            "attempts",
            "created_at",
            "sent_at",
            "updated_at",
        ]

    def get_account(self, message: EmailMessage) -> str | None:
        return message.account.slug if message.account_id else None

    def get_provider(self, message: EmailMessage) -> str | None:
        return message.account.provider if message.account_id else None


class EmailMessageSerializer(EmailListSerializer):
    events = EmailEventSerializer(many=True, read_only=True)
    last_error = serializers.CharField(read_only=True)

    class Meta(EmailListSerializer.Meta):
        fields = [*EmailListSerializer.Meta.fields, "last_error", "events"]
