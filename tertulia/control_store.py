"""Redis behind the answer controls' port (core/control_ports.py): stop flags, the newest
job per user and conversation, what a finished answer was, and the votes.

Keys (under the deployment's prefix):
- ``job:<id>:stop``: the asker pressed Stop (the worker polls it while streaming);
- ``job:<id>:regenerated``: a Regenerate was taken (one per answer);
- ``job:<id>:facts``: the model, command and cut flag of the landed answer;
- ``job:<id>:votes``: user -> "up|<month>" (one vote per user per answer);
- ``latest:<scope>:<user>``: the newest job that user started there (``/stop``);
- ``feedback:<place>:<month>``: "<model>\\x1fup" / "<model>\\x1fdown" -> count.
Each expires with the job (``job_ttl_seconds``); the monthly totals after 90 days.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable

import redis

from core.control_ports import AnswerFacts, FeedbackTotals, Vote, VoteRecord
from tertulia.read_ahead import ReadAhead, WritesBehind
from tertulia.redis_store import RedisKeys

log = logging.getLogger("tertulia.controls")

FEEDBACK_TTL_SECONDS = 90 * 24 * 3600
# How often the worker looks at the stop flags of the jobs it streams: a pressed Stop closes
# the model's stream within about this long (issue 14 asks for under a second).
STOP_POLL_SECONDS = 0.25
_SEP = "\x1f"  # between a model's name and the vote in a totals field (names may hold ':')

# KEYS: the answer's votes, the month's totals. ARGV: user, vote, month, model, job ttl s,
# totals ttl s. Returns the vote replaced ("" for none). One call, so two clicks at once
# never count twice.
_VOTE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
local value = ARGV[2] .. '|' .. ARGV[3]
if old == value then return ARGV[2] end
if old then
  local vote, month = string.match(old, '^(%a+)|(.+)$')
  local totals = string.gsub(KEYS[2], '[^:]+$', month)
  redis.call('HINCRBY', totals, ARGV[4] .. '\\31' .. vote, -1)
end
redis.call('HSET', KEYS[1], ARGV[1], value)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
redis.call('HINCRBY', KEYS[2], ARGV[4] .. '\\31' .. ARGV[2], 1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
if old then return string.match(old, '^(%a+)|') end
return ''
"""


