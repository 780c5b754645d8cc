"""Redis implementations of the core's storage ports. Every key starts with the
configured prefix, so tests (and a second deployment) can share a server safely."""

from __future__ import annotations

import json
import time

import redis

from core.jobs import Job
from core.ports import ChatTurn
from tertulia.leases import RedisLeases

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
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))


class RedisJobStore:
    def __init__(
        self, client: redis.Redis[bytes], keys: RedisKeys, *, ttl_seconds: int, leases: RedisLeases
    ) -> None:
        self._r = client
        self._k = keys
        self._ttl = ttl_seconds
        self._leases = leases

    def save(self, job: Job) -> None:
        self._r.set(self._k("job", job.id), json.dumps(job.to_json()), ex=self._ttl)

    def admit(self, job: Job) -> None:
        self._leases.admit(job)

    def load(self, job_id: str) -> Job | None:
        raw = self._r.get(self._k("job", job_id))
        return Job.from_json(json.loads(raw)) if raw else None

    def save_refs(self, job_id: str, refs: list[str]) -> None:
        self._r.set(self._k("job", job_id, "refs"), json.dumps(refs), ex=self._ttl)

    def load_refs(self, job_id: str) -> list[str]:
        raw = self._r.get(self._k("job", job_id, "refs"))
        return list(json.loads(raw)) if raw else []


class RedisContextStore:
    """History as a Redis list of JSON turns per scope, refreshed TTL on every write. Turns
    of one scope never overlap: only the head of its line runs (tertulia/leases.py)."""

    def __init__(self, client: redis.Redis[bytes], keys: RedisKeys, *, ttl_seconds: int) -> None:
        self._r = client
        self._k = keys
        self._ttl = ttl_seconds

    def history(self, scope: str) -> list[ChatTurn]:
        raw = self._r.lrange(self._k("ctx", scope), 0, -1)
        turns = [json.loads(item) for item in raw]
        return [ChatTurn(role=t["role"], content=t["content"]) for t in turns]

    def record_exchange(self, scope: str, *, job_id: str, user: str, assistant: str) -> bool:
        # The marker makes a retried or redelivered job record its turns exactly once.
        if not self._r.set(self._k("ctx-recorded", job_id), "1", nx=True, ex=self._ttl):
            return False
        key = self._k("ctx", scope)
        pipe = self._r.pipeline(transaction=True)
        pipe.rpush(
            key,
            json.dumps({"role": "user", "content": user}),
            json.dumps({"role": "assistant", "content": assistant}),
        )
        pipe.expire(key, self._ttl)
        pipe.execute()
        return True

    def clear(self, scope: str) -> None:
        self._r.delete(self._k("ctx", scope))


class RedisModelChoiceStore:
    def __init__(self, client: redis.Redis[bytes], keys: RedisKeys, *, ttl_seconds: int) -> None:
        self._r = client
        self._k = keys
        self._ttl = ttl_seconds

    def get(self, scope: str) -> str | None:
        raw = self._r.get(self._k("model", scope))
        return raw.decode() if isinstance(raw, bytes) else raw

    def set(self, scope: str, name: str) -> None:
        self._r.set(self._k("model", scope), name, ex=self._ttl)

    def clear(self, scope: str) -> None:
        self._r.delete(self._k("model", scope))


class RedisRateBudget:
    def __init__(self, client: redis.Redis[bytes], keys: RedisKeys) -> None:
        self._r = client
        self._k = keys
        self._acquire = client.register_script(_ACQUIRE)
        self._penalize = client.register_script(_PENALIZE)

    def try_acquire(self, key: str, interval: float) -> float:
        wait_ms = int(self._acquire(keys=[self._k("rate", key)], args=[max(int(interval * 1000), 1)]))
        return wait_ms / 1000.0

    def penalize(self, key: str, seconds: float) -> None:
        self._penalize(keys=[self._k("rate", key)], args=[max(int(seconds * 1000), 1)])


class RedisDeduplicator:
    def __init__(self, client: redis.Redis[bytes], keys: RedisKeys, *, ttl_seconds: int = 24 * 3600) -> None:
        self._r = client
        self._k = keys
        self._ttl = ttl_seconds

    def first_time(self, namespace: str, key: str) -> bool:
        return bool(self._r.set(self._k("seen", namespace, key), str(time.time()), nx=True, ex=self._ttl))
