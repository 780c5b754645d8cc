"""The worker's pool: greenlets on one gevent hub (the default), or Celery's threads
(``TERTULIA_WORKER_POOL=threads``). See docs/decisions.md, "The worker's cost per stream: a light
SSE reader; a gevent hub" and "gevent is the worker's default pool: acks wait for a broker
connection".

Hundreds of model streams per process are hundreds of waits on sockets. On threads they
cost the GIL hand-offs between hundreds of runnable threads (py-spy: most of the time was
spent waiting for the GIL, and one process never held more than ~100–220 streams at once);
on one gevent hub the same blocking code (httpx, redis-py, slack_sdk) switches only where
it waits, in user space (docs/decisions.md, "The worker's cost per stream").

gevent must patch the standard library before anything else imports it, so ``tertulia
worker`` calls ``patch_if_worker`` first of all (tertulia/cli.py). A process that was not
patched (``celery -A tertulia.worker_app worker``) keeps the threads pool, whatever
``TERTULIA_WORKER_POOL`` says: greenlets in an unpatched process would block one another.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

# Read before Settings exists (it must not be imported before the patch): the same variable
# as Settings.worker_pool.
POOL_VARIABLE = "TERTULIA_WORKER_POOL"
THREADS_POOL = "worker.pool:TaskPool"
GREEN_POOL = "worker.pool:GreenPool"
DEFAULT_POOL = "gevent"  # as Settings.worker_pool's default


def wanted_pool(environ: Mapping[str, str]) -> str:
    """``gevent`` or ``threads``: what ``environ`` asks ``tertulia worker`` for."""
    return (environ.get(POOL_VARIABLE) or DEFAULT_POOL).strip().lower()


def patch_if_worker(argv: list[str]) -> bool:
    """Patches the process for gevent when ``argv`` (without the program) starts a worker
    and the greenlet pool is configured (the default). True when it did."""
    if argv[:1] != ["worker"] or "-h" in argv or "--help" in argv:
        return False
    if wanted_pool(os.environ) != "gevent":
        return False
    from gevent import monkey

    monkey.patch_all()
    _poll_at_once_when_not_waiting()
    return True


def _poll_at_once_when_not_waiting() -> None:
    """``select.poll`` whose zero-timeout checks are the system's own call. redis-py checks
    every connection it takes from a pool with ``poll(0)``, urllib3 every kept-alive connection
    it reuses, and gevent's poll builds watchers on its hub even for a check that never waits:
    about 17 µs a check against 1 µs (a dozen checks a job). A poll that may wait still goes
    through gevent's, so it never blocks the hub."""
    import select

    from gevent import monkey

    system_poll = monkey.get_original("select", "poll")
    green_poll = select.poll

    class Poll:
        def __init__(self) -> None:
            self._masks: dict[int, int] = {}

        def register(self, fd: Any, eventmask: int = select.POLLIN | select.POLLPRI | select.POLLOUT) -> None:
            self._masks[fd if isinstance(fd, int) else fd.fileno()] = eventmask

        def modify(self, fd: Any, eventmask: int) -> None:
            key = fd if isinstance(fd, int) else fd.fileno()
            if key not in self._masks:
                raise FileNotFoundError(2, "No such file or directory")
            self._masks[key] = eventmask

        def unregister(self, fd: Any) -> None:
            del self._masks[fd if isinstance(fd, int) else fd.fileno()]

        def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
            poller = system_poll() if timeout is not None and timeout == 0 else green_poll()
            for fd, mask in self._masks.items():
                poller.register(fd, mask)
            return list(poller.poll(timeout))

    select.poll = Poll  # type: ignore[misc,assignment]


def patched() -> bool:
    """True in a process whose sockets gevent patched."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("socket"))


def pool_name() -> str:
    """The Celery pool for this process (see the module's docstring)."""
    return GREEN_POOL if patched() else THREADS_POOL