def _month(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y%m")


class RedisControlStore:
    def __init__(
        self,
        client: redis.Redis[bytes],
        keys: RedisKeys,
        *,
        ttl_seconds: int,
        ahead: ReadAhead | None = None,
        writes: WritesBehind | None = None,
    ) -> None:
        self._r = client
        self._k = keys
        self._ttl = ttl_seconds
        self._vote = client.register_script(_VOTE)
        # A worker's (tertulia/read_ahead.py): the stop flag is read with the job, and the
        # facts are written in the answer's own MULTI (the runner saves the answer next).
        self._ahead = ahead
        self._writes = writes

    def request_stop(self, job_id: str) -> None:
        self._r.set(self._k.job_control(job_id, "stop"), "1", ex=self._ttl)

    def stop_requested(self, job_id: str) -> bool:
        key = self._k.job_control(job_id, "stop")
        hit, raw = self._ahead.take(key) if self._ahead is not None else (False, None)
        return raw is not None if hit else bool(self._r.exists(key))

    def finished(self, job_id: str) -> bool:
        # The lease's own record (tertulia/leases.py), or a landed answer.
        return bool(self._r.exists(self._k.job_control(job_id, "done"), self._k.job_answer(job_id)))

    def claim_regenerate(self, job_id: str) -> bool:
        return bool(self._r.set(self._k.job_control(job_id, "regenerated"), "1", nx=True, ex=self._ttl))

    def release_regenerate(self, job_id: str) -> None:
        self._r.delete(self._k.job_control(job_id, "regenerated"))

    def remember_latest(self, *, scope: str, user: str, job_id: str) -> None:
        self._r.set(self._k.latest_job(scope, user), job_id, ex=self._ttl)

    def latest(self, *, scope: str, user: str) -> str | None:
        raw = self._r.get(self._k.latest_job(scope, user))
        return raw.decode() if raw is not None else None

    def answered(self, job_id: str, facts: AnswerFacts) -> None:
        data = json.dumps({"model": facts.model, "command": facts.command, "cut": facts.cut})
        key = self._k.job_control(job_id, "facts")
        if self._writes is not None:
            self._writes.stage(lambda pipe: pipe.set(key, data, ex=self._ttl))
        else:
            self._r.set(key, data, ex=self._ttl)

    def facts(self, job_id: str) -> AnswerFacts | None:
        raw = self._r.get(self._k.job_control(job_id, "facts"))
        if raw is None:
            return None
        data = json.loads(raw)
        return AnswerFacts(model=str(data["model"]), command=str(data["command"]), cut=bool(data.get("cut")))

    def vote(self, record: VoteRecord) -> Vote | None:
        month = _month(record.at)
        keys = [self._k.job_control(record.job_id, "votes"), self._k.feedback(record.place, month)]
        args = [record.user, record.vote, month, record.model, self._ttl, FEEDBACK_TTL_SECONDS]
        replaced = self._vote(keys=keys, args=args)
        text = replaced.decode() if isinstance(replaced, bytes) else str(replaced or "")
        return "up" if text == "up" else "down" if text == "down" else None

    def feedback(self, *, place: str, at: float) -> dict[str, FeedbackTotals]:
        raw = self._r.hgetall(self._k.feedback(place, _month(at)))
        counts: dict[str, dict[str, int]] = {}
        for field, value in raw.items():
            model, _, vote = field.decode().rpartition(_SEP)
            counts.setdefault(model, {})[vote] = int(value)
        return {
            model: FeedbackTotals(up=max(c.get("up", 0), 0), down=max(c.get("down", 0), 0))
            for model, c in sorted(counts.items())
        }


class PolledStops:
    """``core.control_ports.StopWatch`` for a worker process: one thread (a greenlet under
    the gevent pool) reads every watched job's stop flag in one ``MGET`` per interval, and
    only while some job is watched. A job's check is then a set look-up, so a worker
    streaming 500 answers costs Redis four reads a second, not two thousand."""

    def __init__(self, client: redis.Redis[bytes], keys: RedisKeys, *, interval: float = STOP_POLL_SECONDS) -> None:
        self._r = client
        self._k = keys
        self._interval = interval
        self._watched: dict[str, int] = {}  # job id -> attempts watching it in this process
        self._stopped: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, job_id: str) -> Callable[[], bool]:
        with self._lock:
            idle = not self._watched
            self._watched[job_id] = self._watched.get(job_id, 0) + 1
            if self._thread is None:  # started on first use: after the fork and the pool's patching
                self._thread = threading.Thread(target=self._poll, name="tertulia-stops", daemon=True)
                self._thread.start()
        if idle:  # the poller sleeps while nothing is watched
            self._wake.set()
        return lambda: job_id in self._stopped

    def forget(self, job_id: str) -> None:
        with self._lock:
            left = self._watched.get(job_id, 0) - 1
            if left > 0:
                self._watched[job_id] = left
            else:
                self._watched.pop(job_id, None)
                self._stopped.discard(job_id)

    def _poll(self) -> None:
        while True:
            with self._lock:
                jobs = list(self._watched)
            if not jobs:
                self._wake.wait()
                self._wake.clear()
                continue
            try:
                flags = self._r.mget([self._k.job_control(job_id, "stop") for job_id in jobs])
            except redis.RedisError:  # a Redis outage: Stop waits for it, the answers go on
                log.warning("stop flags could not be read; trying again", exc_info=True)
            else:
                raised = {job_id for job_id, flag in zip(jobs, flags, strict=True) if flag is not None}
                with self._lock:
                    self._stopped |= raised & self._watched.keys()
            self._wake.wait(self._interval)
            self._wake.clear()
