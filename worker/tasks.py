"""The Celery task: a thin shell over core.runner.JobRunner, registered on the app that the
composition root builds (tertulia/worker_app.py)."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from celery import Celery, Task

from core.errors import TertuliaError
from core.runner import JobRunner
from core.settings import Settings
from worker.leased import LeaseGate
from worker.queue import RUN_JOB

log = logging.getLogger("tertulia.worker")


def backoff(retries: int, *, base: float, ceiling: float) -> float:
    """Exponential backoff with jitter (half the step to all of it): jobs that failed
    together spread out, and none retries sooner than half its step."""
    step = min(ceiling, base * (2**retries))
    return random.uniform(step / 2, step)


def register_tasks(
    app: Celery, *, runner: Callable[[], JobRunner], gate: Callable[[], LeaseGate], settings: Settings
) -> Task[Any, Any]:
    """Adds ``run_job`` to ``app``. ``runner`` gives the process's one JobRunner and ``gate``
    its leases, each built on first use (after the fork, if any)."""

    @app.task(name=RUN_JOB, bind=True, acks_late=True, ignore_result=True, max_retries=None)
    def run_job(self: Task[Any, Any], job_id: str) -> None:
        retries = int(self.request.retries or 0)
        lease = gate()
        verdict = lease.through_outages(lambda: lease.leases.claim(job_id))
        if verdict != "run":  # finished, running elsewhere, or waiting its turn: this message is spent
            log.info("job not run by this message: %s", verdict, extra={"job_id": job_id})
            return
        released = False
        try:
            lease.run_through_outages(job_id, lambda: runner().run(job_id, attempt=retries))
        except TertuliaError as err:  # JobRunner.run re-raises only the retryable ones
            if not err.retryable:
                raise
            if retries < settings.model_retries:
                wait = backoff(retries, base=settings.retry_backoff_base, ceiling=settings.retry_backoff_max)
                with runner().logged(job_id):
                    log.warning("busy or unreachable; retrying in %.1f s", wait,
                                extra={"error": type(err).__name__, "attempt": retries + 1})  # fmt: skip
                lease.leases.retry_later(job_id, wait)  # before the retry is sent, so that it can claim the job
                released = True
                raise self.retry(countdown=wait, exc=err) from err
            with runner().logged(job_id):
                log.error("busy or unreachable; giving up", extra={"error": type(err).__name__, "attempt": retries + 1})
            runner().give_up(job_id, attempts=retries + 1)
        finally:
            if not released:
                lease.through_outages(lambda: lease.leases.finished(job_id))

    return run_job
