"""Console events leave a worker in batches; what the console must see is written before
the job goes on."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import pytest

from bots.console.batch import EventBatcher


class RecordingLog:
    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[list[tuple[str, dict[str, str]]]] = []
        self.fail = fail
        self.lock = threading.Lock()

    def append(self, channel: str, event: Mapping[str, str]) -> None:
        self.append_many([(channel, event)])

    def append_many(
        self, events: Sequence[tuple[str, Mapping[str, str]]], *, refs: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        if self.fail:
            raise ConnectionError("redis is down")
        with self.lock:
            self.calls.append([(c, dict(e)) for c, e in events])

    def read(self, channel: str, *, after: str, block_seconds: float) -> list[tuple[str, dict[str, str]]]:
        return []


def test_many_streams_share_round_trips_and_each_channel_keeps_its_order() -> None:
    log = RecordingLog()
    batcher = EventBatcher(log, linger=0.02)

    def stream(channel: str) -> None:
        for i in range(20):
            batcher.emit(channel, {"op": "update", "text": str(i)}, durable=False)
        batcher.emit(channel, {"op": "close", "text": ""}, durable=True)

    threads = [threading.Thread(target=stream, args=(f"c{n}",)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    written = [pair for call in log.calls for pair in call]
    assert len(written) == 16 * 21  # every close waited for its batch, so every event is in
    assert len(log.calls) < 16 * 21 / 4
    for n in range(16):
        ops = [e["text"] for c, e in written if c == f"c{n}"]
        assert ops == [str(i) for i in range(20)] + [""]


def test_a_text_the_console_must_see_fails_loudly_when_its_batch_fails() -> None:
    batcher = EventBatcher(RecordingLog(fail=True), linger=0.0)
    batcher.emit("c", {"op": "update", "text": "partial"}, durable=False)  # skippable: no error
    # The store's own error, as it was: the worker tells an outage from a fault by its type.
    with pytest.raises(ConnectionError, match="redis is down"):
        batcher.emit("c", {"op": "finish", "text": "the answer"}, durable=True)


class FailOnce(RecordingLog):
    """Fails the first batch that holds a given op, then writes every batch."""

    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op

    def append_many(
        self, events: Sequence[tuple[str, Mapping[str, str]]], *, refs: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        if self.op and any(e.get("op") == self.op for _, e in events):
            self.op = ""
            raise ConnectionError("redis is down")
        super().append_many(events, refs=refs)


def test_a_final_text_and_the_close_after_it_share_one_batch() -> None:
    log = RecordingLog()
    batcher = EventBatcher(log, linger=0.05)
    batcher.emit("c", {"op": "finish", "text": "the answer"}, durable=False, owed=True)
    batcher.emit("c", {"op": "close", "text": ""}, durable=True)
    assert [[e["op"] for _, e in call] for call in log.calls] == [["finish", "close"]]


def test_a_final_texts_fault_is_reported_by_the_close_after_it() -> None:
    """The final text's batch failed and the close's was written: the close raises the
    store's error, so the worker runs the job again rather than report a lost answer."""
    batcher = EventBatcher(FailOnce("finish"), linger=0.0)
    batcher.emit("c", {"op": "finish", "text": "the answer"}, durable=False, owed=True)
    batcher.emit("c", {"op": "update", "text": "x"}, durable=False)
    with pytest.raises(ConnectionError, match="redis is down"):
        batcher.emit("c", {"op": "close", "text": ""}, durable=True)
    batcher.emit("c", {"op": "close", "text": ""}, durable=True)  # owed once: the next close is clean
