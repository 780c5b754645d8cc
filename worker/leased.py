"""The worker's side of job leases (tertulia/leases.py): one RedisLeases and its keeper
thread per process, and waiting out Redis outages around a job. Only Celery's worker
signals start and stop it; nothing depends on the threads pool, so an event-loop worker
can use it the same way."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from celery.signals import worker_ready, worker_shutdown

from tertulia.bootstrap import process_services
from tertulia.leases import LeaseKeeper, RedisLeases

log = logging.getLogger("tertulia.worker")

T = TypeVar("T")
_leases: RedisLeases | None = None
_lock = threading.Lock()


def leases() -> RedisLeases:
    """This process's leases, on a Redis client of their own: renewals never queue behind
    the jobs' connections. The keeper thread starts with the first use."""
    global _leases
    with _lock:
        if _leases is None:
            services = process_services()
            settings = services.settings
            _leases = RedisLeases(
                redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5),
                settings.key_prefix,
                lease_seconds=settings.lease_seconds,
                job_ttl_seconds=settings.job_ttl_seconds,
                max_per_conversation=settings.max_waiting_per_conversation,
                max_per_user=settings.max_waiting_per_user,
                enqueue=services.queue().enqueue,
            )
            LeaseKeeper(_leases).start()
        return _leases


REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


def wait_for_redis() -> None:
    client = process_services().redis
    while True:
        time.sleep(0.5)
        try:
            client.ping()
            leases().renew()  # before anyone may take our leases for lapsed
            return
        except redis.RedisError:
            continue


def through_outages(step: Callable[[], T]) -> T:
    """A lease step (claim, finish) that must not be lost to a Redis restart."""
    while True:
        try:
            return step()
        except REDIS_DOWN:
            log.warning("Redis unreachable; waiting for it")
            wait_for_redis()


def run_through_outages(job_id: str, run: Callable[[], None]) -> None:
    """Runs the job; when Redis goes away under it, waits for Redis and runs it again (it
    edits the same messages), unless another worker took the job over meanwhile."""
    while True:
        try:
            run()
            return
        except REDIS_DOWN:
            log.warning("Redis unreachable mid-job; resuming when it answers", extra={"job_id": job_id})
        wait_for_redis()
        if not leases().owns(job_id):
            log.warning("job taken over by another worker during the outage", extra={"job_id": job_id})
            return


@worker_ready.connect
def _start_leases(**_: Any) -> None:
    leases()  # reaping starts with the worker, not with its first job


@worker_shutdown.connect
def hand_back_leases(**_: Any) -> None:
    """The worker stopped (a cold shutdown requeued the messages of jobs still running):
    let the next worker claim them at once rather than after their leases lapse."""
    if _leases is not None:
        try:
            _leases.abandon_all()
        except redis.RedisError:
            log.warning("could not hand back leases; they lapse instead")
