"""A receiver's answer as stored for staff (``WebhookDelivery.last_response``):
every known secret masked in every form the answer may quote it in, and the
head of one cut off where the answer ends (``integrations.secret_masking``,
the log filter's masker too); what PostgreSQL cannot store replaced."""

from integrations.secret_masking import mask_secrets
from integrations.secrets_registry import known_secrets
from integrations.webhooks.messages import storable


def staff_excerpt(excerpt: str) -> str:
    """``excerpt`` as stored for staff: known secrets masked, escaped or
    not, and the head of one cut off at its end too (whole, it would have
    been masked): by the excerpt's bound, or earlier by the deadline or a
    dropped connection."""
    if not excerpt:
        return excerpt
    known = known_secrets(fresh=True)
    return storable(mask_secrets(excerpt, known, cut_end=True))
