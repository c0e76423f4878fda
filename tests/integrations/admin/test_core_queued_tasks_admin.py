"""django_q's queued tasks (the ORM broker's rows) in the admin: view only.
Editing one's lock hands a task a worker holds to a second worker (a
capture or a refund run twice); editing its cluster key strands it; so no
one changes one, and only a superuser deletes one (it drops queued work)."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import path
from django.utils import timezone
from django_q import admin as q_admin
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from config import urls as project_urls
from integrations.admin import task_queue

pytestmark = pytest.mark.django_db

PAGE = "/admin/django_q/ormq/"


@pytest.fixture(autouse=True)
def _orm_broker_admin(settings):
    """The admin as the ORM broker has it: django_q registers its queue page
    only then (the suite may run on Redis), and ours replaces it."""
    added = not admin.site.is_registered(OrmQ)
    if added:
        admin.site.register(OrmQ, q_admin.QueueAdmin)
        task_queue._replace_django_q_admins()

    class Urls:
        urlpatterns = [
            *(p for p in project_urls.urlpatterns if str(p.pattern) != "admin/"),
            path("admin/", admin.site.urls),
        ]

    settings.ROOT_URLCONF = Urls
    yield
    if added:
        admin.site.unregister(OrmQ)


def _queued() -> OrmQ:
    task = {"id": "a" * 32, "name": "capture-1", "func": "payments.tasks.capture"}
    task.update(args=(), kwargs={}, group=None)
    lock = timezone.now() + timedelta(seconds=90)  # a worker holds it
    return OrmQ.objects.create(
        key="switchyard", payload=SignedPackage.dumps(task), lock=lock
    )


def _client(*, superuser: bool = False) -> Client:
    if superuser:
        user = User.objects.create_superuser("root", password="x")
    else:
        user = User.objects.create_user("ops", is_staff=True)
        codenames = [f"{verb}_ormq" for verb in ("view", "change", "delete", "add")]
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def _edit(client: Client, row: OrmQ):
    return client.post(f"{PAGE}{row.pk}/change/", {"key": "elsewhere", "lock": ""})


@pytest.mark.parametrize("superuser", [False, True], ids=["staff", "superuser"])
def test_no_one_unlocks_or_moves_a_queued_task(superuser) -> None:
    row, client = _queued(), _client(superuser=superuser)

    page = client.get(f"{PAGE}{row.pk}/change/")
    assert page.status_code == 200
    assert 'name="lock' not in page.content.decode()
    assert 'name="key"' not in page.content.decode()
    assert _edit(client, row).status_code == 403

    fresh = OrmQ.objects.get(pk=row.pk)
    assert (fresh.key, fresh.lock) == (row.key, row.lock)


def test_staff_with_every_permission_deletes_no_queued_task() -> None:
    row, client = _queued(), _client()

    assert client.post(f"{PAGE}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = client.post(
        PAGE, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )

    assert listing.status_code == 200  # the action is not offered
    assert "delete_selected" not in client.get(PAGE).content.decode()
    assert OrmQ.objects.filter(pk=row.pk).exists()


def test_a_superuser_deletes_a_queued_task() -> None:
    row, client = _queued(), _client(superuser=True)

    done = client.post(f"{PAGE}{row.pk}/delete/", {"post": "yes"})

    assert done.status_code == 302
    assert not OrmQ.objects.filter(pk=row.pk).exists()


def test_no_one_adds_a_queued_task() -> None:
    assert _client(superuser=True).get(f"{PAGE}add/").status_code == 403
