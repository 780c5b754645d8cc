"""The Celery task: a thin shell over core.runner.JobRunner."""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from celery import Task

from core.errors import TertuliaError
from core.ports import JobLeases
from core.runner import JobRunner
from core.settings import get_settings
from tertulia.bootstrap import build_runner, process_services
from worker.celery_app import app
from worker.leased import leases, run_through_outages, through_outages
from worker.queue import RUN_JOB

log = logging.getLogger("tertulia.worker")

_runner: JobRunner | None = None
_runner_lock = threading.Lock()


def runner() -> JobRunner:
    """One runner per worker process, built on first use (after the fork, if any)."""
    global _runner
    with _runner_lock:
        if _runner is None:
            from tertulia.observability import worker_observer

            _runner = build_runner(process_services(), observer=worker_observer())
        return _runner


def backoff(retries: int) -> float:
    """Exponential backoff with jitter (half the ceiling to all of it): jobs that failed
    together spread out, and none retries sooner than half its step."""
    settings = get_settings()
    ceiling = min(settings.retry_backoff_max, settings.retry_backoff_base * (2**retries))
    return random.uniform(ceiling / 2, ceiling)


@app.task(name=RUN_JOB, bind=True, acks_late=True, ignore_result=True, max_retries=None)
def run_job(self: Task[Any, Any], job_id: str) -> None:
    retries = int(self.request.retries or 0)
    gate: JobLeases = leases()
    verdict = through_outages(lambda: gate.claim(job_id))
    if verdict != "run":  # finished, running elsewhere, or waiting its turn: this message is spent
        log.info("job not run by this message: %s", verdict, extra={"job_id": job_id})
        return
    released = False
    try:
        run_through_outages(job_id, lambda: runner().run(job_id, attempt=retries))
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
