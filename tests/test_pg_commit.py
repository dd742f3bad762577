"""PostgreSQL commits as the SQLite store does (WAL, synchronous=NORMAL): without waiting for the
WAL flush in every COMMIT, unless the store's URL asks for it. (The latency this buys is measured
by bench/failover.py, not here.)"""

from __future__ import annotations

from bot.store import Store
from tests.pgtest import PG_URL, with_schema


async def _setting(url: str) -> str:
    store = await Store.open(url)
    try:
        return await store.read(lambda c: c.execute("SHOW synchronous_commit").fetchone()[0])
    finally:
        await store.close()


async def test_the_store_does_not_wait_for_the_wal_flush_in_each_commit(schema):
    assert await _setting(schema.url) == "off"


async def test_a_url_that_asks_for_synchronous_commit_gets_it(schema):
    url = with_schema(PG_URL, f"{schema.name} -csynchronous_commit=on")
    assert await _setting(url) == "on"
