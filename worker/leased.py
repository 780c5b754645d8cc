"""The worker's side of job leases: running a job only when its lease says so, and waiting
out Redis outages around it. The leases themselves (Redis scripts, the keeper thread) are
built by the composition root (tertulia/worker_app.py, tertulia/leases.py) and handed in;
nothing here depends on the threads pool, so an event-loop worker can use it the same way."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

import redis

from core.ports import JobLeases

log = logging.getLogger("tertulia.worker")

T = TypeVar("T")
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


class HeldLeases(JobLeases, Protocol):
    """The leases of this worker process, as the task needs them."""

    def owns(self, job_id: str) -> bool: ...

    def renew(self) -> None: ...


class LeaseGate:
    def __init__(self, *, leases: HeldLeases, ping: Callable[[], object], pause: float = 0.5) -> None:
        self.leases = leases
        self._ping = ping
        self._pause = pause

    def wait_for_redis(self) -> None:
        while True:
            time.sleep(self._pause)
            try:
                self._ping()
                self.leases.renew()  # before anyone may take our leases for lapsed
                return
            except redis.RedisError:
                continue

    def through_outages(self, step: Callable[[], T]) -> T:
        """A lease step (claim, finish) that must not be lost to a Redis restart."""
        while True:
            try:
                return step()
            except REDIS_DOWN:
                log.warning("Redis unreachable; waiting for it")
                self.wait_for_redis()

    def run_through_outages(self, job_id: str, run: Callable[[], None]) -> None:
        """Runs the job; when Redis goes away under it, waits for Redis and runs it again (it
        edits the same messages), unless another worker took the job over meanwhile."""
        while True:
            try:
                run()
                return
            except REDIS_DOWN:
                log.warning("Redis unreachable mid-job; resuming when it answers", extra={"job_id": job_id})
            self.wait_for_redis()
            if not self.leases.owns(job_id):
                log.warning("job taken over by another worker during the outage", extra={"job_id": job_id})
                return
