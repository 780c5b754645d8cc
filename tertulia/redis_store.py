"""Redis implementations of the core's storage ports. Every key starts with the
configured prefix, so tests (and a second deployment) can share a server safely."""

from __future__ import annotations

import json
import time

import redis

from core.jobs import Job
from core.messages import AddressCodec
from core.policy import persona_of
from tertulia.leases import RedisLeases
from tertulia.read_ahead import JobReader, ReadAhead, WritesBehind

# Atomically: if the slot is free, take it and book the next one; else say how long to wait.
# Uses the server's clock so that workers on different hosts agree.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if now >= nxt then
  redis.call('SET', KEYS[1], now + tonumber(ARGV[1]), 'PX', math.max(tonumber(ARGV[1]) * 4, 60000))
  return 0
end
return nxt - now
"""

_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > nxt then
  redis.call('SET', KEYS[1], until_ms, 'PX', math.max(tonumber(ARGV[1]) * 4, 60000))
end
return until_ms
"""


class RedisKeys:
    """Every key we write, named here and nowhere else, under the configured prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def job(self, job_id: str) -> str:
        return self("job", job_id)

    def job_refs(self, job_id: str) -> str:
        return self("job", job_id, "refs")

    def job_answer(self, job_id: str) -> str:
        return self("job", job_id, "answer")

    def job_reads(self, job_id: str) -> str:
        """The keys a worker reads with the job (tertulia/read_ahead.py): its scope's model
        choice and persona, named when the job is saved."""
        return self("job", job_id, "reads")

    def history(self, scope: str) -> str:
        return self("ctx", scope)

    def recorded(self, job_id: str) -> str:
        return self("ctx-recorded", job_id)

    def cut(self, scope: str) -> str:
        """The scope's last answer cut at its token limit (core/cut.py), for /continue."""
        return self("cut", scope)

    def model_choice(self, scope: str) -> str:
        return self("model", scope)

    def rate(self, destination: str) -> str:
        return self("rate", destination)

    def seen(self, namespace: str, key: str) -> str:
        return self("seen", namespace, key)

    def memory(self, namespace: str, key: str) -> str:
        return self(namespace, key)

    def events(self, channel: str) -> str:
        return self("console", channel)

    # --- the policy (issue 13) ---

    def requests_window(self, user: str) -> str:
        return self("policy", "rpm", user)

    def running_jobs(self, user: str) -> str:
        return self("policy", "running", user)

    def usage(self, period: str, who: str, name: str) -> str:
        """period: "d<yyyymmdd>" or "m<yyyymm>"; who: "user" or "place"."""
        return self("usage", period, who, name)

    def usage_top(self, period: str, place: str) -> str:
        return self("usage", period, "top", place)

    def job_control(self, job_id: str, name: str) -> str:
        """A job's controls (tertulia/control_store.py): "stop", "facts", "votes", "regenerated"."""
        return self("job", job_id, name)

    def latest_job(self, scope: str, user: str) -> str:
        return self("latest", scope, user)

    def feedback(self, place: str, month: str) -> str:
        """month: "<yyyymm>", always the last part (the vote script swaps it)."""
        return self("feedback", place, month)

    def persona(self, key: str) -> str:
        return self("persona", key)

    def celery(self) -> str:
        """The prefix of the broker's own keys (kombu's global_keyprefix)."""
        return self("celery") + ":"


