"""The store: WAL, schema versions and forward migrations on a real SQLite file."""

from __future__ import annotations

import pytest

from bot.store import Store, migrations, statements


async def test_fresh_database_is_wal_and_at_every_components_latest_version(tmp_path):
    store = await Store.open(tmp_path / "s.db")
    try:
        mode = await store.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        versions = dict(await store.read(lambda c: c.execute("SELECT component, version FROM schema_version")
                                         .fetchall()))
    finally:
        await store.close()
    assert mode == "wal"
    assert versions == {name: len(steps) for name, steps in migrations.COMPONENTS.items() if steps}


async def test_a_new_step_is_applied_once_to_an_existing_database_and_data_survives(tmp_path, monkeypatch):
    db = tmp_path / "s.db"
    store = await Store.open(db)
    await store.run(lambda c: c.execute("INSERT INTO inbound(key, at) VALUES('telegram:1', 0)"))
    await store.close()

    core = [*migrations.COMPONENTS["core"], "ALTER TABLE inbound ADD COLUMN note TEXT DEFAULT 'x'"]
    monkeypatch.setitem(migrations.COMPONENTS, "core", core)
    for _ in range(2):  # opening again does not re-apply it
        store = await Store.open(db)
        rows = await store.read(lambda c: c.execute("SELECT key, note FROM inbound").fetchall())
        version = await store.read(lambda c: c.execute(
            "SELECT version FROM schema_version WHERE component='core'").fetchone()[0])
        await store.close()
        assert [tuple(r) for r in rows] == [("telegram:1", "x")] and version == len(core)


async def test_a_failing_unit_of_work_leaves_nothing_behind(tmp_path):
    store = await Store.open(tmp_path / "s.db")

    def half_done(c):
        c.execute("INSERT INTO inbound(key, at) VALUES('slack:1', 0)")
        raise RuntimeError("crash in the middle")

    try:
        with pytest.raises(RuntimeError):
            await store.run(half_done)
        count = await store.read(lambda c: c.execute("SELECT COUNT(*) FROM inbound").fetchone()[0])
    finally:
        await store.close()
    assert count == 0


def test_statement_splitter_keeps_trigger_bodies_whole():
    script = """CREATE TABLE a(x); CREATE TRIGGER t AFTER INSERT ON a BEGIN
        UPDATE a SET x = 1; DELETE FROM a WHERE x = 2; END; CREATE INDEX i ON a(x);"""
    parts = statements(script)
    assert len(parts) == 3 and "DELETE FROM a" in parts[1]
