"""The worker ``manage.py serve`` runs: django-q2's cluster (``qcluster``)
that acts on its first stop signal only.

serve stops its worker by SIGTERM; a serve killed after that (kill -9, the
OOM killer) sends it a second one, its parent-death signal. django-q2's
handler would run again inside its first run: its stop sets the sentinel's
stop event, whose notify waits for the sleeping sentinel to wake while
holding the event's lock, and a second run there waits for that lock for
ever (the worker never stops). Once stopping, a further SIGTERM or SIGINT
changes nothing: the first stop is already under way."""

from typing import Any

from django.conf import settings
from django_q.cluster import Cluster

from integrations.management.arguments import OneLineCommand


class StopOnceCluster(Cluster):
    """A cluster whose signal handler stops it once."""

    stopping = False

    def sig_handler(self, signum: int, frame: Any) -> None:
        # Nothing else here, not even a log line: this may run inside the
        # first stop, in the middle of whatever it was doing.
        if self.stopping:
            return
        self.stopping = True
        super().sig_handler(signum, frame)


class Command(OneLineCommand):
    help = "Start the worker serve runs: qcluster acting on its first stop signal."

    def handle(self, *args: Any, **options: Any) -> None:
        # As qcluster: the cluster signs its tasks with it, so none starts
        # without one.
        settings.SECRET_KEY  # noqa: B018
        StopOnceCluster().start()
