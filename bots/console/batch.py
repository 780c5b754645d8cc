"""Console events leave the worker in batches: one background thread per process appends
whatever the jobs emitted since its last round trip, in one call (``EventLog.append_many``).
Hundreds of streams then cost a few round trips per interval instead of one each per token.

Intermediate updates are fire-and-forget (the next one carries the text). Everything the
console must see (a post, whose ref later updates name; a finish; a delete; a close) waits
until its batch is written, so a job never reports success for text still in memory here.
A final text (``owed``) does not wait either: its fault is owed to the channel's next durable
event, the close that the runner always sends after it, which reports it. So a job's final
text and close usually share one batch (one round trip, one linger) instead of two.
A post is written at once by the job itself (``at_once``), after every earlier event of its
channel: it is the answer's first visible text, and waiting for the writer thread (its linger,
then its turn among hundreds of jobs contending for the GIL) cost hundreds of ms at the 99th
percentile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence

from core.errors import TransientDeliveryError
from core.ports import EventLog

log = logging.getLogger("tertulia.console")

# After the first event, wait this long for others to share the round trip. Updates are
# fire-and-forget and a post is written at once, so the linger delays only what must be
# durable (a final text with its close): one update interval, so a batch per interval at most.
LINGER = 0.05
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
        self._last: dict[str, int] = {}  # channel -> the batch holding its latest event
        self._owed: dict[str, int] = {}  # channel -> the first batch whose fault its next durable event reports

    def emit(
        self, channel: str, event: Mapping[str, str], *, durable: bool, at_once: bool = False, owed: bool = False,
        refs: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``refs`` (job id -> its refs) are stored with an ``at_once`` event, in its transaction."""
        if at_once:
            self._write_at_once(channel, event, refs)
            return
        with self._done:
            self._pending.append((channel, event))
            batch = self._queued + 1
            self._last[channel] = batch
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="console-events", daemon=True)
                self._thread.start()
            self._work.notify()
            if not durable:
                if owed:
                    self._owed.setdefault(channel, batch)
                return
            error = self._wait_for(batch)
            first = self._owed.pop(channel, None)
            if error is None and first is not None:  # a fault owed by an earlier event of the channel
                error = next((self._failed[n] for n in range(first, batch) if n in self._failed), None)
        if error is not None:
            raise error

    def _write_at_once(
        self, channel: str, event: Mapping[str, str], refs: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        """Once every earlier event of ``channel`` is written (almost always already: a job's
        start went out long before its first token), ``event`` is written alone, now, beside
        the writer thread's batches. The channel keeps its order; other channels' need not wait."""
        with self._done:
            earlier = self._last.get(channel, 0)
            if earlier > self._written:
                self._work.notify()
                self._wait_for(earlier)  # its error is its own events' (their waiters report it)
        self._events.append_many([(channel, event)], refs=refs)  # raised as it is: an outage reads as one

    def _wait_for(self, batch: int) -> BaseException | None:
        """Holding the lock: waits until ``batch`` is written; its error, if it failed."""
        if not self._done.wait_for(lambda: self._written >= batch, timeout=DURABLE_WAIT):
            raise TransientDeliveryError("the console event log did not take the text in time")
        return self._failed.get(batch)

    def _run(self) -> None:
        while True:
            with self._work:
                self._work.wait_for(lambda: bool(self._pending))
            time.sleep(self._linger)  # let the events of the same moment join
            with self._done:
                batch, self._pending = self._pending, []
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
                if len(self._last) > 10_000:  # channels whose every event is written need no entry
                    self._last = {c: n for c, n in self._last.items() if n > number}
                self._done.notify_all()
