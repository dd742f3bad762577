"""A lone-working sweep that is behind runs again at once; only one that has caught up waits.

The sweep steps at most SWEEP_BATCH sessions a transaction. It used to wait SWEEP_GAP (25 ms)
after every batch, full or not, so at 10,000 sessions (1,500 steps a second at the bench's peak)
its pace was capped by the gap plus the store's queue; after the delivery merge each hand-off
adds a store write to that queue and the sweeps fell a second behind (bench/lone_timers.py).
These tests read the re-armed wake-up's due time from the store, on both stores."""

from __future__ import annotations

import pytest

import handlers.lone_session as lone
from handlers.lone_session import SWEEP, SWEEP_GAP, open_session, sweep

MIN = 60
WORKERS = ("alice", "carol", "vic", "erin")  # one live session each


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(lone, "SWEEP_BATCH", 3)  # four sessions due: one more than a batch


async def _open(harness, count: int) -> None:
    people = [harness.engine.directory.person(k) for k in WORKERS[:count]]
    await harness.engine.perform(lambda tx: [open_session(tx, p, seconds=10 * MIN) for p in people])


async def _sweep_due(harness) -> float:
    """Run one sweep now; the time the sweep's next wake-up stands at."""
    await harness.engine.perform(sweep, "all")
    rows = await harness.query("SELECT due_at FROM wakeups WHERE kind=? AND status='pending'", SWEEP)
    assert len(rows) == 1
    return rows[0][0]


async def test_a_sweep_with_more_due_than_one_batch_runs_again_at_once(harness):
    await _open(harness, 4)
    harness.clock._now += 10 * MIN  # every reminder is due; the clock moves without waking anything
    now = harness.clock.now()
    assert await _sweep_due(harness) <= now  # one still due: no gap
    assert await _sweep_due(harness) >= now + SWEEP_GAP  # caught up: the next due waits the gap


async def test_nothing_more_due_waits_for_the_next_deadline(harness):
    await _open(harness, 2)
    harness.clock._now += 10 * MIN
    due = await _sweep_due(harness)
    assert due >= harness.clock.now() + SWEEP_GAP
