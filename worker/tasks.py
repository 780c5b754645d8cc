"""The Celery task: a thin shell over core.runner.JobRunner."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from celery import Task
from celery.signals import worker_ready, worker_shutdown

from core.errors import TertuliaError
from core.runner import JobRunner
from core.settings import get_settings
from tertulia.bootstrap import build_runner, process_services
from tertulia.leases import LeaseKeeper, RedisLeases
from worker.celery_app import app
from worker.queue import RUN_JOB

log = logging.getLogger("tertulia.worker")

_runner: JobRunner | None = None
_leases: RedisLeases | None = None
_runner_lock = threading.Lock()
T = TypeVar("T")


def runner() -> JobRunner:
    """One runner per worker process, built on first use (after the fork, if any)."""
    global _runner
    with _runner_lock:
        if _runner is None:
            from tertulia.observability import worker_observer

            _runner = build_runner(process_services(), observer=worker_observer())
        return _runner


def leases() -> RedisLeases:
    """This process's leases, on a Redis client of their own: renewals never queue behind
    the jobs' connections. The keeper thread starts with the first use."""
    global _leases
    with _runner_lock:
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


def run_through_outages(job_id: str, *, attempt: int) -> None:
    """Runs the job; when Redis goes away under it, waits for Redis and runs it again (it
    edits the same messages), unless another worker took the job over meanwhile."""
    while True:
        try:
            runner().run(job_id, attempt=attempt)
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


def backoff(retries: int) -> float:
    """Exponential backoff with jitter (half the ceiling to all of it): jobs that failed
    together spread out, and none retries sooner than half its step."""
    settings = get_settings()
    ceiling = min(settings.retry_backoff_max, settings.retry_backoff_base * (2**retries))
    return random.uniform(ceiling / 2, ceiling)


@app.task(name=RUN_JOB, bind=True, acks_late=True, ignore_result=True, max_retries=None)
def run_job(self: Task[Any, Any], job_id: str) -> None:
    retries = int(self.request.retries or 0)
    gate = leases()
    verdict = through_outages(lambda: gate.claim(job_id))
    if verdict != "run":  # finished, running elsewhere, or waiting its turn: this message is spent
        log.info("job not run by this message: %s", verdict, extra={"job_id": job_id})
        return
    released = False
    try:
        run_through_outages(job_id, attempt=retries)
    except TertuliaError as err:  # JobRunner.run re-raises only the retryable ones
        if not err.retryable:
            raise
        if retries < get_settings().model_retries:
            log.warning("busy or unreachable; retrying", extra={"job_id": job_id, "error": type(err).__name__})
            countdown = backoff(retries)
            gate.retry_later(job_id, countdown)  # before the retry is sent, so that it can claim the job
            released = True
            raise self.retry(countdown=countdown, exc=err) from err
        log.error("busy or unreachable; giving up", extra={"job_id": job_id, "error": type(err).__name__})
        runner().give_up(job_id, attempts=retries + 1)
    finally:
        if not released:
            through_outages(lambda: gate.finished(job_id))
