"""deploy/: the Grafana dashboard and the Prometheus alert rules name only series that the
code exports (read from the registry tertulia.metrics builds, not from a list), the rules
are valid (`promtool check rules` when promtool is installed, and a schema check always),
and the provisioning files fit docker-compose.yml."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry

from core.settings import Settings
from tertulia.metrics import register_process_metrics, series_names

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "tertulia.json"
DATASOURCES = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = REPO / "deploy" / "grafana" / "provisioning" / "dashboards" / "tertulia.yml"
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
COMPOSE = REPO / "docker-compose.yml"
# Series Prometheus makes itself for every target.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

_FUNCTIONS_AND_KEYWORDS = {
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "deriv", "delta", "absent",
    "histogram_quantile", "clamp_min", "clamp_max", "label_values", "by", "without", "on", "ignoring",
    "group_left", "group_right", "and", "or", "unless", "bool", "offset", "topk", "bottomk",
}  # fmt: skip


@cache
def exported() -> frozenset[str]:
    """What a worker process exports: the same call start_process_ops makes, on a fresh registry."""
    from worker.celery_app import create_app

    registry = CollectorRegistry()
    offline = Settings(redis_url="redis://127.0.0.1:9/0")  # queue depth is read at scrape time only
    register_process_metrics(registry, celery_app=create_app(offline), model_status=lambda: {"tgi": True})
    return frozenset(series_names(registry))


def series_in(expr: str) -> set[str]:
    """The series names a PromQL expression reads (label matchers, grouping labels, strings,
    durations, numbers, Grafana variables and function names removed)."""
    text = re.sub(r"label_values\(([^,()]+),[^)]*\)", r"\1", expr)  # its second argument is a label
    text = re.sub(r'"[^"]*"', "", text)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\{?\w+\}?", "", text)
    names = set(re.findall(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()", text))
    return {n for n in names if n not in _FUNCTIONS_AND_KEYWORDS}


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def panel_queries() -> dict[str, list[str]]:
    return {panel["title"]: [t["expr"] for t in panel["targets"]] for panel in dashboard()["panels"]}


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


# --- names ------------------------------------------------------------------------------------


def test_the_registry_exports_the_dashboards_raw_material() -> None:
    names = exported()
    for needed in ("tertulia_jobs_total", "tertulia_generation_seconds_bucket", "tertulia_queue_depth",
                   "tertulia_queue_unacked", "tertulia_model_up", "process_cpu_seconds_total",
                   "process_resident_memory_bytes"):  # fmt: skip
        assert needed in names


def test_the_name_check_catches_an_unknown_series() -> None:
    expr = 'sum by (kind) (rate(tertulia_jobz_total{outcome="ok"}[5m])) / on (kind) tertulia_jobs_total'
    assert series_in(expr) == {"tertulia_jobz_total", "tertulia_jobs_total"}
    assert series_in(expr) - exported() == {"tertulia_jobz_total"}


def test_every_dashboard_query_names_exported_series() -> None:
    queries = panel_queries()
    assert queries
    for title, exprs in queries.items():
        for expr in exprs:
            unknown = series_in(expr) - exported() - PROMETHEUS_OWN
            assert not unknown, f"panel {title!r}: {sorted(unknown)} is exported by no code ({expr})"
    for variable in dashboard()["templating"]["list"]:
        unknown = series_in(variable["definition"]) - exported()
        assert not unknown, f"variable {variable['name']}: {sorted(unknown)}"


def test_every_alert_names_exported_series() -> None:
    for rule in rules():
        unknown = series_in(rule["expr"]) - exported() - PROMETHEUS_OWN
        assert not unknown, f"alert {rule['alert']}: {sorted(unknown)} is exported by no code"


# --- what the issue asks to see ---------------------------------------------------------------


def test_the_dashboard_shows_every_asked_panel_per_model_and_command() -> None:
    everything = "\n".join(expr for exprs in panel_queries().values() for expr in exprs)
    wanted = {
        "jobs per minute": r"rate\(tertulia_jobs_total\{[^}]*outcome!=\"retry\"",
        "time to first text": r"histogram_quantile\(0\.95, sum by \(le, kind, model\) \(rate\(tertulia_time_to_first",
        "time to final text": r"histogram_quantile\(0\.95, sum by \(le, kind, model\) \(rate\(tertulia_generation_",
        "queue depth": r"tertulia_queue_depth", "unacked": r"tertulia_queue_unacked",
        "retries": r'tertulia_model_errors_total\{[^}]*error_type=~"ModelOverloaded\|ModelUnavailable\|ModelStalled"',
        "give-ups": r'outcome="model_busy"',
        "tokens in": r"tertulia_prompt_tokens_total", "tokens out": r"tertulia_generated_tokens_total",
        "platform 429s": r"tertulia_platform_rate_limited_total",
        "worker CPU": r"process_cpu_seconds_total", "worker RSS": r"process_resident_memory_bytes",
    }  # fmt: skip
    for what, pattern in wanted.items():
        assert re.search(pattern, everything), f"no panel shows {what}"
    assert "histogram_quantile(0.5," in everything


def test_the_asked_alerts_exist_with_their_durations() -> None:
    by_name = {rule["alert"]: rule for rule in rules()}
    assert by_name["TertuliaModelUnavailable"]["for"] == "2m"
    assert "tertulia_model_up" in by_name["TertuliaModelUnavailable"]["expr"]
    assert by_name["TertuliaQueueDepthRising"]["for"] == "5m"
    assert "0.01" in by_name["TertuliaGiveUpRateHigh"]["expr"]
    assert 'job="tertulia-worker"' in by_name["TertuliaWorkerDown"]["expr"]
    assert 'job="tertulia-adapters"' in by_name["TertuliaAdapterDown"]["expr"]


# --- validity ---------------------------------------------------------------------------------

_DURATION = r"^[0-9]+(ms|s|m|h|d|w|y)$"
RULES_SCHEMA = {
    "type": "object",
    "required": ["groups"],
    "additionalProperties": False,
    "properties": {"groups": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["name", "rules"], "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "interval": {"type": "string", "pattern": _DURATION},
            "rules": {"type": "array", "items": {
                "type": "object", "required": ["alert", "expr"], "additionalProperties": False,
                "properties": {
                    "alert": {"type": "string", "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"},
                    "expr": {"type": "string", "minLength": 1},
                    "for": {"type": "string", "pattern": _DURATION},
                    "keep_firing_for": {"type": "string", "pattern": _DURATION},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }},
        },
    }}},
}  # fmt: skip


def balanced(expr: str) -> bool:
    depth = {"(": 0, "{": 0, "[": 0}
    pairs = {")": "(", "}": "{", "]": "["}
    for char in re.sub(r'"[^"]*"', "", expr):
        if char in depth:
            depth[char] += 1
        elif char in pairs:
            depth[pairs[char]] -= 1
            if depth[pairs[char]] < 0:
                return False
    return not any(depth.values())


def test_rules_match_the_rule_file_schema() -> None:
    """Always runs (CI machines may have no promtool): Prometheus's rule-file structure."""
    data = yaml.safe_load(RULES.read_text())
    jsonschema.validate(data, RULES_SCHEMA)
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    for rule in rules():
        assert balanced(rule["expr"]), rule["alert"]
    broken = {"groups": [{"name": "x", "rules": [{"alert": "A", "expr": "up", "for": "2 minutes"}]}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, RULES_SCHEMA)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool (Debian: apt-get install prometheus)")
def test_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(RULES.read_text().replace("max by (model) (tertulia_model_up) == 0", "max by (model (x) == 0"))
    assert subprocess.run([promtool, "check", "rules", str(broken)], capture_output=True, timeout=60).returncode != 0


# --- provisioning fits the compose stack ------------------------------------------------------


def test_grafana_provisioning_matches_the_compose_stack() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"] if v.startswith("./")}
    assert (REPO / mounts["/etc/grafana/provisioning"]).resolve() == PROVIDERS.parents[1]
    provider = yaml.safe_load(PROVIDERS.read_text())["providers"][0]
    assert (REPO / mounts[provider["options"]["path"]]).resolve() == DASHBOARD.parent
    source = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]
    for panel in dashboard()["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]


def test_prometheus_loads_the_alert_rules() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    prometheus = compose["services"]["prometheus"]
    targets = {c["source"]: c["target"] for c in prometheus["configs"]}
    assert (REPO / compose["configs"]["prometheus-alerts"]["file"]).resolve() == RULES
    config = yaml.safe_load(compose["configs"]["prometheus"]["content"])
    assert targets["prometheus-alerts"] in config["rule_files"]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"tertulia-worker", "tertulia-adapters"} <= jobs  # the names the alerts and panels use
