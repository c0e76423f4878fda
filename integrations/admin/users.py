"""Django's user admin, minus deleting or renaming ``manage.py
replay_webhooks``' own account: Django deletes a user's admin history with
the user (LogEntry's cascade), and that account holds the history of every
run without --user (renamed, it would be deletable). Staff accounts delete
as Django deletes them."""

from typing import Any

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from integrations.webhooks.recovery import REPLAY_COMMAND_USER

# Shown as what the deletion would destroy: Django's delete page and bulk
# action then delete nothing and say why.
KEPT = (
    f"{REPLAY_COMMAND_USER}: this account holds the admin history of every "
    "replay_webhooks run; deleting it would delete that history, so it cannot "
    "be deleted (it cannot log in)."
)

# Said on its change page, where its name is read-only.
RENAME_REFUSED = (
    "This account holds the admin history of every replay_webhooks run: it "
    "cannot be renamed (renamed, it could be deleted, and that history with it)."
)


def _is_command_account(user: Any) -> bool:
    field = get_user_model().USERNAME_FIELD
    return user is not None and getattr(user, field) == REPLAY_COMMAND_USER


class UserAdmin(auth_admin.UserAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        if _is_command_account(obj):
            return (*fields, get_user_model().USERNAME_FIELD)
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if not _is_command_account(obj):
            return fieldsets
        (name, options), *rest = fieldsets
        return [(name, {**options, "description": RENAME_REFUSED}), *rest]

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(
            objs, request
        )
        if any(_is_command_account(user) for user in objs):
            protected = [*protected, KEPT]
        return deleted, counts, perms_needed, protected


def _replace_user_admin() -> None:
    # Importing auth's admin registered its own class: this holds whichever
    # app the admin autodiscovers first.
    model = get_user_model()
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, UserAdmin)


_replace_user_admin()
