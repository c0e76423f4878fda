"""Django's user admin, minus deleting ``manage.py replay_webhooks``' own
account: Django deletes a user's admin history with the user (LogEntry's
cascade), and that account holds the history of every run without --user.
Staff accounts delete as Django deletes them."""

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


class UserAdmin(auth_admin.UserAdmin):
    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(
            objs, request
        )
        field = get_user_model().USERNAME_FIELD
        names = {getattr(user, field) for user in objs}
        if REPLAY_COMMAND_USER in names:
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
