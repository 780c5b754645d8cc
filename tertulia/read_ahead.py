"""What a worker thread reads ahead of asking, and writes behind (issue 12's round trips).

A job's run asks Redis for many small things in a known order: the job record, its refs,
its answer, its stop flag, the scope's model choice, the persona; and it writes a few at its
end: the answer's facts just before the answer, its usage and freed slot just before the
lease's finish. Asked one by one, that is a round trip each.

- ``ReadAhead``: the claim (tertulia/leases.py) or the job's load reads them all in one Lua
  call; each store then takes its value from here, once, in the same thread, within a few
  seconds. The names of the scope-dependent keys (model choice, persona) are written beside
  the job record when it is saved (``job:<id>:reads``), so that one call can find them.
  A newer read-ahead in the thread replaces the older (a thread runs one job at a time), and
  a thread's own write of a key drops what was read of it.
- ``WritesBehind``: writes that must land no later than the next write of the same job, and
  may land with it: they join that write's ``MULTI`` (atomically, in one round trip). The
  facts join the answer; the usage and the freed slot join the lease's finish or retry.

Both are per thread (a greenlet under the gevent pool: threading.local is patched there).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import redis

if TYPE_CHECKING:  # redis_store builds on this module
    from tertulia.redis_store import RedisKeys

log = logging.getLogger("tertulia.redis")

READ_AHEAD_SECONDS = 5.0  # what was read ahead serves this long, once per key

# Appends a job's reads to ``out`` (a Lua table), p and job being set: record, refs, answer,
# stop flag, then name/value pairs for the keys listed in ``job:<id>:reads``. Key names as in
# RedisKeys (job, job_refs, job_answer, job_control "stop", job_reads).
JOB_READS_LUA = """
local base = p .. ':job:' .. job
table.insert(out, redis.call('GET', base))
table.insert(out, redis.call('GET', base .. ':refs'))
table.insert(out, redis.call('GET', base .. ':answer'))
table.insert(out, redis.call('GET', base .. ':stop'))
for _, name in ipairs(redis.call('LRANGE', base .. ':reads', 0, -1)) do
  table.insert(out, name)
  table.insert(out, redis.call('GET', name))
end
"""

# ARGV: prefix, job. Returns the job's reads (JOB_READS_LUA).
_LOAD = "local p, job = ARGV[1], ARGV[2]\nlocal out = {}\n" + JOB_READS_LUA + "return out\n"


class ReadAhead:
    def __init__(self, *, seconds: float = READ_AHEAD_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._local = threading.local()

    def keep(self, values: Mapping[str, bytes | None]) -> None:
        """This thread's read-ahead is now ``values`` (Redis key -> value, None: absent)."""
        self._local.values = dict(values)
        self._local.until = self._clock() + self._seconds

    def take(self, key: str) -> tuple[bool, bytes | None]:
        """(True, value) once if ``key`` was read ahead in this thread lately; else (False, None)."""
        values: dict[str, bytes | None] | None = getattr(self._local, "values", None)
        if values is None or key not in values or self._clock() > self._local.until:
            return False, None
        return True, values.pop(key)

    def drop(self, key: str) -> None:
        values: dict[str, bytes | None] | None = getattr(self._local, "values", None)
        if values is not None:
            values.pop(key, None)

    def keep_job(self, keys: RedisKeys, job_id: str, reply: Sequence[Any]) -> None:
        """Keeps what JOB_READS_LUA read for ``job_id``."""
        values: dict[str, bytes | None] = {
            keys.job(job_id): reply[0],
            keys.job_refs(job_id): reply[1],
            keys.job_answer(job_id): reply[2],
            keys.job_control(job_id, "stop"): reply[3],
        }
        for index in range(4, len(reply) - 1, 2):
            values[reply[index].decode()] = reply[index + 1]
        self.keep(values)


class JobReader:
    """The job's load as one Lua call (JOB_READS_LUA) that fills the ReadAhead."""

    def __init__(self, client: redis.Redis[bytes], keys: RedisKeys, ahead: ReadAhead) -> None:
        self._keys = keys
        self._ahead = ahead
        self._load = client.register_script(_LOAD)

    def read(self, job_id: str) -> None:
        self._ahead.keep_job(self._keys, job_id, self._load(args=[self._keys.prefix, job_id]))


Write = Callable[["redis.client.Pipeline[bytes]"], object]


class WritesBehind:
    def __init__(self) -> None:
        self._local = threading.local()

    def stage(self, write: Write) -> None:
        staged: list[Write] = getattr(self._local, "staged", None) or []
        staged.append(write)
        self._local.staged = staged

    def take(self) -> list[Write]:
        staged: list[Write] = getattr(self._local, "staged", None) or []
        self._local.staged = []
        return staged

    def put_back(self, writes: list[Write]) -> None:
        """A transaction that did not reach Redis: its staged writes go with the next one."""
        self._local.staged = writes + (getattr(self._local, "staged", None) or [])

    def run_with(self, client: redis.Redis[bytes], own: Write, *, alone: Callable[[], Any] | None = None) -> Any:
        """``own`` and every staged write in one MULTI/EXEC; ``own``'s reply (it goes last).
        With nothing staged, ``alone`` (the same write on its own) when given."""
        staged = self.take()
        if not staged and alone is not None:
            return alone()
        pipe = client.pipeline(transaction=True)
        for write in staged:
            write(pipe)
        own(pipe)
        try:
            replies = pipe.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError):
            self.put_back(staged)  # retried through the outage with the caller's own write
            raise
        for reply in replies[:-1]:
            if isinstance(reply, Exception):  # a staged write's fault is its own, not the caller's
                log.warning("a write behind failed: %s", reply)
        if isinstance(replies[-1], Exception):
            raise replies[-1]
        return replies[-1]
