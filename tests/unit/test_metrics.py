"""The metrics the dashboard needs beyond the runner's hooks: time to the final text per
command and model, model reachability, the process's CPU and memory."""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry

from tertulia.metrics import ModelUpCollector, PrometheusObserver, register_process_metrics, series_names


def test_a_generation_is_timed_from_request_to_its_last_token() -> None:
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry=registry)
    labels = {"kind": "code", "model": "vllm"}
    observer.first_token(kind="code", model="vllm", seconds=0.3)
    time.sleep(0.05)
    observer.tokens(kind="code", model="vllm", prompt_tokens=10, generated_tokens=5)
    assert registry.get_sample_value("tertulia_generation_seconds_count", labels) == 1.0
    total = registry.get_sample_value("tertulia_generation_seconds_sum", labels)
    assert total is not None and total >= 0.35  # the 0.3 s before the first token count too
    assert registry.get_sample_value("tertulia_generation_seconds_bucket", {**labels, "le": "0.25"}) == 0.0


def test_a_generation_without_a_first_token_is_not_timed() -> None:
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry=registry)
    observer.tokens(kind="chat", model="tgi", prompt_tokens=3, generated_tokens=0)  # an empty stream
    assert registry.get_sample_value("tertulia_generation_seconds_count", {"kind": "chat", "model": "tgi"}) is None


def test_concurrent_jobs_time_their_own_generations() -> None:
    # The worker runs many jobs on threads; each job's first token pairs with its own end.
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry=registry)
    started = threading.Barrier(2)

    def job(model: str, before_first: float) -> None:
        started.wait()
        observer.first_token(kind="chat", model=model, seconds=before_first)
        time.sleep(0.05)
        observer.tokens(kind="chat", model=model, prompt_tokens=1, generated_tokens=1)

    threads = [threading.Thread(target=job, args=("slow", 5.0)), threading.Thread(target=job, args=("fast", 0.0))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slow = registry.get_sample_value("tertulia_generation_seconds_sum", {"kind": "chat", "model": "slow"})
    fast = registry.get_sample_value("tertulia_generation_seconds_sum", {"kind": "chat", "model": "fast"})
    assert slow is not None and slow >= 5.0
    assert fast is not None and fast < 5.0


def test_model_up_reports_each_model_and_survives_a_failing_check() -> None:
    registry = CollectorRegistry()
    status = {"tgi": True, "vllm": False}
    registry.register(ModelUpCollector(lambda: status))
    assert registry.get_sample_value("tertulia_model_up", {"model": "tgi"}) == 1.0
    assert registry.get_sample_value("tertulia_model_up", {"model": "vllm"}) == 0.0

    def broken() -> dict[str, bool]:
        raise OSError("health check exploded")

    failing = CollectorRegistry()
    failing.register(ModelUpCollector(broken))
    assert "tertulia_model_up" in series_names(failing)  # the family stays, without samples
    assert failing.get_sample_value("tertulia_model_up", {"model": "tgi"}) is None


def test_a_process_exports_its_cpu_and_memory() -> None:
    registry = CollectorRegistry()
    register_process_metrics(registry)
    cpu = registry.get_sample_value("process_cpu_seconds_total")
    rss = registry.get_sample_value("process_resident_memory_bytes")
    assert cpu is not None and cpu > 0
    assert rss is not None and rss > 10_000_000
    names = series_names(registry)
    assert "tertulia_jobs_total" in names and "tertulia_generation_seconds_bucket" in names
    assert "tertulia_queue_depth" not in names  # only a worker (with its Celery app) reads the queue


def test_votes_count_and_a_changed_vote_withdraws_the_old_one() -> None:
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry=registry)
    observer.feedback(model="tgi", command="chat", vote="up", replaced=None)
    observer.feedback(model="tgi", command="chat", vote="down", replaced="up")
    labels = {"model": "tgi", "kind": "chat"}
    assert registry.get_sample_value("tertulia_feedback_total", {**labels, "vote": "up"}) == 1.0
    assert registry.get_sample_value("tertulia_feedback_total", {**labels, "vote": "down"}) == 1.0
    assert registry.get_sample_value("tertulia_feedback_withdrawn_total", {**labels, "vote": "up"}) == 1.0
