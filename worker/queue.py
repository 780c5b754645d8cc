"""JobQueue over Celery: adapters enqueue job ids without importing the task module."""

from __future__ import annotations

from celery import Celery

RUN_JOB = "tertulia.run_job"


class CeleryJobQueue:
    def __init__(self, app: Celery, *, queue: str) -> None:
        self._app = app
        self._queue = queue

    def enqueue(self, job_id: str) -> None:
        self._app.send_task(RUN_JOB, args=[job_id], queue=self._queue)
