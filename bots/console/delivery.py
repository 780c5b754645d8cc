"""Worker side of the console: answers go to a Redis stream that the console reads.

The console and the worker are separate processes (as a chat platform and a worker are),
so the stream is the console's "Web API"."""

from __future__ import annotations

from typing import Any

import redis

from core.errors import InputError
from core.jobs import Job
from core.messages import Attachment

STREAM_TTL_SECONDS = 3600


def stream_key(prefix: str, session: str) -> str:
    return f"{prefix}:console:{session}"


class ConsoleResponder:
    max_chars = 100_000  # a terminal has no message limit; keep one so splitting stays bounded

    def __init__(self, *, client: redis.Redis[bytes], key: str, job_id: str, update_interval: float) -> None:
        self._r = client
        self._key = key
        self._job_id = job_id
        self.update_interval = update_interval
        self._count = 0

    @property
    def destination(self) -> str:
        return self._key

    def _emit(self, op: str, ref: str = "", text: str = "") -> None:
        pipe = self._r.pipeline()
        pipe.xadd(self._key, {"job": self._job_id, "op": op, "ref": ref, "text": text}, maxlen=10_000)
        pipe.expire(self._key, STREAM_TTL_SECONDS)
        pipe.execute()

    def start(self) -> None:
        self._emit("start")

    def post(self, text: str) -> str:
        self._count += 1
        ref = f"{self._job_id}:{self._count}"
        self._emit("post", ref, text)
        return ref

    def update(self, ref: str, text: str) -> None:
        self._emit("update", ref, text)

    def finish(self, ref: str, text: str) -> None:
        self._emit("finish", ref, text)

    def delete(self, ref: str) -> None:
        self._emit("delete", ref)

    def close(self) -> None:
        self._emit("close")


class ConsoleDelivery:
    def __init__(self, *, client: redis.Redis[bytes], prefix: str, update_interval: float) -> None:
        self._r = client
        self._prefix = prefix
        self._interval = update_interval

    def responder(self, job: Job) -> ConsoleResponder:
        return ConsoleResponder(
            client=self._r,
            key=stream_key(self._prefix, job.message.channel),
            job_id=job.id,
            update_interval=self._interval,
        )

    def fetch_file(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        # Console files travel inside the job; a URL here means a malformed job.
        raise InputError("file_unreadable", name=attachment.name)

    def read_source(self, job: Job) -> str:
        return ""


def create_delivery(services: Any) -> ConsoleDelivery:
    return ConsoleDelivery(
        client=services.redis,
        prefix=services.settings.key_prefix,
        update_interval=services.settings.console_update_interval,
    )
