"""The policy file on disk: read and validated at start (a bad file stops the process with
its line and reason), re-read when it changes, keeping the last good policy when the new
text is bad (the error is logged)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from pathlib import Path

from core.policy import Policy, PolicyError, parse_policy

log = logging.getLogger("tertulia.policy")

# How often a request may look at the file's modification time; cheap, but not per message.
CHECK_INTERVAL_SECONDS = 1.0


class PolicyFileError(RuntimeError):
    def __init__(self, path: Path, err: PolicyError | OSError) -> None:
        where = f"{path}:{err.line}" if isinstance(err, PolicyError) else str(path)
        reason = err.reason if isinstance(err, PolicyError) else (err.strerror or str(err))
        super().__init__(f"policy file {where}: {reason}")


class PolicyFile:
    def __init__(
        self, path: Path, *, known_models: Collection[str] | None = None, interval: float = CHECK_INTERVAL_SECONDS
    ) -> None:
        self._path = path
        self._known = known_models
        self._interval = interval
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._policy = self._read()  # raises PolicyFileError: a bad file is refused at start
        self._checked = time.monotonic()

    def __call__(self) -> Policy:
        """The policy in force, re-read if the file changed since it was last looked at."""
        now = time.monotonic()
        if now - self._checked < self._interval:
            return self._policy
        with self._lock:
            self._checked = now
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._policy = self._read()
                    log.info("policy reloaded", extra={"path": str(self._path)})
                except PolicyFileError as err:
                    log.error("policy not reloaded, the last good one stays in force: %s", err)
            return self._policy

    def _stat(self) -> tuple[int, int] | None:
        try:
            found = self._path.stat()
        except OSError:
            return None
        return (found.st_mtime_ns, found.st_size)

    def _read(self) -> Policy:
        try:
            return parse_policy(self._path.read_text(), known_models=self._known)
        except (PolicyError, OSError) as err:
            raise PolicyFileError(self._path, err) from None
