"""PostgreSQL commits are durable by default: an alert confirmed to its platform survives a crash of
the database server, so the store keeps the server's `synchronous_commit` (on) unless the service's
URL trades it away. (What the flush costs is measured by bench/failover.py, not here.)"""

from __future__ import annotations

from bot.store import Store
from tests.pgtest import PG_URL, with_schema


async def _setting(url: str) -> str:
    store = await Store.open(url)
    try:
        return await store.read(lambda c: c.execute("SHOW synchronous_commit").fetchone()[0])
    finally:
        await store.close()


async def test_every_commit_waits_for_the_wal_flush_by_default(schema):
    assert await _setting(schema.url) == "on"


async def test_a_url_that_trades_durability_for_latency_gets_it(schema):
    url = with_schema(PG_URL, f"{schema.name} -csynchronous_commit=off")
    assert await _setting(url) == "off"


async def test_only_the_started_mark_commits_without_waiting_for_the_flush(schema):
    """The started mark (a flag on rows already stored) is the one commit that does not wait: a database-server
    crash in those milliseconds loses the flag, so the message goes again unmarked; every other commit waits."""
    from bot.store import outbox

    store = await Store.open(schema.url)
    try:
        def mark(conn):  # noqa: ANN001, ANN202
            outbox.mark_started(conn, [1], 0.0)
            return conn.execute("SELECT current_setting('synchronous_commit')").fetchone()[0]

        def other(conn):  # noqa: ANN001, ANN202
            conn.execute("INSERT INTO inbound(key, at) VALUES('x', 1)")
            return conn.execute("SELECT current_setting('synchronous_commit')").fetchone()[0]

        assert await store.run(mark) == "off"
        assert await store.run(other) == "on"  # SET LOCAL ended with the mark's transaction
    finally:
        await store.close()
