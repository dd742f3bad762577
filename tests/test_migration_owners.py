"""Each capability's tables are created by a migration component named after it, and a store migrated
before the tables moved there upgrades in place, with its rows, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re

from bot.store import Store, migrations
from tests.test_ownership import OWNERS

# components named before their owners were: the roster's is still "people", relay's table is the core's
OWNER_OF_COMPONENT = {"people": "roster", "relay": "core"}
CREATE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)")


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
        c.execute("UPDATE schema_version SET version=1 WHERE component='people'")

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
    assert versions == {name: len(steps) for name, steps in migrations.COMPONENTS.items() if steps}
    assert versions["backup"] == 1 and versions["lockdown"] == 1 and versions["people"] == 2
    assert rows == [1, 1, 1, 1, 1, 1]
    assert ids == [1, 2]
