"""PostgreSQL faults a council's database can have: a dropped connection, a lost lease.

In-process, on a real PostgreSQL schema (skipped, and said so, without a server).
The process-level failover between two instances is in test_failover.py.
"""

from __future__ import annotations

import psycopg
import pytest

from bot.store import Fenced, Store
from tests import pgtest
from tests.conftest import start_engine


def _drop_connection(pid: int) -> bool:
    """What a database restart or a failover of a managed PostgreSQL does to our session."""
    with psycopg.connect(pgtest.PG_URL, autocommit=True) as c:
        return c.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]


async def test_a_dropped_connection_is_reopened_and_the_codeword_still_alerts_once(schema, clock):
    h = await start_engine(schema.url, clock)
    try:
        assert _drop_connection(h.engine.store._conn._conn.info.backend_pid)  # ours only: other tests run alongside
        await h.say("alice", "Is Mr Brown in today?")
        assert h.texts("alice") == ["I'll have a look in the staff room for you."]  # the cover reply, once
        card = h.last("bob")  # the duty manager's alert card, from the stored alert (not the emergency path)
        assert "Aggressive or threatening person" in card.text and "Alice Smith" in card.text
        assert [b.label for b in card.buttons] == ["Acknowledge", "Resolve", "Call police?"]
        assert not any("NOT SAVED" in t for t in h.texts("bob"))
        assert await h.query("SELECT COUNT(*) FROM alerts") == [(1,)]
    finally:
        await h.engine.stop()


async def test_a_store_whose_lease_passed_on_refuses_every_write(schema):
    store = await Store.open(schema.url, fence=1)
    try:
        schema.query("INSERT INTO lease(name, holder, generation, since, renewed_at, expires_at)"
                     " VALUES('active', 'me', 1, 0, 0, 1e12)")  # we hold generation 1, as bot.lease would record
        schema.query("UPDATE lease SET generation=2, holder='the other instance'")  # a takeover (bot.lease)
        told: list[str] = []
        store.on_fenced = told.append
        with pytest.raises(Fenced):
            await store.run(lambda c: c.execute("INSERT INTO inbound(key, at) VALUES('x', 1)"))
        assert told and "generation 1" in told[0]
        assert await store.read(lambda c: c.execute("SELECT COUNT(*) FROM inbound").fetchone()[0]) == 0
    finally:
        await store.close()


async def test_a_passed_lease_is_refused_whether_the_unit_read_first_or_only_wrote(schema):
    """The fence is checked before COMMIT: by the store when the unit's first read brought the generation
    back, by the server (in the transaction) when the unit only wrote. Either way nothing is committed, and
    the refusal names both generations, as the log an operator reads after a takeover does."""
    store = await Store.open(schema.url, fence=1)
    try:
        schema.query("INSERT INTO lease(name, holder, generation, since, renewed_at, expires_at)"
                     " VALUES('active', 'other', 2, 0, 0, 1e12)")
        units = {"reads first": lambda c: (c.execute("SELECT COUNT(*) FROM inbound").fetchone(),
                                           c.execute("INSERT INTO inbound(key, at) VALUES('r', 1)")),
                 "only writes": lambda c: c.execute("INSERT INTO inbound(key, at) VALUES('w', 1)")}
        for unit in units.values():
            with pytest.raises(Fenced, match=r"lease \(generation 1\) has passed to another instance \(generation 2\)"):
                await store.run(unit)
        assert await store.read(lambda c: c.execute("SELECT COUNT(*) FROM inbound").fetchone()[0]) == 0
    finally:
        await store.close()


async def test_a_takeover_ends_a_write_the_old_holder_began_before_it(schema):
    """Fencing has no gap: a write transaction the old holder began before its lease ran out (then
    stalled: a GC pause, a frozen VM) can never commit after a standby has taken over."""
    from bot.lease import Lease
    from bot.store import pg

    await (await Store.open(schema.url)).close()  # the schema, with its lease table
    old = pg.Connection(schema.url)
    try:
        old.fence = 1
        schema.query("INSERT INTO lease(name, holder, generation, since, renewed_at, expires_at)"
                      " VALUES('active', 'old', 1, 0, 0, 1)")  # generation 1, long expired
        old.begin()  # the fence check passes: generation 1 is still in the row
        old.execute("INSERT INTO inbound(key, at) VALUES('telegram:stale', 0)")
        standby = Lease(schema.url, ttl=5)
        try:
            assert await standby.try_acquire() and standby.generation == 2
        finally:
            await standby.release()
        with pytest.raises(psycopg.Error):
            old.commit()  # the old holder's transaction was ended by the takeover
    finally:
        old.close()
    assert schema.query("SELECT COUNT(*) FROM inbound") == [(0,)]


async def test_two_deployments_in_two_schemas_of_one_database_never_wait_for_each_other(schema):
    """Write locks are per schema: one deployment's long write (or takeover) leaves the other alone."""
    import asyncio

    from bot.store import pg

    other = pgtest.Schema()
    try:
        await (await Store.open(schema.url)).close()
        busy = pg.Connection(schema.url)
        busy.begin()  # holds this deployment's write lock
        store = await Store.open(other.url)
        try:
            await asyncio.wait_for(store.run(lambda c: c.execute("INSERT INTO inbound(key, at) VALUES('k', 1)")), 3)
        finally:
            await store.close()
            busy.raw("ROLLBACK")
            busy.close()
        assert other.query("SELECT key FROM inbound") == [("k",)]
    finally:
        other.drop()
