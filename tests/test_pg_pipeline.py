"""PostgreSQL: a unit of work's writes share one wait for the server, not one wait each.

Under load (a lone-working sweep escalating 100 sessions a second) every statement that waits for
its answer waits for the server's turn on the CPU too; ~25 such waits an escalation left missed
check-ins seconds late (bench/lone_timers.py --db postgresql). Writes nobody reads are pipelined;
a read still sees every write before it, and a refused write still undoes the unit
(tests/test_unit_savepoint.py). `waits` is the store's own count of the times it waits for an
answer (a statement outside a unit, or a sync of the unit's pipeline); the bench prints it too."""

from __future__ import annotations

from bot.store import Store


async def test_twenty_writes_in_one_unit_wait_for_the_server_a_few_times_not_twenty(schema):
    store = await Store.open(schema.url)
    try:
        before = store._conn.waits

        def unit(conn):  # noqa: ANN001, ANN202
            for i in range(20):
                conn.execute("INSERT INTO wakeups(kind, ref, due_at) VALUES(?,?,?)", ("test.pipe", str(i), i))
            conn.execute("UPDATE wakeups SET status='done' WHERE kind='test.pipe' AND ref='3'")

        await store.run(unit)
        waits = store._conn.waits - before
        assert waits <= 1, f"{waits} waits for 21 writes"  # the lock, the fence and every write answer with COMMIT
        rows = await store.read(lambda c: c.execute(
            "SELECT ref, status FROM wakeups WHERE kind='test.pipe' ORDER BY due_at").fetchall())
        assert [r[0] for r in rows] == [str(i) for i in range(20)]
        assert [r[0] for r in rows if r[1] == "done"] == ["3"]
    finally:
        await store.close()


async def test_a_read_inside_the_unit_sees_the_writes_sent_before_it(schema):
    store = await Store.open(schema.url)
    try:
        def unit(conn):  # noqa: ANN001, ANN202
            conn.execute("INSERT INTO wakeups(kind, ref, due_at) VALUES('test.pipe', 'a', 1)")
            cur = conn.execute("UPDATE wakeups SET due_at=2 WHERE kind='test.pipe'")
            key = conn.execute("INSERT INTO wakeups(kind, ref, due_at) VALUES('test.pipe', 'b', 3)").lastrowid
            seen = conn.execute("SELECT ref, due_at FROM wakeups WHERE kind='test.pipe' ORDER BY ref").fetchall()
            return cur.rowcount, key, [tuple(r) for r in seen]

        updated, key, seen = await store.run(unit)
        assert updated == 1 and isinstance(key, int)
        assert seen == [("a", 2.0), ("b", 3.0)]
    finally:
        await store.close()
