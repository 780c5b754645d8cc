"""bench/samples.py: the PromQL operations that bench/dashboard.py applies to scraped samples."""

from __future__ import annotations

import math

import pytest

from bench.samples import Scrapes


def scrapes_of(name: str, series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]) -> Scrapes:
    scrapes = Scrapes()
    for labels, points in series.items():
        scrapes.samples[name][labels].extend(points)
    return scrapes


def test_rate_sums_by_labels_and_counts_a_late_series_from_zero() -> None:
    a = (("kind", "chat"), ("platform", "slack"))
    b = (("kind", "chat"), ("platform", "discord"))
    scrapes = scrapes_of("jobs_total", {a: [(0.0, 10.0), (10.0, 30.0)], b: [(10.0, 5.0)]})
    (series,) = scrapes.rate("jobs_total", ("kind",), window=10.0).values()
    assert series == [(10.0, pytest.approx((20.0 + 5.0) / 10.0))]


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    def bucket(le: str) -> tuple[tuple[str, str], ...]:
        return (("le", le), ("model", "m"))

    counts = {"1.0": 0.0, "2.0": 50.0, "4.0": 100.0, "+Inf": 100.0}
    scrapes = scrapes_of("t_bucket", {bucket(le): [(0.0, 0.0), (10.0, n)] for le, n in counts.items()})
    (p50,) = scrapes.quantile(0.5, "t", ("model",), window=10.0).values()
    (p95,) = scrapes.quantile(0.95, "t", ("model",), window=10.0).values()
    assert p50 == [(10.0, pytest.approx(2.0))]
    assert p95 == [(10.0, pytest.approx(2.0 + 2.0 * 45 / 50))]
    assert not any(math.isnan(v) for _, v in p95)
