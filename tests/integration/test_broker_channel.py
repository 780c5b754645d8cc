"""The worker's Redis transport (worker/redis_transport.py) on the real Redis: a channel
keeps one redis-py client per connection pool instead of building one per ack, and acks,
deliveries and a reconnect's new pool still work through it."""

from __future__ import annotations

import redis
from kombu import Connection

from worker.redis_transport import Transport


def test_a_channel_shares_one_client_per_pool_and_still_delivers(
    redis_client: redis.Redis, redis_url: str, key_prefix: str
) -> None:
    options = {"global_keyprefix": f"{key_prefix}:kombu:"}
    with Connection(redis_url, transport=Transport, transport_options=options) as connection:
        channel = connection.default_channel
        first = channel._create_client()
        assert channel._create_client() is first  # redis-py's constructor once, not per command
        queue = connection.SimpleQueue(f"{key_prefix}-broker-channel")
        try:
            queue.put({"n": 1})
            message = queue.get(timeout=5)
            assert redis_client.hlen(f"{key_prefix}:kombu:unacked") == 1  # delivered, not yet acked
            message.ack()  # the unacked bookkeeping and the ack go through the shared client
            assert message.payload == {"n": 1}
            channel._disconnect_pools()  # as after a lost broker: a new pool, so a new client
            second = channel._create_client()
            assert second is not first and second.connection_pool is channel.pool
            queue.put({"n": 2})
            again = queue.get(timeout=5)
            again.ack()
            assert again.payload == {"n": 2}
            assert not redis_client.hlen(f"{key_prefix}:kombu:unacked")  # both acks landed
        finally:
            queue.close()
