"""A failed task whose own keyword arguments are named as django_q's options
(``broker``, ``group``, ``timeout``...) is resubmitted with them intact: they
were passed alongside ours, so one named as ours broke the call (the task
kept failed for ever) and one named as another option was taken as that
option, the task re-run without it."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Failure
from django_q.signing import SignedPackage

from integrations.admin import task_queue

# The action queues on commit: a real commit, before the page is drawn.
pytestmark = pytest.mark.django_db(transaction=True)


class RecordingBroker:
    list_key = "recording"

    def __init__(self) -> None:
        self.packages: list[dict] = []

    def enqueue(self, pack: str) -> str:
        self.packages.append(SignedPackage.loads(pack))
        return "1"


@pytest.fixture
def broker(monkeypatch) -> RecordingBroker:
    recording = RecordingBroker()
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(task_queue, "shared_broker", lambda: recording)
    return recording


def _failure(kwargs: dict) -> Failure:
    return Failure.objects.create(
        id="b" * 32,
        name="notify-1",
        func="payments.tasks.some_refund",
        hook="payments.tasks.some_hook",
        group="refunds",
        args=("r-1",),
        kwargs=kwargs,
        started=timezone.now(),
        stopped=timezone.now(),
        success=False,
        result="boom",
    )


def _resubmit(task: Failure):
    user = User.objects.create_user("ops", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_failure", "change_failure"])
    )
    client = Client()
    client.force_login(user)
    return client.post(
        "/admin/django_q/failure/",
        {"action": "resubmit_failed", "index": "0", "_selected_action": [task.pk]},
        follow=True,
    )


def test_a_task_whose_kwargs_are_named_as_ours_is_queued_with_them(broker):
    own = {"broker": "ups", "group": "g-own", "hook": "mine", "cluster": "c"}
    task = _failure(own)

    page = _resubmit(task)

    assert "could not be queued" not in page.content.decode()
    assert not Failure.objects.filter(pk=task.pk).exists()
    [queued] = broker.packages
    assert queued["func"] == "payments.tasks.some_refund"
    assert queued["args"] == ("r-1",)
    assert queued["kwargs"] == own
    assert (queued["group"], queued["hook"]) == ("refunds", "payments.tasks.some_hook")


def test_a_task_whose_kwargs_are_named_as_other_options_keeps_them(broker):
    own = {"timeout": 5, "save": False, "chain": [], "sync": True, "cached": 7}
    task = _failure(own)

    _resubmit(task)

    [queued] = broker.packages
    assert queued["kwargs"] == own
    # Not taken as the queue's own options either.
    assert queued.get("timeout") != 5
    assert not queued.get("sync")
    assert queued.get("save", True) is not False
    assert not queued.get("cached")
