"""The queue path side by side with a direct asyncio client, in one run (issue 12).

Starts a private redis-server on a free loopback port, the instrumented TGI fake in its
own process (bench/model_server.py), and one real worker process (``tertulia worker``);
then, interleaved for each repetition and each N: N direct streams from one asyncio
process (raw aiohttp; huggingface_hub's AsyncInferenceClient once per N), and N
``/translate`` jobs through router -> Redis -> worker -> console event log. Then Redis
round trips per job (MONITOR), routing throughput with a zero-delay model, and raw Celery
no-op throughput on the same broker and settings. Writes docs/benchmarks.md and its plot.

Usage: .venv/bin/python -m bench.compare [--reps 3] [--sizes 1,64,256,512]
Needs redis-server on PATH; touches no other Redis. Takes about 4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import redis

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.queue_path import QueuePath, command_counts, delta, proc_cpu, proc_status, round_trips  # noqa: E402
from bench.report import Figures, write_report  # noqa: E402
from fakes.waiting import free_port, wait_until  # noqa: E402

# Our own calls in the measured window, not the path's: reading the console logs, INFO.
_OURS = {"info", "client|info"}

MODELS_TOML = """
default = "tgi"
[models.tgi]
description = "the instrumented fake TGI server"
flavour = "tgi"
url = "${TERTULIA_TGI_URL}"
prompt_format = "chatml"
max_new_tokens = "200"
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


@contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--maxclients", "10000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client: redis.Redis[bytes] = redis.Redis.from_url(url)
        wait_until(lambda: _pings(client), timeout=10)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _pings(client: redis.Redis[bytes]) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


class Model:
    """The fake TGI in its own process, and its control port."""

    def __init__(self, *, tokens: int, first: float, gap: float) -> None:
        self.port, self.control = free_port(), free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.model_server", "--port", str(self.port), "--control", str(self.control),
             "--tokens", str(tokens), "--first", str(first), "--gap", str(gap)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the model server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else (b"{}" if path != "/stats" else None)
        request = Request(f"http://127.0.0.1:{self.control}{path}", data=data, method="GET" if data is None else "POST")
        with urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def direct(model: Model, streams: int, client: str) -> dict[str, Any]:
    model.call("/reset")
    out = subprocess.run(
        [sys.executable, "-m", "bench.direct", "--url", model.url, "--streams", str(streams), "--client", client],
        cwd=REPO, capture_output=True, check=True, timeout=300,
    )
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    totals = result["totals"]
    return {
        "p50": percentile(totals, 0.5), "p99": percentile(totals, 0.99),
        "cpu_per_job": result["cpu"] / streams, "peak_streams": model.call("/stats")["peak"],
    }


def queued(queue: QueuePath, model: Model, monitor: redis.Redis[bytes], count: int) -> dict[str, Any]:
    model.call("/reset")
    pid = queue.worker.pid
    cpu, before = proc_cpu(pid), command_counts(monitor)
    run = queue.run(count)
    cpu, after = proc_cpu(pid) - cpu, command_counts(monitor)
    stats = model.call("/stats")
    if len(run.closed) < count:
        raise RuntimeError(f"only {len(run.closed)}/{count} jobs finished; see .run/bench-worker.log")
    used = delta(after, before)
    used["xread"] = used.get("xread", 0) - run.reader_calls
    commands = sum(v for k, v in used.items() if k not in _OURS)
    totals = [run.final[j] - run.enqueued[j] for j in run.closed]
    lags = [run.first_post[j] - stats["first_token"][run.marker[j]] for j in run.first_post
            if run.marker[j] in stats["first_token"]]
    return {
        "p50": percentile(totals, 0.5), "p99": percentile(totals, 0.99),
        "visible_lag_p99": percentile(lags, 0.99), "cpu_per_job": cpu / count,
        "rss_mb": proc_status(pid, "VmHWM"), "commands_per_job": commands / count,
        "peak_streams": stats["peak"], "by_command": used,
    }


def routing_throughput(queue: QueuePath, model: Model, jobs: int) -> float:
    model.call("/delays", {"first_token": 0.0, "between_tokens": 0.0})
    run = queue.run(jobs)
    if len(run.closed) < jobs:
        raise RuntimeError(f"only {len(run.closed)}/{jobs} zero-delay jobs finished")
    return jobs / (max(run.closed.values()) - min(run.enqueued.values()))


