"""kombu's Redis transport, with two defects patched around.

Greenlet acks (docs/decisions.md, "gevent is the worker's default pool: acks wait for a
broker connection"). A channel's commands other than BRPOP (acks, rejects, restores, the
consumer's own bookkeeping of each delivered message) take a connection from a redis-py
``ConnectionPool`` of ``max_connections`` (kombu's default 10), which raises
``MaxConnectionsError`` at once when all are in use. On the threads pool Celery sends late
acks through the consumer's hub, one at a time, so the pool is never short. On the gevent
pool there is no hub: ``Consumer.call_soon_ack`` acks in each job's greenlet, so when more
than ten jobs end together the eleventh ack fails ("Couldn't ack"), and when the consumer's
own next command is the one refused, Celery takes the error for a lost broker, reconnects
and closes the pool under the acks still reading their replies ("I/O operation on closed
file"). Upstream: celery/celery#1350 (the same "Too many connections" from concurrent acks).
Here that pool blocks instead: an ack waits its turn for one of the same connections.

A client per command (issue 12, round 6). kombu builds a new redis-py client around that pool
for every ack and every delivered message's bookkeeping (``conn_or_acquire``), and redis-py's
client constructor (its response callbacks, its event dispatcher) cost more than the commands
it then sends. A client is only a view of its pool and safe to share, so the channel keeps one
per pool (a new pool, after a reconnect, gets a new one).

Redis restarts (docs/decisions.md, "Redis restarts under a worker"). When the broker
connection drops, Celery's consumer collects the connection (which sets the transport's
``client`` to None) and then closes it; closing the default channel restores its unacked
messages through a fresh Redis pool, and building that pool reads
``transport.client.hostname``: ``AttributeError``, which Celery takes for unrecoverable and
the worker stops. Upstream: celery/kombu#582 (the same AttributeError from a channel used
after its transport lost its client); made routine by celery/celery#10242, which closes the
collected connection on every broker loss. A channel here keeps the connection details it
was made with and uses them when the transport no longer has them, so the restore, and the
late acks of jobs that were running, reach the new Redis.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
from celery import Celery
from kombu.transport import redis as kombu_redis

# How long an ack (or the consumer) waits for one of the channel's connections before the
# wait counts as a broker error, as the worker's own Redis pool waits (tertulia/bootstrap.py).
CONNECTION_WAIT_SECONDS = 30


class Channel(kombu_redis.Channel):
    def __init__(self, connection: Any, **kwargs: Any) -> None:
        self._broker = connection.client  # the kombu Connection: host, port, password, options
        super().__init__(connection, **kwargs)

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[misc]
        pool = self.pool
        shared = getattr(self, "_shared_client", None)
        if shared is None or shared.connection_pool is not pool:
            shared = self._shared_client = super()._create_client()  # type: ignore[misc]
        return shared

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            self.connection.client = self._broker
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]

    def _get_pool(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # BRPOP's own connection, used by the consumer alone
            return super()._get_pool(asynchronous=True)  # type: ignore[misc]
        params = self._connparams()
        self.keyprefix_fanout = self.keyprefix_fanout.format(db=params["db"])
        return redis.BlockingConnectionPool(timeout=CONNECTION_WAIT_SECONDS, **params)


class Transport(kombu_redis.Transport):
    Channel = Channel


def use_in_worker(app: Celery) -> None:
    """A worker on a Redis broker consumes through this transport. Producers keep kombu's
    own: only consuming hits the defect, and tools that read the broker URL's scheme from
    the connection (Flower) keep seeing redis://."""
    if urlsplit(str(app.conf.broker_url)).scheme in ("redis", "rediss"):
        app.conf.broker_transport = f"{__name__}:Transport"
