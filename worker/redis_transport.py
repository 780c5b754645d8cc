"""kombu's Redis transport, with one defect patched around (docs/decisions.md, "Redis
restarts under a worker").

When the broker connection drops, Celery's consumer collects the connection (which sets
the transport's ``client`` to None) and then closes it; closing the default channel
restores its unacked messages through a fresh Redis pool, and building that pool reads
``transport.client.hostname``: ``AttributeError``, which Celery takes for unrecoverable
and the worker stops. Upstream: celery/kombu#582 (the same AttributeError from a channel
used after its transport lost its client); made routine by celery/celery#10242, which
closes the collected connection on every broker loss. A channel here keeps the
connection details it was made with and uses them when the transport no longer has them,
so the restore, and the late acks of jobs that were running, reach the new Redis.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from celery import Celery
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def __init__(self, connection: Any, **kwargs: Any) -> None:
        self._broker = connection.client  # the kombu Connection: host, port, password, options
        super().__init__(connection, **kwargs)

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            self.connection.client = self._broker
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel


def use_in_worker(app: Celery) -> None:
    """A worker on a Redis broker consumes through this transport. Producers keep kombu's
    own: only consuming hits the defect, and tools that read the broker URL's scheme from
    the connection (Flower) keep seeing redis://."""
    if urlsplit(str(app.conf.broker_url)).scheme in ("redis", "rediss"):
        app.conf.broker_transport = f"{__name__}:Transport"
