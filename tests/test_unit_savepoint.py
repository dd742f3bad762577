"""Tx.savepoint: a part of a unit of work that fails alone, on both stores."""

from __future__ import annotations

import time

import pytest

from bot.messages import Outbound
from tests.conftest import settle


async def test_a_failed_part_is_undone_and_the_rest_of_the_unit_stands(harness):
    alice = harness.engine.directory.person("alice")
    moved = []

    def unit(tx):  # noqa: ANN001, ANN202
        tx.send(alice, Outbound("kept"))
        try:
            with tx.savepoint("part"):
                tx.send(alice, Outbound("undone"))
                tx.wake("test.none", "x", tx.now + 60)
                tx.then(lambda: moved.append("undone"))
                raise RuntimeError("one part fails")
        except RuntimeError:
            pass
        with tx.savepoint("part"):
            tx.then(lambda: moved.append("kept"))

    await harness.engine.perform(unit)
    await settle(harness.engine)
    assert harness.texts("alice") == ["kept"]
    assert moved == ["kept"]
    assert (await harness.query("SELECT COUNT(*) FROM wakeups WHERE kind='test.none'"))[0][0] == 0


@pytest.mark.parametrize("answered", [False, True], ids=["unanswered", "answered-before-the-part-ends"])
async def test_a_write_the_database_refuses_undoes_its_part_even_unread(harness, answered):
    """On PostgreSQL a unit's writes are pipelined (sent without waiting for each answer): a write the
    server refuses, whose result nobody reads, must still fail its own part there, not the whole unit.
    When the refusal has come back before the part ends (a busy machine), the part's RELEASE is what meets
    it, outside the part: that too fails the part alone, not the unit with PipelineAborted."""
    alice = harness.engine.directory.person("alice")

    def unit(tx):  # noqa: ANN001, ANN202
        tx.send(alice, Outbound("kept"))
        try:
            with tx.savepoint("part"):
                tx.send(alice, Outbound("undone"))
                tx.conn.execute("INSERT INTO wakeups(id, kind, ref, due_at) VALUES(1, 'test.a', 'x', 0)")
                tx.conn.execute("INSERT INTO wakeups(id, kind, ref, due_at) VALUES(1, 'test.b', 'x', 0)")  # same key
                if answered:
                    time.sleep(0.2)  # the server's answer is in before the part's RELEASE is sent
        except Exception:  # noqa: BLE001 - sqlite3.IntegrityError or psycopg's UniqueViolation
            pass
        tx.wake("test.after", "y", tx.now + 60)

    await harness.engine.perform(unit)
    await settle(harness.engine)
    assert harness.texts("alice") == ["kept"]
    kinds = [r[0] for r in await harness.query("SELECT kind FROM wakeups WHERE kind LIKE 'test.%'")]
    assert kinds == ["test.after"]


async def test_a_refused_write_nobody_reads_still_undoes_the_whole_unit(harness):
    alice = harness.engine.directory.person("alice")

    def unit(tx):  # noqa: ANN001, ANN202
        tx.send(alice, Outbound("never"))
        tx.conn.execute("INSERT INTO wakeups(id, kind, ref, due_at) VALUES(1, 'test.a', 'x', 0)")
        tx.conn.execute("INSERT INTO wakeups(id, kind, ref, due_at) VALUES(1, 'test.b', 'x', 0)")

    try:
        await harness.engine.perform(unit)
    except Exception as e:  # noqa: BLE001
        refused = type(e).__name__
    else:
        refused = ""
    await settle(harness.engine)
    assert refused in ("IntegrityError", "UniqueViolation")
    assert harness.texts("alice") == []
    assert await harness.query("SELECT kind FROM wakeups WHERE kind LIKE 'test.%'") == []


async def test_a_refusal_a_later_part_meets_still_undoes_its_own_part_only(harness):
    """Parts under one savepoint name, as an intake batch's events and a sweep's sessions are. On PostgreSQL
    the first part's refused write is still unanswered when that part ends, and the next part's read is what
    meets it. Handled there, it would roll back the first part on the server while the bot believed the
    second had failed: the first event's messages and alert gone, though confirmed to its platform. The first
    part is undone and the second stands, as on SQLite."""
    alice = harness.engine.directory.person("alice")
    failed: list[str] = []

    def unit(tx):  # noqa: ANN001, ANN202
        failed.clear()  # PostgreSQL may run the unit twice (bot.store.part_done)
        for label in ("first", "second"):
            try:
                with tx.savepoint("part"):
                    tx.send(alice, Outbound(label))
                    tx.wake(f"test.{label}", "x", tx.now + 60)
                    if label == "first":
                        tx.conn.execute("INSERT INTO wakeups(id, kind, ref, due_at) VALUES(-1, 'test.a', 'x', 0)")
                        tx.conn.execute("INSERT INTO wakeups(id, kind, ref, due_at) VALUES(-1, 'test.b', 'x', 0)")
                    else:
                        tx.conn.execute("SELECT COUNT(*) FROM wakeups").fetchone()
            except Exception:  # noqa: BLE001 - sqlite3.IntegrityError or psycopg's UniqueViolation
                failed.append(label)

    await harness.engine.perform(unit)
    await settle(harness.engine)
    assert failed == ["first"]
    assert harness.texts("alice") == ["second"]
    kinds = [r[0] for r in await harness.query("SELECT kind FROM wakeups WHERE kind LIKE 'test.%'")]
    assert kinds == ["test.second"]
