"""The queue path, measured from outside: the router (in this process) enqueues, one real
worker process (``tertulia worker``) runs the jobs, and the answers are read back from the
console's event log, one channel per job, as the console would follow them.

Times are wall-clock seconds (``time.time``): a console event's stream id is the Redis
server's clock in ms when the worker appended it, so a slow reader here does not add to
what it measures, and the fake model's first-token times share that clock (same host).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class QueueRun:
    enqueued: dict[str, float] = field(default_factory=dict)  # job id -> when
    marker: dict[str, str] = field(default_factory=dict)  # job id -> bench marker in its prompt
    first_post: dict[str, float] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)  # the last "finish" of the job
    closed: dict[str, float] = field(default_factory=dict)
    reader_calls: int = 0  # our own XREADs, taken out of the Redis command counts


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_status(pid: int, name: str) -> float:
    """A ``kB`` line of /proc/<pid>/status (VmHWM: peak RSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(name)


def command_counts(client: redis.Redis[bytes]) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}


class QueuePath:
    """The router and a worker process against one Redis and one model server."""

    def __init__(self, *, env: dict[str, str], log_path: Path, profile: list[str] | None = None) -> None:
        os.environ.update(env)
        from core.messages import InboundMessage
        from core.settings import Settings
        from tertulia.bootstrap import build_router, build_services

        self._message = InboundMessage
        self.settings = Settings()
        self.services = build_services(self.settings)
        self.router = build_router(self.services)
        self.prefix = env["TERTULIA_KEY_PREFIX"]
        self.reader: redis.Redis[bytes] = redis.Redis.from_url(env["TERTULIA_REDIS_URL"])
        self._log = log_path.open("wb")
        self.worker = subprocess.Popen(
            [*(profile or []), str(Path(sys.executable).parent / "tertulia"), "worker", "--without-gossip",
             "--without-mingle", "-l", "WARNING"],
            cwd=REPO, env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: under py-spy the worker is a grandchild, stopped with it
        )

    def close(self) -> None:
        group = os.getpgid(self.worker.pid)
        os.killpg(group, signal.SIGTERM)
        try:
            self.worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.worker.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # a worker that outlived py-spy's recording
            os.killpg(group, signal.SIGKILL)
        self._log.close()

    def enqueue(self, run: QueueRun, count: int) -> dict[str, str]:
        """``count`` /translate jobs, each in a channel of its own (so each has its own
        delivery budget, as many users in as many conversations do). Returns stream key ->
        last id read."""
        streams: dict[str, str] = {}
        for _ in range(count):
            channel = uuid.uuid4().hex[:12]
            marker = f"bench-{uuid.uuid4().hex[:12]}"
            message = self._message(
                platform="console", workspace="bench", channel=channel, user="bench",
                text=f"/translate fr {marker} hello",
            )
            at = time.time()
            outcome = self.router.handle(message)
            if outcome.job is None:
                raise RuntimeError(f"the router enqueued nothing: {outcome.reply!r}")
            run.enqueued[outcome.job.id] = at
            run.marker[outcome.job.id] = marker
            streams[f"{self.prefix}:console:{channel}"] = "0-0"
        return streams

    def follow(self, run: QueueRun, streams: dict[str, str], *, timeout: float = 300) -> None:
        """Reads the channels until every job closed (or ``timeout``)."""
        pending = dict(streams)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            run.reader_calls += 1
            batches = self.reader.xread(pending, block=200, count=10_000)  # type: ignore[arg-type]
            for stream, entries in batches or []:
                key = stream.decode()
                for entry_id, fields in entries:
                    pending[key] = entry_id.decode()
                    at = int(entry_id.split(b"-")[0]) / 1000
                    job, op = fields[b"job"].decode(), fields[b"op"].decode()
                    if op == "post":
                        run.first_post.setdefault(job, at)
                    elif op == "finish":
                        run.final[job] = at
                    elif op == "close":
                        run.closed[job] = at
                        pending.pop(key, None)
            if len(run.closed) >= len(run.enqueued):
                return

    def run(self, count: int) -> QueueRun:
        run = QueueRun()
        streams = self.enqueue(run, count)
        self.follow(run, streams)
        return run

    def cleanup(self) -> None:
        for key in self.reader.scan_iter(match=f"{self.prefix}:*", count=1000):
            self.reader.delete(key)


@contextmanager
def round_trips(url: str, skip: Callable[[], set[str]]) -> Iterator[dict[str, int]]:
    """Counts Redis round trips with MONITOR while the block runs: each command a client
    sends on its own is one; a MULTI ... EXEC block is one; commands run inside a Lua
    script (shown as ``lua``) are none. Clients whose address ``skip()`` names (our reader)
    are left out. ``counts``: "round_trips", "commands", "in_lua", and "broker": the
    commands that are Celery's own (its keys, its BRPOP)."""
    counts = {"round_trips": 0, "commands": 0, "in_lua": 0, "broker": 0}
    client: redis.Redis[bytes] = redis.Redis.from_url(url)
    # The monitor reads up to this marker: stopping on a flag instead could drop the last
    # commands it had not read yet (the last jobs' finishes).
    marker = f"round-trips-end-{uuid.uuid4().hex}"
    ready = threading.Event()

    def watch() -> None:
        in_multi: set[str] = set()
        with client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if marker in str(command.get("command", "")):
                    return
                addr = str(command.get("client_address", "")) + ":" + str(command.get("client_port", ""))
                name = str(command.get("command", "")).split(" ", 1)[0].strip('"').upper()
                if command.get("client_type") == "lua":
                    counts["in_lua"] += 1
                    counts["cmd:lua " + name] = counts.get("cmd:lua " + name, 0) + 1
                    counts["commands"] += 1
                    continue
                if addr in skip():
                    continue
                counts["commands"] += 1
                counts["cmd:" + name] = counts.get("cmd:" + name, 0) + 1
                if name == "BRPOP" or ":celery:" in str(command.get("command", "")):
                    counts["broker"] += 1
                if name == "MULTI":
                    in_multi.add(addr)
                elif name == "EXEC" or name == "DISCARD":
                    in_multi.discard(addr)
                    counts["round_trips"] += 1
                elif addr not in in_multi:
                    counts["round_trips"] += 1

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield counts
    finally:
        redis.Redis.from_url(url).echo(marker)
        thread.join(10)
