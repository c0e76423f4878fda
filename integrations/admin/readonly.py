"""Read-only admin pages, for records that only services and webhooks write
(payments, attempts, the call log, events): a saved change form would write
stale values over what a service set meanwhile."""

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """No add, change or delete for anyone; viewing follows the usual
    ``view`` permission. Put it before ``admin.ModelAdmin`` (or an inline)."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
