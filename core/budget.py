"""Rate budgets held in-process, reconciled with the shared (Redis) budget per lease.

A worker process asks the shared budget for a destination at most once per lease: a free
slot there books the destination for the whole lease (never less than one interval), and
the process hands out the lease's slots, one per interval, to its own jobs without a round
trip. Another process that shares the destination waits for the lease to run out, as it
would wait for a slot. A 429 (``penalize``) goes to the shared budget at once and ends the
local lease.

Destinations whose interval is ours rather than a platform's (``unshared``: the console's
event log, which only thins its updates) never ask the shared budget: the process spaces
their slots alone. Two processes streaming to one such destination may each send one update
per interval; nothing upstream counts them.
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
        unshared: Callable[[str], bool] = lambda _key: False,
    ) -> None:
        self._shared = shared
        self._lease = lease
        self._unshared = unshared
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
        span = max(interval, self._lease)
        wait = 0.0 if self._unshared(key) else self._shared.try_acquire(key, span)
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
        if not self._unshared(key):
            self._shared.penalize(key, seconds)
        with self._lock:
            self._slots[key] = _Slot(next_free=self._clock() + seconds, lease_until=0.0)

    def _prune(self, now: float) -> None:
        if len(self._slots) >= _PRUNE_AT:
            self._slots = {k: s for k, s in self._slots.items() if max(s.next_free, s.lease_until) > now}
