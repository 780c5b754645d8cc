"""The worker process's Celery app, wired here: ``celery -A tertulia.worker_app worker``
(``tertulia worker`` runs the same with this deployment's pool and queue, the patched Redis
transport and the soft shutdown).

Importing this module builds the app: only a worker process imports it.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

import redis
from celery.signals import setup_logging, worker_init, worker_ready, worker_shutdown

from core.runner import JobRunner
from core.settings import get_settings
from tertulia.bootstrap import build_runner, process_services
from tertulia.leases import LeaseKeeper, RedisLeases
from tertulia.logs import configure_logging
from tertulia.metrics import default_observer
from tertulia.observability import model_readiness, start_process_ops
from worker.celery_app import create_app
from worker.leased import LeaseGate
from worker.tasks import register_tasks

log = logging.getLogger("tertulia.worker")

settings = get_settings()
app = create_app(settings)
_lock = threading.Lock()
_leases: list[RedisLeases] = []  # this process's one RedisLeases, once built


@functools.cache
def runner() -> JobRunner:
    return build_runner(process_services(), observer=default_observer())


@functools.cache
def gate() -> LeaseGate:
    """This process's leases, on a Redis client of their own (renewals never queue behind
    the jobs' connections), and their keeper thread, started with the first use."""
    services = process_services()
    # Every running job claims and finishes through this client, hundreds at once on the gevent
    # pool: redis-py's default pool stops at 100 connections and raises MaxConnectionsError (a
    # ConnectionError, so a false "Redis unreachable"); this one lets a job wait for a connection.
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=settings.worker_concurrency + 8, timeout=30,
        socket_timeout=5, socket_connect_timeout=5,
    )  # fmt: skip
    leases = RedisLeases(
        redis.Redis(connection_pool=pool),
        settings.key_prefix,
        lease_seconds=settings.lease_seconds,
        job_ttl_seconds=settings.job_ttl_seconds,
        max_per_conversation=settings.max_waiting_per_conversation,
        max_per_user=settings.max_waiting_per_user,
        enqueue=services.queue().enqueue,
        # The claim reads the job ahead for the runner's stores; the finish carries what the
        # runner left behind (tertulia/read_ahead.py).
        keys=services.keys,
        ahead=services.ahead,
        writes=services.writes,
    )
    with _lock:
        _leases.append(leases)
    LeaseKeeper(leases).start()
    return LeaseGate(leases=leases, ping=services.redis.ping)


run_job = register_tasks(app, runner=runner, gate=gate, settings=settings)


@setup_logging.connect
def _configure_logging(loglevel: Any = None, **_: Any) -> None:
    # Connecting to this signal stops Celery from installing its own (unredacted) handlers.
    configure_logging(loglevel or "INFO")


@worker_init.connect
def _start_ops(**_: Any) -> None:
    services = process_services()
    start_process_ops(services.settings, model_healthy=model_readiness(services), celery_app=app)


@worker_ready.connect
def _start_leases(**_: Any) -> None:
    gate()  # reaping starts with the worker, not with its first job


@worker_shutdown.connect
def hand_back_leases(**_: Any) -> None:
    """The worker stopped (a cold shutdown requeued the messages of jobs still running):
    let the next worker claim them at once rather than after their leases lapse."""
    with _lock:
        held = list(_leases)
    for leases in held:
        try:
            leases.abandon_all()
        except redis.RedisError:
            log.warning("could not hand back leases; they lapse instead")
