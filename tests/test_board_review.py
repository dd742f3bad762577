"""Incident review at the desk (both stores): the list and its filters, one incident read through the
chat's own command (audited), a note and the review from the page, the monthly report with its chart."""

from __future__ import annotations

import pytest

from tests.board_kit import URL, open_desk
from tests.conftest import start_engine
from tests.test_incidents import REF, fill_form


@pytest.fixture
async def desk(db, clock):
    h = await start_engine(db, clock, board=True, board_url=URL)
    d = await open_desk(h)
    yield d
    await d.close()
    await h.engine.stop()


async def post(desk, c, **data) -> None:
    r = await c.post("/board/act", data={"csrf": await desk.csrf(c), **data}, allow_redirects=False)
    assert r.status == 303


async def test_incident_list_one_incident_note_review_and_report(desk):
    h = desk.harness
    await h.say("alice", "log shouting at the enquiry desk <script>alert(1)</script>")
    await h.press("alice", "Complete form")
    await fill_form(h, "alice")
    await h.say("erin", "log a Riverside matter")  # another branch: never on Bob's pages
    bob = await desk.sign_in("bob")

    fran = await desk.sign_in("fran")  # Riverside's duty manager: never Central's incidents
    page = await (await fran.get("/board/incidents")).text()
    assert "INC-2026-0002" in page and REF not in page
    assert (await fran.get(f"/board/incidents/{REF}")).status == 404
    page = await (await bob.get("/board/incidents")).text()  # Bob covers Riverside at weekends: he reads both
    assert REF in page and "INC-2026-0002" in page and "waiting for review" in page
    assert REF in await (await bob.get("/board/incidents?unreviewed=1&month=2026-11")).text()
    assert REF not in await (await bob.get("/board/incidents?month=2026-10")).text()
    assert REF not in await (await bob.get("/board/incidents?type=nothing-like-it")).text()

    r = await bob.get(f"/board/incidents/{REF}")
    page = await r.text()
    assert r.status == 200 and "Police reference: CR/1234/26" in page and "He shouted at me" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    audit = await h.query("SELECT reader, action FROM incident_audit WHERE ref=?", REF)
    assert ("bob", "read") in [tuple(a) for a in audit]  # read through the chat's own, audited, command

    await post(desk, bob, do="incident.note", arg=REF, note="Spoke to <b>PCSO</b>", back=f"/board/incidents/{REF}")
    await post(desk, bob, do="incident.reviewed", arg=REF, back=f"/board/incidents/{REF}")
    status = await h.query("SELECT status, reviewed_by FROM incidents WHERE ref=?", REF)
    assert [tuple(s) for s in status] == [("reviewed", "bob")]
    page = await (await bob.get(f"/board/incidents/{REF}")).text()
    assert "Reviewed by Bob Green" in page and "Spoke to &lt;b&gt;PCSO&lt;/b&gt;" in page
    assert "Mark reviewed" not in page
    assert REF not in await (await bob.get("/board/incidents?unreviewed=1")).text()

    r = await bob.get("/board/report?month=2026-11")
    page = await r.text()
    assert r.status == 200 and "Monthly incident report" in page and "Central Library" in page
    assert 'src="data:image/png;base64,' in page and "alt=" in page
