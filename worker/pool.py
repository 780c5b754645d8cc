"""Celery's threads and gevent pools, made able to take part in a cold (and so a soft) shutdown.

Celery 5.5+'s cold shutdown cancels running jobs with ``pool.terminate_job``, which the
threads pool does not implement: the NotImplementedError made the worker log an
"Unrecoverable error" and then wait for every running job anyway. A thread cannot be killed,
so here cancelling does nothing to the thread: the job's message goes back to the queue when
the worker's broker channel closes (kombu restores unacked messages, or RabbitMQ requeues
them), and ``tertulia worker`` hands back its lease and exits without waiting for the
thread (tertulia/cli.py). The gevent pool does the same with its greenlets: killing one would
run the job's ``finally`` (which ends its lease) as if the job had finished."""

from __future__ import annotations

from typing import Any

from celery.concurrency import gevent, thread
from celery.worker import state


class TaskPool(thread.TaskPool):
    def terminate_job(self, pid: Any, signal: Any = None) -> None:
        return None

    def on_stop(self) -> None:
        # A warm shutdown waits for running jobs, as Celery's pool does; a cold one leaves
        # them to the process exit (see above). Queued jobs are cancelled either way.
        cold = state.should_terminate not in (None, False)
        self.executor.shutdown(wait=not cold, cancel_futures=True)  # type: ignore[attr-defined]


class GreenPool(gevent.TaskPool):
    """Greenlets on the process's gevent hub (worker/green.py); shuts down as TaskPool does."""

    def terminate_job(self, pid: Any, signal: Any = None) -> None:
        return None

    def on_stop(self) -> None:
        cold = state.should_terminate not in (None, False)
        pool = getattr(self, "_pool", None)  # gevent's Pool, once started
        if pool is not None and not cold:
            pool.join()
