"""The PostgreSQL half of the suite: a fresh schema per test on the test server.

SAFERBOT_TEST_PG names the server (default: the local one, trust auth, database `test`).
Without a reachable server the PostgreSQL tests are skipped and the run says so, except
under CI (CI=true or SAFERBOT_TEST_PG_REQUIRED=1), where an unreachable server fails it.
"""

from __future__ import annotations

import atexit
import os
import uuid
from functools import cache
from urllib.parse import quote

import pytest

PG_URL = os.environ.get("SAFERBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRED = os.environ.get("SAFERBOT_TEST_PG_REQUIRED", "") == "1" or os.environ.get("CI", "") == "true"
HOW = ("PostgreSQL tests skipped: no server at {url} ({why}). To run them, start PostgreSQL 15+ and set "
       "SAFERBOT_TEST_PG=postgresql://user@host:5432/db (trust or password in the URL).")


@cache
def unavailable() -> str | None:
    """Why the test server can't be used, or None."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as c:
            c.execute("SELECT 1")
    except Exception as e:  # any failure means: no PostgreSQL here
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    return None


def need() -> None:
    why = unavailable()
    if why:
        if REQUIRED:
            pytest.fail(f"PostgreSQL is required here (CI) but unreachable at {PG_URL}: {why}", pytrace=False)
        pytest.skip(HOW.format(url=PG_URL, why=why))


def with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote('-csearch_path=' + schema)}"


_SPARE: list[str] = []  # this worker's emptied schemas, migrated to the current version, for the next test


def _latest() -> dict[str, int]:
    from bot.store.migrations import COMPONENTS

    return {name: len(steps) for name, steps in COMPONENTS.items() if steps}


@atexit.register
def _drop_spares() -> None:
    if _SPARE:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as c:
            for name in _SPARE:
                c.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


# the catalogs a schema's tables, indexes, identities and triggers have rows in (a run of the suite left ~110,000 dead
# rows in pg_class, ~60,000 in pg_attribute and ~23,000 in pg_depend)
CATALOGS = ("pg_class", "pg_attribute", "pg_depend", "pg_index", "pg_type", "pg_attrdef", "pg_constraint",
            "pg_sequence", "pg_trigger", "pg_namespace")


def vacuum_catalogs() -> None:
    """Leave the server as the suite found it: the suite makes, empties and drops schemas by the thousand, and every
    one leaves dead rows in the system catalogs. A server with autovacuum off (as the development one is) kept them
    all, and after a few runs every catalog lookup read through a million dead rows: PostgreSQL's benchmark figures
    drifted worse through the day (docs/development.md). Run once the workers are gone; a user who may not
    vacuum a catalog only gets PostgreSQL's warning."""
    if unavailable():
        return
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as c:
        c.execute(f"VACUUM {', '.join('pg_catalog.' + t for t in CATALOGS)}")


class Schema:
    """An empty schema: its URL for SAFERBOT_DB; emptied (or dropped) afterwards.

    Creating saferbot's tables costs PostgreSQL about 0.35 s of catalog work, so a schema is
    reused by the next test in the same worker once it has been emptied (TRUNCATE ... RESTART
    IDENTITY: no rows, ids from 1 again), but only if it is exactly at the current migration
    version; anything else (a test that added a step, a broken one) is dropped.
    """

    def __init__(self) -> None:
        import psycopg

        need()
        if _SPARE:
            self.name = _SPARE.pop()
        else:
            self.name = "t_" + uuid.uuid4().hex[:12]
            with psycopg.connect(PG_URL, autocommit=True) as c:
                c.execute(f"CREATE SCHEMA {self.name}")
        self.url = with_schema(PG_URL, self.name)

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as c:
            try:
                versions = dict(c.execute(f"SELECT component, version FROM {self.name}.schema_version").fetchall())
                if versions == _latest():
                    tables = [r[0] for r in c.execute(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema=%s"
                        " AND table_type='BASE TABLE' AND table_name<>'schema_version'", (self.name,))]
                    c.execute(f"TRUNCATE {', '.join(f'{self.name}.{t}' for t in tables)} RESTART IDENTITY CASCADE")
                    _SPARE.append(self.name)
                    return
            except psycopg.Error:
                pass  # no tables yet, or not ours to keep
            c.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")

    def query(self, sql: str, *args):
        """Rows of one query on this schema, as the bot's own store reads them."""
        from bot.store import pg

        conn = pg.Connection(self.url)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()
