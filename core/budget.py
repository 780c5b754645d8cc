"""Rate budgets held in-process, reconciled with the shared (Redis) budget per lease.

A worker process asks the shared budget for a destination at most once per lease: a free
slot there books the destination for the whole lease (never less than one interval), and
the process hands out the lease's slots, one per interval, to its own jobs without a round
trip. Another process that shares the destination waits for the lease to run out, as it
would wait for a slot. A 429 (``penalize``) goes to the shared budget at once and ends the
local lease.

Destinations whose interval is ours rather than a platform's (``ours``: the console, whose
interval only thins its event log) have a lease of their own (``our_lease``, longer), and a
quiet one (no slot of ours for a whole lease) gets its first lease without asking: a short
answer costs no round trip. A longer stream asks once per lease after that, so that two
processes streaming into one such destination still converge (and a stream still meets a
Redis outage). Meanwhile another process's updates to it are not held back; nothing
upstream counts them.
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
        ours: Callable[[str], bool] = lambda _key: False,
        our_lease: float = 2.5,
    ) -> None:
        self._shared = shared
        self._lease = lease
        self._ours = ours
        self._our_lease = our_lease
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}

    def try_acquire(self, key: str, interval: float) -> float:
        now = self._clock()
        ours = self._ours(key)
        span = max(interval, self._our_lease if ours else self._lease)
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and now < slot.next_free:
                return slot.next_free - now
            if slot is not None and now < slot.lease_until:
                slot.next_free = now + interval
                return 0.0
            quiet = slot is None or now >= max(slot.lease_until, slot.next_free) + span
        wait = 0.0 if ours and quiet else self._shared.try_acquire(key, span)
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
