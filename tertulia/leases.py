"""Job leases, conversation lines and waiting caps in Redis (docs/decisions.md, "Job leases").

Keys, under the configured prefix:
- ``lease:exp`` (sorted set): job id -> when its lease lapses, in Redis server milliseconds;
- ``lease:owner`` (hash): job id -> the claim token of the worker running it;
- ``job:<id>:done``: the job finished; any later message for it does nothing;
- ``job:<id>:gate`` (hash): the job's conversation line (/chat only) and its user;
- ``line:<scope>`` (list): a conversation's /chat jobs in arrival order; only the head runs;
- ``waiting:<user>`` (sorted set): a user's unfinished jobs, for the per-user cap.

Every change is one Lua script using the server's clock, so workers on different hosts agree
and no two reapers re-enqueue the same lapsed job. The scripts build the per-job keys from
the prefix: a single Redis (or a replica set), not a cluster.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import redis

from core.errors import InputError
from core.jobs import Job
from core.ports import Verdict
from core.table import uses_memory
from tertulia.read_ahead import JOB_READS_LUA, ReadAhead, WritesBehind

if TYPE_CHECKING:  # redis_store builds on this module
    from tertulia.redis_store import RedisKeys

log = logging.getLogger("tertulia.leases")

# A user's entries older than this no longer count against the cap (a job that never ended).
WAITING_HORIZON_MS = 3600 * 1000

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# ARGV: prefix, job, scope ('' for none), user, per-scope cap, per-user cap, ttl seconds, horizon ms
# [, the key that names the asker's newest job: set only once the job is admitted]
_ADMIT = _NOW + """
local p, job, scope, user = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local waiting = p .. ':waiting:' .. user
redis.call('ZREMRANGEBYSCORE', waiting, '-inf', now - tonumber(ARGV[8]))
local mine = redis.call('ZCARD', waiting)
if mine >= tonumber(ARGV[6]) then return {'user', mine} end
local line = p .. ':line:' .. scope
if scope ~= '' then
  local queued = redis.call('LLEN', line)
  if queued >= tonumber(ARGV[5]) then return {'conversation', queued} end
  redis.call('RPUSH', line, job)
  redis.call('EXPIRE', line, ARGV[7])
end
redis.call('ZADD', waiting, now, job)
redis.call('EXPIRE', waiting, ARGV[7])
local gate = p .. ':job:' .. job .. ':gate'
redis.call('HSET', gate, 'scope', scope, 'user', user)
redis.call('EXPIRE', gate, ARGV[7])
if ARGV[9] and ARGV[9] ~= '' then redis.call('SET', ARGV[9], job, 'EX', ARGV[7]) end
return {'ok', 0}
"""

# ARGV: prefix, job, token, lease ms, patience ms
_CLAIM = _NOW + """
local p, job, token = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', p .. ':job:' .. job .. ':done') == 1 then return 'done' end
local exp = tonumber(redis.call('ZSCORE', p .. ':lease:exp', job) or '0')
local owner = redis.call('HGET', p .. ':lease:owner', job)
if owner and owner ~= token and exp > now then return 'busy' end
local scope = redis.call('HGET', p .. ':job:' .. job .. ':gate', 'scope')
if scope and scope ~= '' then
  local line = p .. ':line:' .. scope
  local head = redis.call('LINDEX', line, 0)
  if head and head ~= job and redis.call('LPOS', line, job) then
    -- The head must get going even if its own message was lost: the reaper watches it.
    if not redis.call('ZSCORE', p .. ':lease:exp', head) then
      redis.call('ZADD', p .. ':lease:exp', now + tonumber(ARGV[5]), head)
    end
    return 'wait'
  end
end
redis.call('ZADD', p .. ':lease:exp', now + tonumber(ARGV[4]), job)
redis.call('HSET', p .. ':lease:owner', job, token)
return 'run'
"""

# ARGV: prefix, lease ms, then job/token pairs. Returns the jobs whose lease is no longer ours.
_RENEW = _NOW + """
local p = ARGV[1]
local lost = {}
for i = 3, #ARGV, 2 do
  local job, token = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', p .. ':lease:owner', job) == token then
    redis.call('ZADD', p .. ':lease:exp', now + tonumber(ARGV[2]), job)
  else
    table.insert(lost, job)
  end
