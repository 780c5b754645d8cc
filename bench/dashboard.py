"""The Grafana dashboard's panels (deploy/grafana/dashboards/tertulia.json), drawn with
matplotlib from the Prometheus samples of a short run, for docs/deploy.md: Grafana does not
run where this was built.

The run: the TGI-protocol fake as two models (`tgi`, native API, for /translate, /chat and
/summarize; `openai-test`, through its OpenAI-compatible API, for /code), one real Celery worker
with its metrics port, and waves of console jobs through the router, as adapters send them.
Midway the `tgi` model answers 429 for a while (retries, then give-ups) and reports itself
unhealthy; then a burst larger than the worker's concurrency fills the queue. /metrics is
scraped every second; each panel applies the same PromQL as the dashboard (bench/samples.py).

Usage: .venv/bin/python -m bench.dashboard [--seconds 90] [--out docs/dashboard.png]
Needs a Redis at TERTULIA_TEST_REDIS (default redis://127.0.0.1:6379); database 13, a key
prefix of its own, and deletes only its own keys.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.samples import Scrapes, Series  # noqa: E402
from fakes.tgi_server import FakeTGI  # noqa: E402
from fakes.waiting import free_port, wait_until  # noqa: E402

DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "tertulia.json"
RETRIED = {"ModelOverloaded", "ModelUnavailable", "ModelStalled"}  # the retryable model errors (core/errors.py)
WINDOW = 15.0  # seconds: the rate window of every panel (Grafana's $__rate_interval)
JOBS = {  # command line -> share of the traffic
    "/translate fr The report is ready.": 4,
    "/chat what is a queue?": 3,
    "/code a Python function that adds two numbers": 2,
    "/summarize " + "A long paragraph about queues and workers. " * 12: 1,
}


def panel_series(scrapes: Scrapes) -> dict[str, list[tuple[str, Series]]]:
    """Each dashboard panel's queries, evaluated on the run's samples: title -> [(legend, series)]."""
    r = scrapes.rate
    per_minute = 60.0

    def scaled(series: Series, factor: float) -> Series:
        return {k: [(t, v * factor) for t, v in pts] for k, pts in series.items()}

    km = ("kind", "model")
    return {
        "Jobs per minute, by command and platform": [
            ("", scaled(r("tertulia_jobs_total", ("kind", "platform"), window=WINDOW,
                          where=lambda lb: lb["outcome"] != "retry"), per_minute))],
        "Generations per minute, by model and command": [
            ("", scaled(r("tertulia_generation_seconds_count", km, window=WINDOW), per_minute))],
        "Time to first text (p50, p95), by model and command": [
            ("p50", scrapes.quantile(0.5, "tertulia_time_to_first_token_seconds", km, window=WINDOW)),
            ("p95", scrapes.quantile(0.95, "tertulia_time_to_first_token_seconds", km, window=WINDOW))],
        "Time to final text (p50, p95), by model and command": [
            ("p50", scrapes.quantile(0.5, "tertulia_generation_seconds", km, window=WINDOW)),
            ("p95", scrapes.quantile(0.95, "tertulia_generation_seconds", km, window=WINDOW)),
            ("p95 in chat", scrapes.quantile(0.95, "tertulia_delivery_latency_seconds", ("platform",), window=WINDOW))],
        "Queue depth and unacked": [
            ("waiting", scrapes.gauge("tertulia_queue_depth", ())),
            ("unacked", scrapes.gauge("tertulia_queue_unacked", ()))],
        "Retries (by model) and give-ups (by command) per minute": [
            ("retried", scaled(r("tertulia_model_errors_total", ("model", "error_type"), window=WINDOW,
                                 where=lambda lb: lb["error_type"] in RETRIED), per_minute)),
            ("give-up", scaled(r("tertulia_jobs_total", ("kind",), window=WINDOW,
                                 where=lambda lb: lb["outcome"] == "model_busy"), per_minute))],
        "Tokens per second in and out, by model and command": [
            ("in", r("tertulia_prompt_tokens_total", km, window=WINDOW)),
            ("out", r("tertulia_generated_tokens_total", km, window=WINDOW))],
        "Platform 429s per minute": [
            ("", scaled(r("tertulia_platform_rate_limited_total", ("platform",), window=WINDOW), per_minute))],
        "Worker CPU": [("worker", r("process_cpu_seconds_total", (), window=WINDOW))],
        "Worker memory (RSS)": [
            ("worker MB", {k: [(t, v / 1e6) for t, v in pts]
                           for k, pts in scrapes.gauge("process_resident_memory_bytes", ()).items()})],
        "Model reachable, and model errors per minute": [
            ("up", scrapes.gauge("tertulia_model_up", ("model",))),
            ("", scaled(r("tertulia_model_errors_total", ("model", "error_type"), window=WINDOW), per_minute))],
    }  # fmt: skip


def render(scrapes: Scrapes, out: Path, *, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = [panel["title"] for panel in json.loads(DASHBOARD.read_text())["panels"]]
    panels = panel_series(scrapes)
    missing = set(titles) ^ set(panels)
    assert not missing, f"the rendering and the dashboard disagree on panels: {sorted(missing)}"
    columns = 3
    rows = -(-len(titles) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(18, 4.2 * rows), squeeze=False)
    for ax, title in zip(axes.flat, titles, strict=False):
        drawn = 0
        twin = None
        for legend, series in panels[title]:
            for labels, points in sorted(series.items()):
                if not points:
                    continue
                name = " ".join(v for _, v in labels)
                target = ax
                if legend == "up":  # 0/1 beside counts per minute: its own axis
                    twin = twin or ax.twinx()
                    twin.set_ylim(-0.05, 1.3)
                    twin.set_ylabel("model up (1) / down (0)", fontsize=8)
                    target = twin
                target.plot([t for t, _ in points], [v for _, v in points], label=f"{legend} {name}".strip(),
                            lw=1.4, ls="--" if target is twin else "-")
                drawn += 1
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("seconds into the run", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=7, loc="upper left")
            if twin is not None:
                twin.legend(fontsize=7, loc="upper right")
        else:
            ax.text(0.5, 0.5, "no samples in this run", ha="center", va="center", transform=ax.transAxes, color="grey")
    for ax in list(axes.flat)[len(titles):]:
        ax.axis("off")
    fig.suptitle(f"Tertulia dashboard panels, rendered from a {note}", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


def run(seconds: float, scrapes: Scrapes) -> str:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    base = os.environ.get("TERTULIA_TEST_REDIS", "redis://127.0.0.1:6379")
    tgi, second = FakeTGI().start(free_port()), FakeTGI().start(free_port())
    tgi.set_delays(first_token=0.3, between_tokens=0.03)
    second.set_delays(first_token=0.6, between_tokens=0.02)
    metrics_port = free_port()
    env = {
        "TERTULIA_REDIS_URL": f"{base}/13",
        "TERTULIA_KEY_PREFIX": prefix,
        "TERTULIA_QUEUE": f"{prefix}-jobs",
        "TERTULIA_TGI_URL": tgi.url,
        "TERTULIA_TEST_OPENAI_URL": f"{second.url}/v1",
        "TERTULIA_MODEL": "tgi",
        "TERTULIA_CODE_MODEL": "openai-test",
        "TERTULIA_MODELS_FILE": str(REPO / "tests" / "data" / "models.toml"),
        "TERTULIA_WORKER_CONCURRENCY": "12",
        "TERTULIA_MODEL_RETRIES": "2",
        "TERTULIA_RETRY_BACKOFF_BASE": "0.5",
        "TERTULIA_RETRY_BACKOFF_MAX": "2",
        "TERTULIA_METRICS_PORT": str(metrics_port),
        "TERTULIA_CONSOLE_UPDATE_INTERVAL": "0.5",
    }
    os.environ.update(env)
    from core.messages import InboundMessage
    from core.settings import Settings
    from tertulia.bootstrap import build_router, build_services

    services = build_services(Settings())
    router = build_router(services)
    log_path = REPO / ".run" / "bench-dashboard-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tertulia.cli", "worker", "--without-gossip", "--without-mingle", "-l", "WARNING"],
            cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        sent = 0

        def send(count: int) -> None:
            nonlocal sent
            lines = random.choices(list(JOBS), weights=list(JOBS.values()), k=count)
            for line in lines:
                channel = uuid.uuid4().hex[:8]
                message = InboundMessage(platform="console", workspace="bench", channel=channel, user="b", text=line)
                router.handle(message)
                sent += 1

        def scraped() -> bool:
            try:
                scrapes.scrape(url, 0.0)
                return True
            except OSError:
                return False

        try:
            wait_until(scraped, timeout=60, interval=0.5)
            started = time.monotonic()
            events: list[tuple[float, Callable[[], None]]] = [
                (0.35 * seconds, lambda: tgi.fail_next("http_429", times=40)),
                (0.35 * seconds, lambda: tgi.set_healthy(False)),
                (0.55 * seconds, lambda: tgi.set_healthy(True)),
                (0.65 * seconds, lambda: send(120)),  # a burst: the queue fills, then drains
            ]
            while (elapsed := time.monotonic() - started) < seconds:
                while events and events[0][0] <= elapsed:
                    events.pop(0)[1]()
                if elapsed < 0.9 * seconds:
                    send(random.choice((1, 2, 2, 3)))
                scrapes.scrape(url, elapsed)
                time.sleep(max(0.0, 1.0 - (time.monotonic() - started - elapsed)))
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            tgi.stop()
            second.stop()
            for key in services.redis.scan_iter(match=f"{prefix}:*", count=1000):
                services.redis.delete(key)
    return f"{seconds:.0f}-second run: {sent} console jobs, one worker (concurrency 12), the TGI fake as two models"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "dashboard.png")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    random.seed(args.seed)
    scrapes = Scrapes()
    note = run(args.seconds, scrapes)
    render(scrapes, args.out, note=note)
    summary: dict[str, Any] = {
        "scrapes": len(scrapes.times()),
        "jobs": {dict(k).get("outcome", ""): v[-1][1] for k, v in scrapes.gauge(
            "tertulia_jobs_total", ("outcome",), agg="sum").items()},
        "peak queue depth": max((v for pts in scrapes.gauge("tertulia_queue_depth", ()).values() for _, v in pts),
                                default=0.0),
    }  # fmt: skip
    print(note)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
