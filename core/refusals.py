"""What a platform refused this process, remembered for a while: a method the server does
not have (a Telegram draft on an old self-hosted Bot API server, Slack's streaming methods
where a workspace lacks them) is not tried again at every answer, and is tried again after
``recheck_seconds`` (the server may have been upgraded). One per process, shared by its
threads; losing it costs one refused call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Refusals:
    def __init__(self, *, recheck_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._recheck = recheck_seconds
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def allows(self, key: str) -> bool:
        with self._lock:
            until = self._until.get(key)
            if until is not None and self._clock() >= until:
                del self._until[key]
                until = None
        return until is None

    def refused(self, key: str) -> None:
        with self._lock:
            self._until[key] = self._clock() + self._recheck
