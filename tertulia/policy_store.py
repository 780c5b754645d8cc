"""Redis behind the policy's ports: admission (one Lua script per check, so every adapter
process counts against the same numbers atomically), the usage ledger, personas."""

from __future__ import annotations

import datetime as dt
import time

import redis

from core.policy_ports import Admitted, Ticket, UsageEntry, UsageReport, UsageTotals
from tertulia.read_ahead import ReadAhead, WritesBehind
from tertulia.redis_store import RedisKeys

USAGE_TTL_SECONDS = 90 * 24 * 3600
# A concurrent slot is freed by the worker when the job ends; one whose worker died frees
# itself after this long.
SLOT_LEASE_SECONDS = 15 * 60

# KEYS: requests window, running jobs, the user's usage today, the place's usage today.
# ARGV: job id, per minute, user tokens/day, place tokens/day, concurrent (0: no limit),
# slot lease ms, ms until the day ends. Returns {limit or "", ms to wait}. Checks first,
# then counts, so a refused request takes nothing; the server's clock for the window.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local per_minute, user_budget = tonumber(ARGV[2]), tonumber(ARGV[3])
local place_budget, concurrent = tonumber(ARGV[4]), tonumber(ARGV[5])
if user_budget > 0 and tonumber(redis.call('HGET', KEYS[3], 'tokens') or '0') >= user_budget then
  return {'user_tokens', tonumber(ARGV[7])}
end
if place_budget > 0 and tonumber(redis.call('HGET', KEYS[4], 'tokens') or '0') >= place_budget then
  return {'place_tokens', tonumber(ARGV[7])}
end
if concurrent > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= concurrent then
    return {'concurrent', 0}
  end
end
if per_minute > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
  if redis.call('ZCARD', KEYS[1]) >= per_minute then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {'rate', tonumber(oldest[2]) + 60000 - now}
  end
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], 60000)
end
if concurrent > 0 then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[1])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[6]))
end
return {'', 0}
"""

# KEYS: the usage hashes (user today, place today, user this month, place this month), then
# the place's users-by-tokens set of today and of this month. ARGV: model, requests, input
# tokens, output tokens, wall seconds, ttl, user. One call instead of 46 pipelined commands:
# a worker records thousands of jobs a minute, and packing each command cost it more CPU
# than the job's whole Lua share costs Redis (docs/benchmarks.md, round 5).
_RECORD_USAGE = """
local model, ttl, user = ARGV[1], tonumber(ARGV[6]), ARGV[7]
local requests, input, output = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local counts = {{'requests', requests}, {'input', input}, {'output', output}, {'tokens', input + output}}
for i = 1, 4 do
  for _, count in ipairs(counts) do
    redis.call('HINCRBY', KEYS[i], count[1], count[2])
    redis.call('HINCRBY', KEYS[i], model .. ':' .. count[1], count[2])
  end
  redis.call('HINCRBYFLOAT', KEYS[i], 'wall_seconds', ARGV[5])
  redis.call('HINCRBYFLOAT', KEYS[i], model .. ':wall_seconds', ARGV[5])
  redis.call('EXPIRE', KEYS[i], ttl)
end
for i = 5, 6 do
  redis.call('ZINCRBY', KEYS[i], input + output, user)
  redis.call('EXPIRE', KEYS[i], ttl)