end
return lost
"""

# The claim that, when it says 'run', also returns the job's reads (tertulia/read_ahead.py):
# the worker's first look at the job costs no round trip of its own.
_CLAIM_READ = _CLAIM.replace("return 'run'\n", "local out = {'run'}\n" + JOB_READS_LUA + "return out\n")
assert _CLAIM_READ != _CLAIM

# ARGV: prefix, job, token, lease ms, retry delay ms
_RETRY = _NOW + """
local p, job, token = ARGV[1], ARGV[2], ARGV[3]
local owner = redis.call('HGET', p .. ':lease:owner', job)
if owner and owner ~= token then return 0 end
redis.call('HDEL', p .. ':lease:owner', job)
-- Unclaimed past the retry's due time plus a lease: the reaper sends it again.
redis.call('ZADD', p .. ':lease:exp', now + tonumber(ARGV[5]) + tonumber(ARGV[4]), job)
return 1
"""

# ARGV: prefix, job, token, done ttl seconds, patience ms. Returns the conversation's next job, if any.
_FINISH = _NOW + """
local p, job, token = ARGV[1], ARGV[2], ARGV[3]
redis.call('SET', p .. ':job:' .. job .. ':done', '1', 'EX', ARGV[4])
local owner = redis.call('HGET', p .. ':lease:owner', job)
if (not owner) or owner == token then
  redis.call('ZREM', p .. ':lease:exp', job)
  redis.call('HDEL', p .. ':lease:owner', job)
end
local gate = p .. ':job:' .. job .. ':gate'
local scope = redis.call('HGET', gate, 'scope')
local user = redis.call('HGET', gate, 'user')
redis.call('DEL', gate)
if user then redis.call('ZREM', p .. ':waiting:' .. user, job) end
local nxt = false
if scope and scope ~= '' then
  local line = p .. ':line:' .. scope
  redis.call('LREM', line, 0, job)
  nxt = redis.call('LINDEX', line, 0)
  if nxt and not redis.call('HGET', p .. ':lease:owner', nxt) then
    redis.call('ZADD', p .. ':lease:exp', now + tonumber(ARGV[5]), nxt)
  end
