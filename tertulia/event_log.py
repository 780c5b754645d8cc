"""The console's event logs: Redis streams, capped and expiring, so a log nobody follows any
more goes away. A worker writes each batch of events (bots/console/batch.py) as one Lua call:
as atomic as the ``MULTI`` of one ``XADD`` per event it replaces, but one command to pack and
one reply to parse instead of forty (issue 12, round 6: a 40-token console job emits about
forty updates)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence

import redis

from tertulia.read_ahead import ReadAhead
from tertulia.redis_store import RedisKeys

MAX_EVENTS_PER_LOG = 10_000

# ARGV: max length, log TTL, refs TTL, the number of events, then per event its key, its
# number of fields and the fields and values; the number of logs whose TTL is due, and their
# keys; the number of refs, then per job its refs key and value.
_APPEND = """
local maxlen, ttl, refs_ttl = ARGV[1], ARGV[2], ARGV[3]
local i = 4
for _ = 1, tonumber(ARGV[i]) do
  local key, width = ARGV[i + 1], tonumber(ARGV[i + 2]) * 2
  redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', unpack(ARGV, i + 3, i + 2 + width))
  i = i + 2 + width
end
i = i + 1
for _ = 1, tonumber(ARGV[i]) do
  redis.call('EXPIRE', ARGV[i + 1], ttl)
  i = i + 1
end
i = i + 1
for _ = 1, tonumber(ARGV[i]) do
  redis.call('SET', ARGV[i + 1], ARGV[i + 2], 'EX', refs_ttl)
  i = i + 2
end
return 1
"""


class RedisEventLog:
    def __init__(
        self,
        client: redis.Redis[bytes],
        keys: RedisKeys,
        *,
        ttl_seconds: int = 3600,
        refs_ttl_seconds: int = 24 * 3600,
        ahead: ReadAhead | None = None,
    ) -> None:
        self._r = client
        self._k = keys
        self._ttl = ttl_seconds
        self._refs_ttl = refs_ttl_seconds  # a job's refs live as long as the job (RedisJobStore's TTL)
        self._ahead = ahead  # refs read ahead for this thread are stale once written here
        self._expired: dict[str, float] = {}  # key -> last TTL refresh (racing writers only refresh twice)
        self._append = client.register_script(_APPEND)

    def append(self, channel: str, event: Mapping[str, str]) -> None:
        self.append_many([(channel, event)])

    def append_many(
        self, events: Sequence[tuple[str, Mapping[str, str]]], *, refs: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        # One round trip for a whole batch, applied whole: a console never sees half of a
        # batch, and a failed batch failed for every event in it.
        now = time.monotonic()
        args: list[str | int] = [MAX_EVENTS_PER_LOG, self._ttl, self._refs_ttl, len(events)]
        for channel, event in events:
            args += [self._k.events(channel), len(event)]
            for field, value in event.items():
                args += [field, value]
        # A log's TTL is refreshed once per tenth of it, not with every event (an hour's TTL
        # loses at most six minutes; the log still goes away once nobody writes to it).
        fresh = [k for k in {self._k.events(c) for c, _ in events} if self._expired.get(k, -1e9) < now - self._ttl / 10]
        args += [len(fresh), *fresh]
        jobs = refs or {}
        args.append(len(jobs))
        for job_id, pieces in jobs.items():
            if self._ahead is not None:
                self._ahead.drop(self._k.job_refs(job_id))
            args += [self._k.job_refs(job_id), json.dumps(list(pieces))]
        self._append(args=args)
        if len(self._expired) > 10_000:
            self._expired = {k: t for k, t in self._expired.items() if t >= now - self._ttl / 10}
        self._expired.update((key, now) for key in fresh)

    def read(self, channel: str, *, after: str, block_seconds: float) -> list[tuple[str, dict[str, str]]]:
        key = self._k.events(channel)
        batches = self._r.xread({key: after}, block=max(int(block_seconds * 1000), 1), count=100)
        return [
            (entry_id.decode(), {k.decode(): v.decode() for k, v in fields.items()})
            for _stream, entries in batches or []
            for entry_id, fields in entries
        ]
