"""Console events leave the worker in batches: one background thread per process appends
whatever the jobs emitted since its last round trip, in one call (``EventLog.append_many``).
Hundreds of streams then cost a few round trips per interval instead of one each per token.

Intermediate updates are fire-and-forget (the next one carries the text). Everything the
console must see (a post, whose ref later updates name; a finish; a delete; a close) waits
until its batch is written, so a job never reports success for text still in memory here.
A post is written at once by the job itself (``at_once``), with whatever is pending before it
(so every channel keeps its order): it is the answer's first visible text, and waiting for the
writer thread (its linger, then its turn among hundreds of jobs) cost hundreds of ms at the 99th
percentile. Batches are taken and written under one lock, so they land in the order taken; posts
that queue while a batch is in flight share the next round trip.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from core.errors import TransientDeliveryError
from core.ports import EventLog

log = logging.getLogger("tertulia.console")

LINGER = 0.005  # after the first event, wait this long for others to share the round trip
DURABLE_WAIT = 30.0  # a write that takes longer than this is reported as a delivery fault


class EventBatcher:
    def __init__(self, events: EventLog, *, linger: float = LINGER) -> None:
        self._events = events
        self._linger = linger
        lock = threading.Lock()
        # Two conditions on one lock: an emit wakes only the writer thread, and a written
        # batch wakes only those waiting for one (not every waiter at every emit).
        self._work = threading.Condition(lock)
        self._done = threading.Condition(lock)
        self._pending: list[tuple[str, Mapping[str, str]]] = []
        self._queued = 0  # batches handed out: the one being filled has number _queued + 1
        self._written = 0  # the last batch number written (or failed)
        # batch number -> its error, for those that wait on it: raised as it was, so that a
        # store outage reads as one to the worker (which waits for the store and runs again).
        self._failed: dict[int, BaseException] = {}
        self._thread: threading.Thread | None = None
        self._writing = threading.Lock()  # one batch in flight at a time, in the order taken

    def emit(self, channel: str, event: Mapping[str, str], *, durable: bool, at_once: bool = False) -> None:
        with self._done:
            self._pending.append((channel, event))
            batch = self._queued + 1
            if not at_once:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="console-events", daemon=True)
                    self._thread.start()
                self._work.notify()
                if not durable:
                    return
        if at_once:
            # Written by this job now, with everything pending: or, when another batch is in
            # flight, by whoever writes next, together with every post that queued meanwhile.
            self._write()
        with self._done:
            if not self._done.wait_for(lambda: self._written >= batch, timeout=DURABLE_WAIT):
                raise TransientDeliveryError("the console event log did not take the text in time")
            error = self._failed.get(batch)
        if error is not None:
            raise error

    def _run(self) -> None:
        while True:
            with self._work:
                self._work.wait_for(lambda: bool(self._pending))
            time.sleep(self._linger)  # let the events of the same moment join
            self._write()

    def _write(self) -> None:
        """Takes what is pending and writes it as one batch (nothing, if another took it)."""
        with self._writing:
            with self._done:
                batch, self._pending = self._pending, []
                if not batch:
                    return
                self._queued += 1
                number = self._queued
            error: BaseException | None = None
            try:
                self._events.append_many(batch)
            except Exception as exc:  # the waiting writers report it; intermediate updates are dropped
                log.warning("console events not written", exc_info=True)
                error = exc
            with self._done:
                if error is not None:
                    self._failed[number] = error
                    self._failed.pop(number - 1000, None)
                self._written = number
                self._done.notify_all()
