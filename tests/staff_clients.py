"""A logged-in admin client of a staff user holding only the permissions a
test names: for the staff-action pages (settle by hand) of every app."""

from django.contrib.auth.models import Permission
from django.test import Client


def permitted_staff(
    django_user_model,
    username: str,
    app_label: str,
    codenames: list[str],
    **client_options,
) -> Client:
    user = django_user_model.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label=app_label, codename__in=codenames
        )
    )
    client = Client(**client_options)
    client.force_login(user)
    return client
