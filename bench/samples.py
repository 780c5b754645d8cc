"""Prometheus samples scraped from /metrics over a run, and the few PromQL operations the
dashboard's panels use (rate, sum by, max by, histogram_quantile), done in Python so that
bench/dashboard.py can draw the panels without a Prometheus or a Grafana."""

from __future__ import annotations

import math
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Series = dict[Labels, list[tuple[float, float]]]  # labels -> [(t, value)]
Matcher = Callable[[Mapping[str, str]], bool]


def everything(_labels: Mapping[str, str]) -> bool:
    return True


@dataclass
class Scrapes:
    """Every sample of every scrape: name -> labels -> [(seconds since start, value)]."""

    samples: dict[str, Series] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))

    def scrape(self, url: str, at: float) -> None:
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                self.samples[sample.name][labels].append((at, float(sample.value)))

    def times(self) -> list[float]:
        seen = {t for series in self.samples.values() for points in series.values() for t, _ in points}
        return sorted(seen)

    def gauge(self, name: str, by: Iterable[str], agg: str = "max", where: Matcher = everything) -> Series:
        """``max by (labels) (name)`` (or ``sum``) at each scrape."""
        keys = tuple(by)
        grouped: dict[Labels, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        for labels, points in self.samples.get(name, {}).items():
            label_map = dict(labels)
            if not where(label_map):
                continue
            group = tuple((k, label_map.get(k, "")) for k in keys)
            for t, value in points:
                grouped[group][t].append(value)
        pick = max if agg == "max" else sum
        return {g: sorted((t, float(pick(vs))) for t, vs in by_t.items()) for g, by_t in grouped.items()}

    def rate(self, name: str, by: Iterable[str], *, window: float, where: Matcher = everything) -> Series:
        """``sum by (labels) (rate(name[window]))``, per second, at each scrape. A series that
        appears mid-run starts from zero (the counter did not exist before: no event)."""
        keys = tuple(by)
        grouped: dict[Labels, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        times = self.times()
        for labels, points in self.samples.get(name, {}).items():
            label_map = dict(labels)
            if not where(label_map):
                continue
            group = tuple((k, label_map.get(k, "")) for k in keys)
            value_at = dict(points)
            for t in times:
                start = max(t - window, times[0])
                if t - start < 1.0:  # too short a window to say anything
                    continue
                now = _last_at_or_before(value_at, t)
                before = _last_at_or_before(value_at, start)
                grouped[group][t] += max(0.0, now - before) / (t - start)
        return {g: sorted(by_t.items()) for g, by_t in grouped.items()}

    def quantile(self, q: float, histogram: str, by: Iterable[str], *, window: float) -> Series:
        """``histogram_quantile(q, sum by (le, labels) (rate(histogram_bucket[window])))``."""
        keys = tuple(by)
        buckets = self.rate(f"{histogram}_bucket", (*keys, "le"), window=window)
        per_group: dict[Labels, dict[float, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
        for labels, points in buckets.items():
            label_map = dict(labels)
            group = tuple((k, label_map[k]) for k in keys)
            bound = math.inf if label_map["le"] == "+Inf" else float(label_map["le"])
            for t, value in points:
                per_group[group][t].append((bound, value))
        out: Series = {}
        for group, by_t in per_group.items():
            points = [(t, _bucket_quantile(q, sorted(bs))) for t, bs in sorted(by_t.items())]
            out[group] = [(t, v) for t, v in points if not math.isnan(v)]
        return out


def _last_at_or_before(values: Mapping[float, float], t: float) -> float:
    earlier = [at for at in values if at <= t]
    return values[max(earlier)] if earlier else 0.0


def _bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's interpolation inside the bucket that holds the q-th observation."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return math.nan
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound
