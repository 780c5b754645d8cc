"""The in-process rate budget: slots handed out locally, the shared budget asked once per lease."""

from __future__ import annotations

import pytest

from core.budget import LocalRateBudget


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class SharedBudget:
    """The shared budget as Redis keeps it: one booking per key, on the same clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.booked: dict[str, float] = {}
        self.asks: list[tuple[str, float]] = []
        self.penalties: list[tuple[str, float]] = []

    def try_acquire(self, key: str, interval: float) -> float:
        self.asks.append((key, interval))
        nxt = self.booked.get(key, 0.0)
        if self.clock.now >= nxt:
            self.booked[key] = self.clock.now + interval
            return 0.0
        return nxt - self.clock.now

    def penalize(self, key: str, seconds: float) -> None:
        self.penalties.append((key, seconds))
        self.booked[key] = max(self.booked.get(key, 0.0), self.clock.now + seconds)


def test_a_stream_asks_the_shared_budget_once_per_lease_not_once_per_update() -> None:
    clock = Clock()
    shared = SharedBudget(clock)
    budget = LocalRateBudget(shared, lease=0.5, clock=clock)
    granted = 0
    for _ in range(40):  # 2 s of tokens 50 ms apart, one update each
        granted += budget.try_acquire("console:a", 0.05) == 0.0
        clock.now += 0.05
    assert granted == 40
    assert shared.asks == [("console:a", 0.5)] * 4


def test_slots_of_a_lease_stay_one_interval_apart() -> None:
    clock = Clock()
    budget = LocalRateBudget(SharedBudget(clock), lease=0.5, clock=clock)
    assert budget.try_acquire("k", 0.05) == 0.0
    assert budget.try_acquire("k", 0.05) == pytest.approx(0.05)
    clock.now += 0.02
    assert budget.try_acquire("k", 0.05) == pytest.approx(0.03)


def test_a_destination_another_process_holds_waits_without_asking_again() -> None:
    clock = Clock()
    shared = SharedBudget(clock)
    shared.booked["k"] = clock.now + 0.3  # another worker's lease
    budget = LocalRateBudget(shared, lease=0.5, clock=clock)
    assert budget.try_acquire("k", 0.05) == pytest.approx(0.3)
    clock.now += 0.1
    assert budget.try_acquire("k", 0.05) == pytest.approx(0.2)
    assert len(shared.asks) == 1
    clock.now += 0.2
    assert budget.try_acquire("k", 0.05) == 0.0
    assert len(shared.asks) == 2


def test_a_long_interval_is_its_own_lease() -> None:
    clock = Clock()
    shared = SharedBudget(clock)
    budget = LocalRateBudget(shared, lease=0.5, clock=clock)
    assert budget.try_acquire("slack:C1", 1.2) == 0.0
    clock.now += 1.2
    assert budget.try_acquire("slack:C1", 1.2) == 0.0
    assert shared.asks == [("slack:C1", 1.2), ("slack:C1", 1.2)]


def test_a_penalty_reaches_the_shared_budget_and_ends_the_lease() -> None:
    clock = Clock()
    shared = SharedBudget(clock)
    budget = LocalRateBudget(shared, lease=0.5, clock=clock)
    assert budget.try_acquire("k", 0.05) == 0.0
    budget.penalize("k", 2.0)
    assert shared.penalties == [("k", 2.0)]
    clock.now += 0.1  # still inside the lease, but the platform said to wait
    assert budget.try_acquire("k", 0.05) == pytest.approx(1.9)
    clock.now += 1.9
    assert budget.try_acquire("k", 0.05) == 0.0


def test_destinations_are_budgeted_apart() -> None:
    clock = Clock()
    budget = LocalRateBudget(SharedBudget(clock), lease=0.5, clock=clock)
    assert budget.try_acquire("a", 0.05) == 0.0
    assert budget.try_acquire("b", 0.05) == 0.0




def test_a_console_channel_leases_its_first_2_5_s_locally_then_asks_once_per_lease() -> None:
    """The console's interval is ours: a short answer costs no round trip; a longer stream
    asks every 2.5 s; a platform's destination still asks every 0.5 s (issue 12)."""
    clock = Clock()
    shared = SharedBudget(clock)
    budget = LocalRateBudget(shared, lease=0.5, clock=clock, ours=lambda key: key.startswith("console:"))
    granted = 0
    for _ in range(40):  # 2 s of tokens 50 ms apart
        granted += budget.try_acquire("console:a", 0.05) == 0.0
        assert budget.try_acquire("console:a", 0.05) > 0  # still one slot per interval
        budget.try_acquire("slack:C1", 0.05)
        clock.now += 0.05
    assert granted == 40
    assert shared.asks == [("slack:C1", 0.5)] * 4  # the console channel asked nothing
    for _ in range(40):  # the same stream goes on past its first lease: one ask per lease
        budget.try_acquire("console:a", 0.05)
        clock.now += 0.05
    assert shared.asks.count(("console:a", 2.5)) == 1
    clock.now += 10  # quiet for a while: the next answer's first lease is local again
    assert budget.try_acquire("console:a", 0.05) == 0.0
    assert shared.asks.count(("console:a", 2.5)) == 1
