"""What a unit writes is known without reading it back (bot/store/outbox.py NewRow, raise_alert's Alert):
the lanes deliver the row and draw the card as the unit wrote them, so the known row must be the stored row,
column by column, on both stores. A column added to the outbox or alerts with a default the code does not
know fails here, not in a message that goes out wrong."""

from __future__ import annotations

from bot import escalation
from bot.model import Severity
from bot.store import outbox
from tests.conftest import settle


async def test_a_new_outbox_row_is_the_stored_row(harness):
    def unit(conn):  # noqa: ANN001, ANN202
        row = outbox.enqueue(conn, now=1234.5, platform="telegram", chat_id="42", user_id="42", text="hello",
                             buttons="[]", priority=1, person="alice", card="alert:9", alert_id=9, tag="notify",
                             form="incident", form_ref="7", ephemeral=True, attachment="a.csv", claim=True)
        return {k: row[k] for k in row.keys()}, row["id"]  # noqa: SIM118 - a row, not a dict

    known, key = await harness.engine.store.run(unit)
    stored = await harness.engine.store.read(lambda c: c.execute("SELECT * FROM outbox WHERE id=?", (key,)).fetchone())
    assert known == {k: stored[k] for k in stored.keys()}  # noqa: SIM118 - iterating a row gives values


async def test_a_raised_alert_is_the_stored_alert(harness):
    alice = harness.engine.directory.person("alice")
    book = harness.engine.book

    def unit(tx):  # noqa: ANN001, ANN202
        return escalation.raise_alert(tx, kind="codeword", severity=Severity.high, ladder=book.ladders["urgent"],
                                      title="Test", person=alice, branch="central", details="d", ref="r",
                                      ack_reply="ok", reply_to=("console", "alice"), about=("bob",))

    raised = await harness.engine.perform(unit)
    await settle(harness.engine)
    stored = await harness.engine.store.read(lambda c: escalation.load(c, raised.id))
    assert raised == stored
    assert raised.tier == 0 and harness.sent("dana")  # the first tier went out with the alert as known