def noop_throughput(env: dict[str, str], tasks: int, log_path: Path) -> float:
    from bench.noop_app import NOOP, app, counter_key

    counter: redis.Redis[bytes] = redis.Redis.from_url(env["TERTULIA_REDIS_URL"])
    key = counter_key(env["TERTULIA_KEY_PREFIX"])
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bench.noop_app", "worker", "-P", "threads",
             "-c", env["TERTULIA_WORKER_CONCURRENCY"], "-Q", env["TERTULIA_QUEUE"], "-l", "WARNING",
             "--without-gossip", "--without-mingle"],
            cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            app.send_task(NOOP, queue=env["TERTULIA_QUEUE"])  # warm: the worker is up when this ran
            wait_until(lambda: counter.get(key) == b"1", timeout=60)
            counter.delete(key)
            started = time.time()
            for _ in range(tasks):
                app.send_task(NOOP, queue=env["TERTULIA_QUEUE"])
            wait_until(lambda: int(counter.get(key) or 0) >= tasks, timeout=120, interval=0.01)
            return tasks / (time.time() - started)
        finally:
            worker.terminate()
            worker.wait(timeout=30)


def versions() -> dict[str, str]:
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    redis_server = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    return {
        "machine": f"{cpu}, {os.cpu_count()} cores, Linux {os.uname().release}",
        "python": sys.version.split()[0],
        "celery": version("celery"), "redis-py": version("redis"), "aiohttp": version("aiohttp"),
        "huggingface_hub": version("huggingface_hub"),
        "redis-server": next((w[2:] for w in redis_server if w.startswith("v=")), "?"),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sizes", default="1,64,256,512")
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--first", type=float, default=0.5)
    parser.add_argument("--gap", type=float, default=0.05)
    parser.add_argument("--throughput-jobs", type=int, default=500)
    parser.add_argument("--noop-tasks", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true", help="print the figures; leave docs/ alone")
    parser.add_argument("--profile", metavar="SECONDS", type=int,
                        help="sample the worker's GIL holder with py-spy this long (.run/worker-profile.txt)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="tertulia-bench-"))
    (REPO / ".run").mkdir(exist_ok=True)
    figures = Figures(sizes=sizes, reps=args.reps, tokens=args.tokens, first=args.first, gap=args.gap,
                      versions=versions())
    try:
        with private_redis(workdir) as url:
            model = Model(tokens=args.tokens, first=args.first, gap=args.gap)
            models_file = workdir / "models.toml"
            models_file.write_text(MODELS_TOML)
            prefix = f"bench-{uuid.uuid4().hex[:8]}"
            env = {
                "TERTULIA_REDIS_URL": url, "TERTULIA_KEY_PREFIX": prefix, "TERTULIA_QUEUE": f"{prefix}-jobs",
                "TERTULIA_TGI_URL": model.url, "TERTULIA_MODEL": "tgi", "TERTULIA_MODELS_FILE": str(models_file),
                "TERTULIA_WORKER_CONCURRENCY": str(max(sizes)), "TERTULIA_LOG_LEVEL": "WARNING",
                # One bench user sends every job: the per-user waiting limit would refuse most.
                "TERTULIA_MAX_WAITING_PER_USER": str(100 * max(sizes)),
            }
            monitor: redis.Redis[bytes] = redis.Redis.from_url(url)
            profile = None
            if args.profile:
                profile = [str(Path(sys.executable).parent / "py-spy"), "record", "--gil", "--format", "raw",
                           "-r", "50", "-d", str(args.profile), "-o", str(REPO / ".run" / "worker-profile.txt"), "--"]
            queue = QueuePath(env=env, log_path=REPO / ".run" / "bench-worker.log", profile=profile)
            figures.interval = queue.settings.console_update_interval
            figures.pool = queue.settings.worker_pool
            figures.load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
            try:
                queue.run(1)  # the first job waits for the worker's start-up and pays its imports
                for rep in range(args.reps):
                    for n in sizes:
                        figures.add(n, "direct", direct(model, n, "aiohttp"))
                        if rep == 0:
                            figures.add(n, "hf", direct(model, n, "hf"))
                        figures.add(n, "queue", queued(queue, model, monitor, n))
                        print(f"rep {rep + 1} N={n}: {figures.line(n)}", flush=True)
                reader = queue.reader.client_info()["addr"]
                with round_trips(url, lambda: {reader}) as counts:
                    run = queue.run(64)
                figures.round_trips = {k: v / len(run.closed) for k, v in counts.items()}
                figures.routing = routing_throughput(queue, model, args.throughput_jobs)
                # The model still answers at once: the direct client's cost for the same stream.
                figures.direct_zero_delay_cpu = direct(model, 256, "aiohttp")["cpu_per_job"]
            finally:
                queue.close()
                queue.cleanup()
                model.stop()
            figures.noop = noop_throughput(env, args.noop_tasks, REPO / ".run" / "bench-noop.log")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures.seconds = time.monotonic() - started
    print(figures.summary())
    print("round trips per job:", {k: round(v, 1) for k, v in figures.round_trips.items()})
    if not args.no_write:
        write_report(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
