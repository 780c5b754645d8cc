"""Rate budgets held in-process, reconciled with the shared (Redis) budget per lease.

A worker process asks the shared budget for a destination at most once per lease: a free
slot there books the destination for the whole lease (never less than one interval), and
the process hands out the lease's slots, one per interval, to its own jobs without a round
trip. Another process that shares the destination waits for the lease to run out, as it
would wait for a slot. A 429 (``penalize``) goes to the shared budget at once and ends the
local lease.

A destination may have a lease of its own (``lease_for``): the console's interval is ours, not
a platform's (it only thins the event log), so a console channel is leased for a whole short
answer (one ask per ~2.5 s instead of five). Another process streaming into the same channel
meanwhile skips its updates until then; its final text never waits for a slot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.ports import RateBudget

_PRUNE_AT = 10_000  # destinations remembered before the expired ones are dropped


@dataclass
class _Slot:
    next_free: float  # local clock: no slot before this
    lease_until: float  # local clock: slots up to here are ours to hand out


class LocalRateBudget:
    def __init__(
        self,
        shared: RateBudget,
        *,
        lease: float,
        clock: Callable[[], float] = time.monotonic,
        lease_for: Callable[[str], float | None] = lambda _key: None,
    ) -> None:
        self._shared = shared
        self._lease = lease
        self._lease_for = lease_for  # a destination's own lease (None: ``lease``)
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}

    def try_acquire(self, key: str, interval: float) -> float:
        now = self._clock()
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and now < slot.next_free:
                return slot.next_free - now
            if slot is not None and now < slot.lease_until:
                slot.next_free = now + interval
                return 0.0
        own = self._lease_for(key)
        span = max(interval, self._lease if own is None else own)
        wait = self._shared.try_acquire(key, span)
        # Timed from the answer, the lease never ends before the shared booking does: the
        # next ask finds the destination free rather than busy for a few more ms.
        now = self._clock()
        with self._lock:
            self._prune(now)
            slot = self._slots.get(key)
            if slot is not None and now < slot.lease_until:
                # Another of our threads took the lease meanwhile: share it.
                if now < slot.next_free:
                    return slot.next_free - now
                slot.next_free = now + interval
                return 0.0
            if wait > 0:
                self._slots[key] = _Slot(next_free=now + wait, lease_until=0.0)
                return wait
            self._slots[key] = _Slot(next_free=now + interval, lease_until=now + span)
            return 0.0

    def penalize(self, key: str, seconds: float) -> None:
        self._shared.penalize(key, seconds)
        with self._lock:
            self._slots[key] = _Slot(next_free=self._clock() + seconds, lease_until=0.0)

    def _prune(self, now: float) -> None:
        if len(self._slots) >= _PRUNE_AT:
            self._slots = {k: s for k, s in self._slots.items() if max(s.next_free, s.lease_until) > now}
