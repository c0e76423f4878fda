"""Provider limits checked before a message is stored, against every enabled
email account (failover may hand the message to any of them): a message no
provider would take is refused at our API, naming the field, nothing queued.

The limits are the ones the providers publish (/work/shared/provider-specs/
email/, cited on each adapter's attribute). The rest of what a message
carries is bounded at our API already (address, template name, order id) so
that what an adapter adds stays inside the published sizes
(tests/notifications/test_mail38_limits.py measures the wire form).
"""

from integrations import registry
from integrations.failover import enabled_accounts
from notifications.providers.base import SUBJECT_EMPTY, EmailAdapter
from notifications.rendering import EmailRenderError

__all__ = ["SUBJECT_EMPTY", "email_subject_check", "email_subject_required"]


def email_subject_required() -> bool:
    """Whether no enabled email account could send a message without a
    subject: every one this deploy can call has a provider that refuses it
    (failover skips those, ``EmailAdapter.send``). False while none is
    enabled: the message waits for an account, whichever is enabled next."""
    senders = []
    for provider in {account.provider for account in enabled_accounts("email")}:
        try:
            adapter = registry.get_adapter_class("email", provider)
        except registry.ACCOUNT_UNCALLABLE:
            continue  # an account this deploy cannot call sends nothing
        if issubclass(adapter, EmailAdapter):
            senders.append(adapter)
    return bool(senders) and all(adapter.subject_required for adapter in senders)


def email_subject_check(subject: str, *, required: bool | None = None) -> None:
    """EmailRenderError(subject_empty, param ``context``) for a rendered
    subject that is empty while no enabled account could send it
    (``email_subject_required``); ``required`` saves the look-up when the
    caller checks many rows."""
    if subject.strip():
        return
    if required is None:
        required = email_subject_required()
    if required:
        raise EmailRenderError(
            "The rendered subject is empty and every enabled email provider "
            "refuses a message without one.",
            code=SUBJECT_EMPTY,
            param="context",
        )
