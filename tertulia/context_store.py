"""Redis behind the conversation ports: a scope's memory (its turns, trimmed as they are
recorded, each naming its job so a regenerated answer takes its exchange's place) and the
scope's last cut answer for /continue."""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from core.cut import CutAnswer
from core.ports import ChatTurn
from tertulia.redis_store import RedisKeys


class RedisContextStore:
    """History as a Redis list of JSON turns per scope, refreshed TTL on every write and
    trimmed to the newest ``max_turns`` (whole exchanges) as each exchange is recorded. Turns
    of one scope never overlap: only the head of its line runs (tertulia/leases.py)."""

    def __init__(self, client: redis.Redis[bytes], keys: RedisKeys, *, ttl_seconds: int, max_turns: int = 40) -> None:
        self._r = client
        self._k = keys
        self._ttl = ttl_seconds
        # An even count, so the list always starts with a user's turn.
        self._keep = max(2, max_turns + max_turns % 2)

    def history(self, scope: str, *, before: str | None = None) -> list[ChatTurn]:
        turns = [json.loads(item) for item in self._r.lrange(self._k.history(scope), 0, -1)]
        if before is not None:
            at = _exchange_of(turns, before)
            turns = turns[:at] if at is not None else turns
        return [ChatTurn(role=t["role"], content=t["content"]) for t in turns]

    def record_exchange(
        self, scope: str, *, job_id: str, user: str, assistant: str, replaces: str | None = None
    ) -> bool:
        # The marker makes a retried or redelivered job record its turns exactly once.
        if not self._r.set(self._k.recorded(job_id), "1", nx=True, ex=self._ttl):
            return False
        key = self._k.history(scope)
        # Each turn names its job, so that a regenerated answer takes its exchange's place.
        turns = (
            json.dumps({"role": "user", "content": user, "job": job_id}),
            json.dumps({"role": "assistant", "content": assistant, "job": job_id}),
        )
        at = None
        if replaces is not None:  # no other turn of this scope runs meanwhile (tertulia/leases.py)
            at = _exchange_of([json.loads(item) for item in self._r.lrange(key, 0, -1)], replaces)
        pipe = self._r.pipeline(transaction=True)
        if at is None:
            pipe.rpush(key, *turns)
            pipe.ltrim(key, -self._keep, -1)
        else:
            pipe.lset(key, at, turns[0])
            pipe.lset(key, at + 1, turns[1])
        pipe.expire(key, self._ttl)
        pipe.execute()
        return True

    def clear(self, scope: str) -> None:
        self._r.delete(self._k.history(scope))

    def extend_answer(self, scope: str, *, answer: str, whole: str) -> bool:
        key = self._k.history(scope)
        with self._r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    # WATCH: a turn recorded meanwhile makes this try again, never overwrite it.
                    pipe.watch(key)
                    # Watching, the pipeline answers at once (typed as the pipeline itself).
                    raw = cast(bytes | None, pipe.lindex(key, -1))
                    turn = json.loads(raw) if raw is not None else None
                    if not isinstance(turn, dict) or turn.get("role") != "assistant" or turn.get("content") != answer:
                        pipe.unwatch()
                        return False
                    turn["content"] = whole
                    pipe.multi()
                    pipe.lset(key, -1, json.dumps(turn))
                    pipe.expire(key, self._ttl)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue


class RedisCutStore:
    """The last cut answer per scope, as JSON, with the job's TTL."""

    def __init__(self, client: redis.Redis[bytes], keys: RedisKeys, *, ttl_seconds: int) -> None:
        self._r = client
        self._k = keys
        self._ttl = ttl_seconds

    def remember(self, scope: str, cut: CutAnswer) -> None:
        self._r.set(self._k.cut(scope), json.dumps(cut.to_json()), ex=self._ttl)

    def last(self, scope: str) -> CutAnswer | None:
        raw = self._r.get(self._k.cut(scope))
        return CutAnswer.from_json(json.loads(raw)) if raw else None

    def forget(self, scope: str, *, job_id: str) -> None:
        cut = self.last(scope)
        if cut is not None and cut.job_id == job_id:
            self._r.delete(self._k.cut(scope))


def _exchange_of(turns: list[dict[str, Any]], job_id: str) -> int | None:
    """The index of ``job_id``'s user turn, when its whole exchange is remembered."""
    for index, turn in enumerate(turns[:-1]):
        if turn.get("job") == job_id and turns[index + 1].get("job") == job_id:
            return index
    return None
