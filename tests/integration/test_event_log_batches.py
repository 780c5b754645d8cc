"""The console's event log written in batches on the real Redis: one call, each channel in
order, every log expiring; and a worker's console delivery through it."""

from __future__ import annotations

import uuid
from typing import Any

import redis

from tertulia.event_log import RedisEventLog
from tertulia.redis_store import RedisKeys


def test_a_batch_lands_whole_in_order_per_channel_and_expires(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    keys = RedisKeys(key_prefix)
    log = RedisEventLog(redis_client, keys, ttl_seconds=600)
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    log.append_many([(a, {"op": "post", "text": "1"}), (b, {"op": "post", "text": "x"}),
                     (a, {"op": "update", "text": "12"}), (a, {"op": "close", "text": ""})])
    assert [e["text"] for _id, e in log.read(a, after="0-0", block_seconds=0.01)] == ["1", "12", ""]
    assert [e["text"] for _id, e in log.read(b, after="0-0", block_seconds=0.01)] == ["x"]
    assert 0 < redis_client.ttl(keys.events(a)) <= 600 and 0 < redis_client.ttl(keys.events(b)) <= 600


def test_refs_written_with_a_post_are_the_jobs_refs(services: Any) -> None:
    job, channel = uuid.uuid4().hex, uuid.uuid4().hex
    services.events.append_many([(channel, {"job": job, "op": "post", "ref": f"{job}:1", "text": "a"})],
                                refs={job: [f"{job}:1"]})  # fmt: skip
    assert services.jobs.load_refs(job) == [f"{job}:1"]
    assert [e["op"] for _id, e in services.events.read(channel, after="0-0", block_seconds=0.01)] == ["post"]
    assert 0 < services.redis.ttl(services.keys.job_refs(job)) <= services.settings.job_ttl_seconds


def test_console_events_from_many_jobs_reach_each_channel_in_order(services: Any) -> None:
    from bots.console.delivery import ConsoleDelivery
    from core.jobs import Job
    from core.messages import InboundMessage

    delivery = ConsoleDelivery(events=services.events, update_interval=0.0)
    channels = [uuid.uuid4().hex for _ in range(5)]
    for channel in channels:
        message = InboundMessage(platform="console", workspace="w", channel=channel, user="u", text="/translate fr hi")
        responder = delivery.responder(Job(kind="translate", message=message, scope=channel))
        ref = responder.post("a")
        for text in ("ab", "abc"):
            responder.update(ref, text)
        responder.finish(ref, "abcd")
        responder.close()
    for channel in channels:
        events = [e for _id, e in services.events.read(channel, after="0-0", block_seconds=0.5)]
        assert [(e["op"], e["text"]) for e in events] == [
            ("post", "a"), ("update", "ab"), ("update", "abc"), ("finish", "abcd"), ("close", "")
        ]