end
return nxt
"""

# ARGV: prefix, patience ms, limit. Returns the lapsed jobs this caller must enqueue again.
_REAP = _NOW + """
local p = ARGV[1]
local due = redis.call('ZRANGEBYSCORE', p .. ':lease:exp', '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, job in ipairs(due) do
  redis.call('HDEL', p .. ':lease:owner', job)
  if redis.call('EXISTS', p .. ':job:' .. job .. ':done') == 1 then
    redis.call('ZREM', p .. ':lease:exp', job)
  else
    redis.call('ZADD', p .. ':lease:exp', now + tonumber(ARGV[2]), job)
    table.insert(out, job)
  end
end
return out
"""


def user_key(job: Job) -> str:
    m = job.message
    return f"{m.platform}:{m.workspace}:{m.user}"


class RedisLeases:
    """The Redis side of ``core.ports.JobLeases`` plus admission and reaping.

    One per process. Claimed jobs are renewed together by ``LeaseKeeper``; nothing here
    depends on how the process runs its jobs (threads now, an event loop later)."""

    def __init__(
        self,
        client: redis.Redis[bytes],
        prefix: str,
        *,
        lease_seconds: float,
        job_ttl_seconds: int,
        max_per_conversation: int,
        max_per_user: int,
        enqueue: Callable[[str], None] | None = None,
        keys: RedisKeys | None = None,
        ahead: ReadAhead | None = None,
        writes: WritesBehind | None = None,
    ) -> None:
        self._r = client
        self._prefix = prefix
        self.lease_ms = max(int(lease_seconds * 1000), 1000)
        self.patience_ms = self.lease_ms * 3
        self._job_ttl = job_ttl_seconds
        self._caps = (max_per_conversation, max_per_user)
        self._enqueue = enqueue
        self._scripts = {
            name: client.register_script(source)
            for name, source in (
                ("admit", _ADMIT), ("claim", _CLAIM), ("renew", _RENEW),
                ("retry", _RETRY), ("finish", _FINISH), ("reap", _REAP), ("claim_read", _CLAIM_READ),
            )
        }  # fmt: skip
        # A worker's (tertulia/read_ahead.py): the claim reads the job ahead, and the finish or
        # retry carries the writes staged behind it (the job's usage, its freed slot).
        self._keys = keys
        self._ahead = ahead
        self._writes = writes
        self._held: dict[str, str] = {}  # job id -> claim token
        self._lost: set[str] = set()
        self._lock = threading.Lock()
        self._node = f"{socket.gethostname()}:{os.getpid()}"

    def _run(self, name: str, *args: object) -> Any:
        return self._scripts[name](args=[self._prefix, *args])

    # --- the router's side --------------------------------------------------------------

    def admit(self, job: Job) -> None:
        self.check_admitted(self._run("admit", *self._admit_args(job)))

    def admit_in(self, pipe: redis.client.Pipeline[bytes], job: Job, *, newest_key: str = "") -> None:
        """Queues the admission in ``pipe`` (a MULTI: EVAL with the source, which no emptied
        script cache can fail); ``check_admitted`` its reply. With ``newest_key``, an admitted
        job's id is stored there (the asker's newest job, for /stop), for the job's TTL."""
        pipe.eval(_ADMIT, 0, self._prefix, *self._admit_args(job), newest_key)

    def _admit_args(self, job: Job) -> list[object]:
        scope = job.scope if uses_memory(job.kind) else ""
        per_scope, per_user = self._caps
        return [job.id, scope, user_key(job), per_scope, per_user, self._job_ttl, WAITING_HORIZON_MS]

    def check_admitted(self, reply: Any) -> None:
        verdict, count = reply
        per_scope, per_user = self._caps
        if verdict == b"conversation":
            raise InputError("too_many_waiting_conversation", count=int(count), limit=per_scope)
        if verdict == b"user":
            raise InputError("too_many_waiting_user", count=int(count), limit=per_user)

    # --- a worker's side (core.ports.JobLeases) ------------------------------------------

    def claim(self, job_id: str) -> Verdict:
        token = f"{self._node}:{uuid.uuid4().hex[:8]}"
        if self._ahead is not None and self._keys is not None:
            reply = self._run("claim_read", job_id, token, self.lease_ms, self.patience_ms)
            if isinstance(reply, list):
                self._ahead.keep_job(self._keys, job_id, reply[1:])
                reply = reply[0]
            verdict = reply.decode()
        else:
            verdict = self._run("claim", job_id, token, self.lease_ms, self.patience_ms).decode()
        if verdict == "run":
            with self._lock:
                self._held[job_id] = token
                self._lost.discard(job_id)
        return cast(Verdict, verdict)

    def finished(self, job_id: str) -> None:
        token = self._let_go(job_id)
        nxt = self._with_writes("finish", job_id, token, self._job_ttl, self.patience_ms)
        if nxt:
            self._send(nxt.decode())

    def retry_later(self, job_id: str, seconds: float) -> None:
        token = self._let_go(job_id)
        self._with_writes("retry", job_id, token, self.lease_ms, int(seconds * 1000))

    def _with_writes(self, name: str, *args: object) -> Any:
        """The script, with this thread's staged writes in the same MULTI when there are any
        (EVAL with the source there: a script cache emptied by a Redis restart cannot fail it)."""
        if self._writes is None:
            return self._run(name, *args)
        source = {"finish": _FINISH, "retry": _RETRY}[name]
        return self._writes.run_with(
            self._r, lambda pipe: pipe.eval(source, 0, self._prefix, *args), alone=lambda: self._run(name, *args)
        )

    def owns(self, job_id: str) -> bool:
        """False once a renewal found another worker running the job (after an outage)."""
        with self._lock:
            return job_id in self._held and job_id not in self._lost

    def _let_go(self, job_id: str) -> str:
        # Forget first: if Redis fails below, the lease lapses and the reaper re-runs the job.
        with self._lock:
            self._lost.discard(job_id)
            return self._held.pop(job_id, "")

    # --- the keeper's side ---------------------------------------------------------------

    def renew(self) -> None:
        with self._lock:
            pairs = [item for job, token in self._held.items() for item in (job, token)]
        if not pairs:
            self._r.ping()  # the keeper's health check even when this worker holds nothing
            return
        lost = {raw.decode() for raw in self._run("renew", self.lease_ms, *pairs)}
        if lost:
            log.warning("lease taken over by another worker", extra={"job_ids": sorted(lost)})
            with self._lock:
                self._lost |= lost & set(self._held)

    def reap(self, limit: int = 100) -> list[str]:
        """Re-enqueues jobs whose lease lapsed; each is returned by one caller only."""
        jobs = [raw.decode() for raw in self._run("reap", self.patience_ms, limit)]
        for job_id in jobs:
            log.warning("lease lapsed; job queued again", extra={"job_id": job_id})
            self._send(job_id)
        return jobs

    def abandon_all(self) -> None:
        """Shutting down: let every held job be claimed at once by the next worker."""
        with self._lock:
            held = list(self._held)
        for job_id in held:
            self.retry_later(job_id, 0)

    def _send(self, job_id: str) -> None:
        if self._enqueue is None:
            return
        try:
            self._enqueue(job_id)
        except Exception:  # the entry stays in lease:exp: a later reap sends it again
            log.warning("could not enqueue job again", extra={"job_id": job_id}, exc_info=True)


class LeaseKeeper:
    """A daemon thread that renews this process's leases and reaps lapsed ones.

    After Redis was unreachable, reaping waits one lease period: every live worker renews
    within that time, so only the leases of dead workers are taken for lapsed."""

    def __init__(self, leases: RedisLeases, *, interval: float | None = None) -> None:
        self._leases = leases
        self._interval = interval or max(leases.lease_ms / 5000, 0.2)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reap_after = 0.0
        self.healthy = True

    def start(self) -> LeaseKeeper:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="tertulia-lease-keeper", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def tick(self) -> None:
        try:
            self._leases.renew()
            if not self.healthy:  # back after an outage: give the others a lease period to renew
                self._reap_after = time.monotonic() + self._leases.lease_ms / 1000
                self.healthy = True
                log.info("Redis reachable again; leases renewed")
            if time.monotonic() >= self._reap_after:
                self._leases.reap()
        except redis.RedisError as err:
            if self.healthy:
                log.warning("Redis unreachable; leases wait for it: %s", type(err).__name__)
            self.healthy = False

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.tick()
            except Exception:  # never let the keeper die: its leases would lapse under live jobs
                log.exception("lease keeper tick failed")