end
"""

_TOTALS = ("requests", "input", "output")


def _day(at: float) -> str:
    return "d" + dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y%m%d")


def _month(at: float) -> str:
    return "m" + dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y%m")


def seconds_to_midnight(at: float) -> float:
    """Daily budgets reset at 00:00 UTC."""
    now = dt.datetime.fromtimestamp(at, dt.UTC)
    tomorrow = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


class RedisAdmission:
    def __init__(
        self,
        client: redis.Redis[bytes],
        keys: RedisKeys,
        *,
        lease_seconds: int = SLOT_LEASE_SECONDS,
        writes: WritesBehind | None = None,
    ) -> None:
        self._r = client
        self._k = keys
        self._lease_ms = lease_seconds * 1000
        self._admit = client.register_script(_ADMIT)
        # A worker's: the freed slot goes with the lease's finish (tertulia/read_ahead.py).
        self._writes = writes

    def admit(self, ticket: Ticket) -> Admitted:
        at = time.time()
        keys = [
            self._k.requests_window(ticket.user),
            self._k.running_jobs(ticket.user),
            self._k.usage(_day(at), "user", ticket.user),
            self._k.usage(_day(at), "place", ticket.place),
        ]
        args = [
            ticket.job_id,
            ticket.per_minute or 0,
            ticket.user_tokens_per_day or 0,
            ticket.place_tokens_per_day or 0,
            ticket.concurrent or 0,
            self._lease_ms,
            int(seconds_to_midnight(at) * 1000),
        ]
        limit, wait_ms = self._admit(keys=keys, args=args)
        name = limit.decode() if isinstance(limit, bytes) else str(limit)
        if not name:
            return Admitted()
        return Admitted(limit=name, retry_after=int(wait_ms) / 1000.0 if int(wait_ms) > 0 else None)

    def release(self, user: str, job_id: str) -> None:
        key = self._k.running_jobs(user)
        if self._writes is not None:
            self._writes.stage(lambda pipe: pipe.zrem(key, job_id))
        else:
            self._r.zrem(key, job_id)


class RedisUsageLedger:
    """Hashes per (day | month) x (user | place): totals and per-model fields; a sorted set
    of users by tokens per place. Everything expires after 90 days."""

    def __init__(
        self,
        client: redis.Redis[bytes],
        keys: RedisKeys,
        *,
        ttl_seconds: int = USAGE_TTL_SECONDS,
        writes: WritesBehind | None = None,
    ) -> None:
        self._r = client
        self._k = keys
        self._ttl = ttl_seconds
        # A worker's: a job's usage goes with its lease's finish or retry (tertulia/read_ahead.py).
        self._writes = writes

    def record(self, entry: UsageEntry) -> None:
        if self._writes is not None:
            self._writes.stage(lambda pipe: self._add(pipe, entry))
            return
        pipe = self._r.pipeline(transaction=True)
        self._add(pipe, entry)
        pipe.execute()

    def _add(self, pipe: redis.client.Pipeline[bytes], entry: UsageEntry) -> None:
        periods = (_day(entry.at), _month(entry.at))
        hashes = [self._k.usage(period, who, name) for period in periods
                  for who, name in (("user", entry.user), ("place", entry.place))]  # fmt: skip
        tops = [self._k.usage_top(period, entry.place) for period in periods]
        pipe.eval(
            _RECORD_USAGE, 6, *hashes, *tops, entry.model, entry.requests, entry.input_tokens,
            entry.output_tokens, repr(float(entry.wall_seconds)), self._ttl, entry.user,
        )  # fmt: skip

    def report(self, *, user: str, place: str, at: float) -> UsageReport:
        day, month = _day(at), _month(at)
        pipe = self._r.pipeline(transaction=False)
        for period, who, name in ((day, "user", user), (month, "user", user), (day, "place", place),
                                  (month, "place", place)):  # fmt: skip
            pipe.hmget(self._k.usage(period, who, name), list(_TOTALS))
        pipe.zrevrange(self._k.usage_top(month, place), 0, 9, withscores=True)
        *totals, top = pipe.execute()
        return UsageReport(
            user_today=_totals(totals[0]),
            user_month=_totals(totals[1]),
            place_today=_totals(totals[2]),
            place_month=_totals(totals[3]),
            top_users=tuple((member.decode(), int(score)) for member, score in top),
        )


def _totals(values: list[bytes | None]) -> UsageTotals:
    requests, prompt, generated = (int(v or 0) for v in values)
    return UsageTotals(requests=requests, input_tokens=prompt, output_tokens=generated)


class RedisPersonaStore:
    """Personas are configuration an admin typed: kept until reset, no expiry."""

    def __init__(self, client: redis.Redis[bytes], keys: RedisKeys, *, ahead: ReadAhead | None = None) -> None:
        self._r = client
        self._k = keys
        self._ahead = ahead  # a worker's: read with the job (tertulia/read_ahead.py)

    def get(self, key: str) -> str | None:
        name = self._k.persona(key)
        hit, raw = self._ahead.take(name) if self._ahead is not None else (False, None)
        if not hit:
            raw = self._r.get(name)
        return raw.decode() if raw is not None else None

    def set(self, key: str, text: str) -> None:
        if self._ahead is not None:
            self._ahead.drop(self._k.persona(key))
        self._r.set(self._k.persona(key), text.encode())

    def clear(self, key: str) -> None:
        if self._ahead is not None:
            self._ahead.drop(self._k.persona(key))
        self._r.delete(self._k.persona(key))
