"""Tx.savepoint: a part of a unit of work that fails alone, on both stores."""

from __future__ import annotations

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
