"""django-q2's Redis broker, its enqueue obeying the one Redis outage record
(``redis_line.outage``): in an outage's pause a task is not sent (RedisPaused
at once, not the broker's socket timeout per enqueue), a failure starts the
pause (one warning per outage), an answer ends it. Every enqueue of ours
already has a fallback for a broker that fails (a row the sweeper finds, a
schedule row, a failure kept): it is taken at once. Set as the cluster's
``broker_class`` when REDIS_URL is set (config/settings.py)."""

from typing import Any

from django_q.brokers.redis_broker import Redis
from redis.exceptions import RedisError

from integrations.redis_line import LEFT_BEHIND, outage


class RedisTaskBroker(Redis):
    def enqueue(self, task: Any) -> Any:
        outage.check()
        try:
            sent = super().enqueue(task)
        except RedisError as exc:
            if isinstance(exc, LEFT_BEHIND):
                # redis-py pools a connection that got an answer: drop it, so
                # the try after the pause reaches the new primary.
                self.connection.connection_pool.disconnect(inuse_connections=False)
            outage.failed(exc)
            raise
        outage.answered()
        return sent
