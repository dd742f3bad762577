"""Every table with free text or a person key is declared by a data owner on the App (bot/personal_data.py),
so subject access, erase and purge reach it; read from a freshly migrated store, both stores."""

from __future__ import annotations

from bot.compose import build_app
from bot.store import Store, pg

KEYISH = {"person", "reporter", "author", "actor", "by", "acked_by", "resolved_by", "reviewed_by", "done_by",
          "ended_by", "reader", "created_by", "used_by", "was"}


def _schema(conn) -> dict[str, dict[str, str]]:
    """table -> column -> type, as the store has them."""
    if isinstance(conn, pg.Connection):
        rows = conn.execute("SELECT table_name, column_name, data_type FROM information_schema.columns"
                            " WHERE table_schema=current_schema()").fetchall()
    else:
        rows = [(t, c[1], c[2]) for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
                for c in conn.execute(f"PRAGMA table_info({t})").fetchall()]
    out: dict[str, dict[str, str]] = {}
    for table, col, kind in rows:
        out.setdefault(table, {})[col] = kind.lower()
    return out


async def test_every_table_with_text_or_a_person_is_declared_by_an_owner(db):
    store = await Store.open(db)
    try:
        schema = await store.read(_schema)
    finally:
        await store.close()
    holdings = {h.table: h for o in build_app().data_owners for h in o.holdings}
    undeclared = sorted(t for t, cols in schema.items()
                        if t not in holdings and any("text" in k or "char" in k or c in KEYISH for c, k in cols.items()))
    assert undeclared == [], f"tables with text or a person column that no data owner declares: {undeclared}"
    unmarked = sorted(f"{t}.{c}" for t, cols in schema.items() for c in cols
                      if c in KEYISH and t in holdings and c not in holdings[t].person_columns)
    assert unmarked == [], f"person-key columns not declared as person_columns: {unmarked}"
    wrong = sorted(f"{h.table}.{c}" for h in holdings.values() for c in (*h.person_columns, *h.text_columns)
                   if c not in schema.get(h.table, {}))
    assert wrong == [], f"declared columns the store does not have: {wrong}"
    told = [h.table for h in holdings.values() if not h.why]
    assert told == [], f"holdings that do not say why the data is held: {told}"


def test_each_table_is_declared_once():
    tables = [h.table for o in build_app().data_owners for h in o.holdings]
    assert sorted(t for t in set(tables) if tables.count(t) > 1) == []


def test_the_data_protection_guide_covers_every_declared_table():
    from tests.conftest import ROOT

    guide = (ROOT / "docs" / "data-protection.md").read_text()
    missing = sorted(h.table for o in build_app().data_owners for h in o.holdings if f"`{h.table}`" not in guide)
    assert missing == []


def test_the_leavers_list_of_person_columns_agrees_with_the_owners():
    """handlers/privacy.PERSON_COLUMNS (a leaver's records are re-pointed) names no column an owner does not declare."""
    from handlers.privacy import PERSON_COLUMNS

    declared = {(h.table, c) for o in build_app().data_owners for h in o.holdings for c in h.person_columns}
    assert sorted(f"{t}.{c}" for t, cols in PERSON_COLUMNS.items() for c in cols if (t, c) not in declared) == []
