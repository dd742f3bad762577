"""Each capability's tables are created by a migration component named after it, and a store migrated
before the tables moved there upgrades in place, with its rows, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re

import bot.store
from bot.store import Store, migrations
from bot.storecheck import check_database
from tests.test_ownership import OWNERS

OWNER_OF_COMPONENT = {"relay": "core"}  # the relay table's bookkeeping is the core's
CREATE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)")


def test_each_component_is_named_after_an_owner():
    assert [c for c in migrations.COMPONENTS if OWNER_OF_COMPONENT.get(c, c) not in OWNERS] == []
    assert set(migrations.RENAMED.values()) <= set(migrations.COMPONENTS)  # an old name leads to a component


def test_each_table_is_created_by_its_owners_component():
    owner_of = {t: name for name, (_, tables) in OWNERS.items() for t in tables}
    wrong = []
    for component, steps in migrations.COMPONENTS.items():
        for step in steps:
            for table in CREATE.findall(step):
                owner = OWNER_OF_COMPONENT.get(component, component)
                if table in owner_of and owner_of[table] != owner:
                    wrong.append(f"{table} (owned by {owner_of[table]}) is created by the {component} component")
    assert wrong == []


async def test_a_store_migrated_before_the_move_upgrades_in_place(db):
    """The layout as released: core's step 1 made drills and shifts, people's step 1 (its only step) made the
    backup and lockdown tables, and there were no backup or lockdown components. Same tables, same columns:
    only schema_version tells the two layouts apart."""
    store = await Store.open(db)

    def old_layout_with_rows(c):
        c.execute("INSERT INTO backup_requests(person, what, created_at) VALUES('alice', 'till 2', 1)")
        c.execute("INSERT INTO backup_answers(request_id, person, answer, at) VALUES(1, 'bob', 'coming', 2)")
        c.execute("INSERT INTO lockdowns(kind, scope, message, by, created_at) VALUES('lockdown', 'central', 'x',"
                  " 'dana', 3)")
        c.execute("INSERT INTO rollcall(lockdown_id, person, answer) VALUES(1, 'bob', 'safe')")
        c.execute("INSERT INTO drills(branch, since, by) VALUES('central', 4, 'dana')")
        c.execute("INSERT INTO shifts(person, on_shift, since) VALUES('bob', 1, 5)")
        c.execute("DELETE FROM schema_version WHERE component IN ('backup', 'lockdown')")
        c.execute("UPDATE schema_version SET component='people', version=1 WHERE component='roster'")

    await store.run(old_layout_with_rows)
    await store.close()

    store = await Store.open(db)  # migrates: the moved steps find their tables there and create nothing
    try:
        versions = dict(await store.read(lambda c: c.execute("SELECT component, version FROM schema_version")
                                         .fetchall()))
        rows = await store.read(lambda c: [c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in (
            "backup_requests", "backup_answers", "lockdowns", "rollcall", "drills", "shifts")])
        await store.run(lambda c: c.execute(  # and the tables take new rows as before
            "INSERT INTO backup_requests(person, what, created_at) VALUES('carol', 'door', 6)"))
        ids = await store.read(lambda c: [r[0] for r in c.execute("SELECT id FROM backup_requests ORDER BY id")])
    finally:
        await store.close()
    current = {name: len(steps) for name, steps in migrations.COMPONENTS.items() if steps}
    assert versions == current | {"people": 2}  # the old name follows as an alias (an older saferbot still starts)
    assert versions["backup"] == 1 and versions["lockdown"] == 1 and versions["roster"] == 2
    assert rows == [1, 1, 1, 1, 1, 1]
    assert ids == [1, 2]


def _versions(c) -> dict[str, int]:
    return dict(c.execute("SELECT component, version FROM schema_version").fetchall())


async def test_a_store_migrated_under_the_roster_components_old_name_carries_on(db, monkeypatch):
    """A store migrated by the saferbot before the rename (the roster's tables recorded as "people") is
    reopened by this one: the record is copied to the new name once, nothing is created twice, the rows
    stay, and nothing on the way calls it a store written by a newer saferbot. The old record stays, so the
    saferbot before the rename still starts on the store afterwards (a rolling upgrade: the active instance
    restarts while only its standby is upgraded)."""
    store = await Store.open(db)  # same tables, same steps as released: only the name in schema_version differs
    try:
        await store.run(lambda c: (
            c.execute("UPDATE schema_version SET component='people' WHERE component='roster'"),
            c.execute("INSERT INTO covers(person, branch, start, until) VALUES('fran', 'central', 1, 2)"),
            c.execute("INSERT INTO roster_overlay(key, data, at, by) VALUES('gus', NULL, 3, 'dana')"),
            c.execute("INSERT INTO shifts(person, on_shift, since) VALUES('bob', 1, 4)")))
    finally:
        await store.close()
    old = {("people" if name == "roster" else name): steps for name, steps in migrations.COMPONENTS.items()}
    monkeypatch.setattr(bot.store, "COMPONENTS", old)  # the code as released (no "roster", no rename) finds
    monkeypatch.setattr(bot.store, "RENAMED", {})  # that store whole: it opens it and creates nothing
    store = await Store.open(db)
    try:
        before = await store.read(_versions)
    finally:
        await store.close()
    assert before["people"] == 2 and "roster" not in before
    assert migrations.newer(list(before.items())) == []  # doctor, restore, migrate-store: not "newer"
    if not isinstance(db, str):  # SQLite: the check restore and backup make
        assert check_database(db) is None  # a backup taken before the upgrade restores as it did
    monkeypatch.undo()

    for _ in range(2):  # reopened twice: the rename happens once, the second start finds nothing to do
        store = await Store.open(db)
        try:
            versions = await store.read(_versions)
            rows = await store.read(lambda c: [c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                                               for t in ("covers", "roster_overlay", "shifts")])
        finally:
            await store.close()
        assert versions == {name: len(steps) for name, steps in migrations.COMPONENTS.items() if steps} | {"people": 2}
        assert rows == [1, 1, 1]

    monkeypatch.setattr(bot.store, "COMPONENTS", old)  # the released code, once more, after the upgrade
    monkeypatch.setattr(bot.store, "RENAMED", {})
    store = await Store.open(db)
    try:
        rows = await store.read(lambda c: [c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                                           for t in ("covers", "roster_overlay", "shifts")])
    finally:
        await store.close()
    assert rows == [1, 1, 1]
