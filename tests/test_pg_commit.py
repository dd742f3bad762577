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