class RedisJobStore:
    """A worker reads a job's record, refs, answer, stop flag, model choice and persona in one
    Lua call (at its claim, or at ``load``): the stores take them from the thread's read-ahead
    (tertulia/read_ahead.py). Between them nobody else writes the job's keys (its lease), and
    this thread's own saves drop what was read ahead. The answer is written with the writes
    staged behind it (its facts) in one MULTI."""

    def __init__(
        self,
        client: redis.Redis[bytes],
        keys: RedisKeys,
        *,
        ttl_seconds: int,
        addresses: AddressCodec,
        leases: RedisLeases,
        ahead: ReadAhead | None = None,
        writes: WritesBehind | None = None,
    ) -> None:
        self._r = client
        self._k = keys
        self._ttl = ttl_seconds
        self._addresses = addresses
        self._leases = leases
        self._ahead = ahead or ReadAhead()
        self._writes = writes or WritesBehind()
        self._reader = JobReader(client, keys, self._ahead)

    def save(self, job: Job, *, admit: bool = False, newest: bool = False) -> None:
        reads = self._k.job_reads(job.id)
        pipe = self._r.pipeline(transaction=True)
        pipe.set(self._k.job(job.id), json.dumps(job.to_json()), ex=self._ttl)
        pipe.rpush(reads, self._k.model_choice(job.scope), self._k.persona(persona_of(job.message)))
        pipe.expire(reads, self._ttl)
        if admit:
            newest_key = self._k.latest_job(job.scope, job.message.user) if newest else ""
            self._leases.admit_in(pipe, job, newest_key=newest_key)
        replies = pipe.execute()
        if admit:
            self._leases.check_admitted(replies[-1])

    def admit(self, job: Job) -> None:
        self._leases.admit(job)

    def load(self, job_id: str) -> Job | None:
        hit, raw = self._ahead.take(self._k.job(job_id))  # read by this thread's claim
        if not hit:
            self._reader.read(job_id)
            _, raw = self._ahead.take(self._k.job(job_id))
        return Job.from_json(json.loads(raw), addresses=self._addresses) if raw else None

    def _get(self, key: str) -> bytes | None:
        hit, raw = self._ahead.take(key)
        return raw if hit else self._r.get(key)

    def save_refs(self, job_id: str, refs: list[str]) -> None:
        self._ahead.drop(self._k.job_refs(job_id))
        self._r.set(self._k.job_refs(job_id), json.dumps(refs), ex=self._ttl)

    def load_refs(self, job_id: str) -> list[str]:
        raw = self._get(self._k.job_refs(job_id))
        return list(json.loads(raw)) if raw else []

    def save_answer(self, job_id: str, text: str) -> None:
        key = self._k.job_answer(job_id)
        self._ahead.drop(key)
        self._writes.run_with(self._r, lambda pipe: pipe.set(key, text.encode(), ex=self._ttl))

    def load_answer(self, job_id: str) -> str | None:
        raw = self._get(self._k.job_answer(job_id))
        return raw.decode() if raw is not None else None


class RedisModelChoiceStore:
    def __init__(
        self, client: redis.Redis[bytes], keys: RedisKeys, *, ttl_seconds: int, ahead: ReadAhead | None = None
    ) -> None:
        self._r = client
        self._k = keys
        self._ttl = ttl_seconds
        self._ahead = ahead  # a worker's: read with the job (tertulia/read_ahead.py)

    def get(self, scope: str) -> str | None:
        key = self._k.model_choice(scope)
        hit, raw = self._ahead.take(key) if self._ahead is not None else (False, None)
        if not hit:
            raw = self._r.get(key)
        return raw.decode() if isinstance(raw, bytes) else raw

    def set(self, scope: str, name: str) -> None:
        if self._ahead is not None:
            self._ahead.drop(self._k.model_choice(scope))
        self._r.set(self._k.model_choice(scope), name, ex=self._ttl)

    def clear(self, scope: str) -> None:
        if self._ahead is not None:
            self._ahead.drop(self._k.model_choice(scope))
        self._r.delete(self._k.model_choice(scope))


class RedisRateBudget:
    def __init__(self, client: redis.Redis[bytes], keys: RedisKeys) -> None:
        self._r = client
        self._k = keys
        self._acquire = client.register_script(_ACQUIRE)
        self._penalize = client.register_script(_PENALIZE)

    def try_acquire(self, key: str, interval: float) -> float:
        wait_ms = int(self._acquire(keys=[self._k.rate(key)], args=[max(int(interval * 1000), 1)]))
        return wait_ms / 1000.0

    def penalize(self, key: str, seconds: float) -> None:
        self._penalize(keys=[self._k.rate(key)], args=[max(int(seconds * 1000), 1)])


class RedisDeduplicator:
    def __init__(self, client: redis.Redis[bytes], keys: RedisKeys, *, ttl_seconds: int = 24 * 3600) -> None:
        self._r = client
        self._k = keys
        self._ttl = ttl_seconds

    def first_time(self, namespace: str, key: str, *, ttl_seconds: int | None = None) -> bool:
        ttl = ttl_seconds or self._ttl
        return bool(self._r.set(self._k.seen(namespace, key), str(time.time()), nx=True, ex=ttl))


class RedisKeyValue:
    def __init__(self, client: redis.Redis[bytes], keys: RedisKeys, *, namespace: str, ttl_seconds: int) -> None:
        self._r = client
        self._k = keys
        self._namespace = namespace
        self._ttl = ttl_seconds

    def get(self, key: str) -> str | None:
        raw = self._r.get(self._k.memory(self._namespace, key))
        return raw.decode() if raw is not None else None

    def set(self, key: str, value: str) -> None:
        self._r.set(self._k.memory(self._namespace, key), value, ex=self._ttl)
