"""How many generations one worker process holds in flight.

Starts the TGI-protocol fake (with a realistic time to first token and gap between tokens),
one real Celery worker process with the threads pool, and enqueues N jobs at once through the
router, as adapters do. Measures wall time, time to first delivered text and time to the final
text per job, and the peak number of concurrent streams the model server saw.
Writes its figures to docs/benchmarks.md (section "Worker concurrency").

Usage: .venv/bin/python -m bench.concurrency [--jobs 256] [--tokens 40] [--gap 0.05]
Needs a Redis at TERTULIA_TEST_REDIS (default redis://127.0.0.1:6379); uses database 13 and a
key prefix of its own, and deletes only its own keys.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report import write_section  # noqa: E402
from fakes.tgi_server import FakeTGI  # noqa: E402
from fakes.waiting import free_port  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between tokens")
    parser.add_argument("--first", type=float, default=0.5, help="seconds to the first token")
    args = parser.parse_args()

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    base = os.environ.get("TERTULIA_TEST_REDIS", "redis://127.0.0.1:6379")
    tgi = FakeTGI().start(free_port())
    tgi.set_delays(first_token=args.first, between_tokens=args.gap)
    reply = " ".join(f"w{i}" for i in range(args.tokens))
    tgi.script(*([reply] * (args.jobs + 1)))
    env = {
        "TERTULIA_REDIS_URL": f"{base}/13",
        "TERTULIA_KEY_PREFIX": prefix,
        "TERTULIA_QUEUE": f"{prefix}-jobs",
        "TERTULIA_TGI_URL": tgi.url,
        "TERTULIA_MODEL": "tgi",
        "TERTULIA_MODELS_FILE": str(REPO / "tests" / "data" / "models.toml"),
        "TERTULIA_TEST_OPENAI_URL": "http://127.0.0.1:9/v1",
        "TERTULIA_WORKER_CONCURRENCY": str(max(args.jobs, 1)),
        "TERTULIA_CONSOLE_UPDATE_INTERVAL": "0.5",
    }
    os.environ.update(env)
    from core.messages import InboundMessage
    from core.settings import Settings
    from tertulia.bootstrap import build_router, build_services

    services = build_services(Settings())
    router = build_router(services)
    log_path = REPO / ".run" / "bench-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    log = log_path.open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tertulia.cli", "worker", "--without-gossip", "--without-mingle", "-l", "WARNING"],
        cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )
    def enqueue(channel: str, text: str) -> str:
        # One channel per job: as many users in as many conversations, each with its own
        # delivery budget (jobs in one channel share one, as they would on a platform).
        message = InboundMessage(platform="console", workspace="bench", channel=channel, user="bench", text=text)
        outcome = router.handle(message)
        assert outcome.job is not None
        return outcome.job.id

    def wait_for(streams: dict[str, str], count: int, first: dict[str, float], done: dict[str, float]) -> None:
        deadline = time.monotonic() + 600
        while len(done) < count and time.monotonic() < deadline:
            for stream, entries in services.redis.xread(streams, block=1000, count=10_000) or []:  # type: ignore[arg-type]
                for entry_id, fields in entries:
                    streams[stream.decode()] = entry_id.decode()
                    job, op = fields[b"job"].decode(), fields[b"op"].decode()
                    now = time.monotonic()
                    if op == "post":
                        first.setdefault(job, now)
                    elif op == "close":
                        done[job] = now

    try:
        warm = uuid.uuid4().hex[:8]  # the first job pays the worker's start-up and imports
        enqueue(warm, "/translate fr warm up")
        wait_for({f"{prefix}:console:{warm}": "0-0"}, 1, {}, {})
        started = time.monotonic()
        enqueued: dict[str, float] = {}
        streams: dict[str, str] = {}
        for i in range(args.jobs):
            channel = uuid.uuid4().hex[:8]
            enqueued[enqueue(channel, f"/translate fr text {i}")] = time.monotonic()
            streams[f"{prefix}:console:{channel}"] = "0-0"
        first: dict[str, float] = {}
        done: dict[str, float] = {}
        wait_for(streams, args.jobs, first, done)
        wall = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
        tgi.stop()
        for k in services.redis.scan_iter(match=f"{prefix}:*", count=1000):
            services.redis.delete(k)

    ttft = [first[j] - enqueued[j] for j in first]
    total = [done[j] - enqueued[j] for j in done]
    one_job = args.first + args.tokens * args.gap
    lines = [
        f"- setup: {args.jobs} `/translate` jobs enqueued at once; one worker process, threads pool, "
        f"concurrency {args.jobs}; fake TGI with {args.first}s to the first token and {args.gap}s between "
        f"{args.tokens} tokens (one job alone takes about {one_job:.1f}s); 2 CPU cores",
        f"- completed: {len(done)}/{args.jobs} in {wall:.1f}s wall ({len(done) / wall:.1f} jobs/s); "
        f"run one after another they would take {args.jobs * one_job:.0f}s",
        f"- time to first text in chat: p50 {percentile(ttft, 0.5):.2f}s, p95 {percentile(ttft, 0.95):.2f}s",
        f"- time to final text: p50 {percentile(total, 0.5):.2f}s, p95 {percentile(total, 0.95):.2f}s, "
        f"max {max(total):.2f}s, mean {statistics.mean(total):.2f}s",
    ]
    write_section("Worker concurrency", "\n".join(lines), command="python -m bench.concurrency")
    print("\n".join(lines))
    return 0 if len(done) == args.jobs else 1


if __name__ == "__main__":
    raise SystemExit(main())
