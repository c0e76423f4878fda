"""A failed django_q task resubmitted from the admin is queued once: by two
clicks at once (a double-click on "Go", or two staff on the same failure)
too, and given back as failed if the broker refuses it."""

import threading
import time
from unittest import mock

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_q.models import Failure

pytestmark = pytest.mark.django_db(transaction=True)


def _failure() -> Failure:
    return Failure.objects.create(
        id="a" * 32,
        name="refund-1",
        func="payments.tasks.some_refund",
        args=(),
        kwargs={},
        started=timezone.now(),
        stopped=timezone.now(),
        success=False,
        result="boom",
    )


def _staff() -> User:
    user = User.objects.create_user("ops", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_failure", "change_failure"])
    )
    return user


def _resubmit(client: Client, task: Failure):
    return client.post(
        "/admin/django_q/failure/",
        {"action": "resubmit_failed", "index": "0", "_selected_action": [task.pk]},
        follow=True,
    )


def test_a_failed_task_resubmitted_twice_at_once_is_queued_once():
    task, user = _failure(), _staff()
    queued: list[str] = []
    ended: list[bool] = []

    def fake_async_task(func, *args, **kwargs):
        queued.append(func)
        # Until the other click got here too (it read the failure as well)
        # or ended without queuing: 3 s at most.
        give_up = time.monotonic() + 3
        while len(queued) < 2 and not ended and time.monotonic() < give_up:
            time.sleep(0.01)

    def click() -> None:
        try:
            client = Client()
            client.force_login(user)
            _resubmit(client, task)
        finally:
            ended.append(True)
            connection.close()

    with mock.patch("django_q.admin.async_task", fake_async_task):
        threads = [threading.Thread(target=click) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    # One failure, one re-run: a refund or a bulk send is not repeated.
    assert queued == ["payments.tasks.some_refund"], queued
    assert not Failure.objects.filter(pk=task.pk).exists()


def test_a_failure_the_broker_refuses_is_kept_to_resubmit_later():
    task = _failure()
    client = Client()
    client.force_login(_staff())
    with mock.patch("django_q.admin.async_task", side_effect=ConnectionError):
        page = _resubmit(client, task).content.decode()
    assert "could not be queued" in page
    assert Failure.objects.get(pk=task.pk).func == "payments.tasks.some_refund"
