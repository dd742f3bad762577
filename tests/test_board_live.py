"""The board's panels, its event stream and acting from it, against the real engine and store (both
stores): what a duty manager at the desk sees change, and what their presses do in chat."""

from __future__ import annotations

import pytest

from bot.board.web import COOKIE
from tests.board_kit import URL, Events, open_desk
from tests.conftest import start_engine


@pytest.fixture
async def desk(db, clock):
    h = await start_engine(db, clock, board=True, board_url=URL)
    d = await open_desk(h)
    yield d
    await d.close()
    await h.engine.stop()


async def on_shift(desk, *people: str) -> None:
    for p in people:
        await desk.harness.say(p, "on shift")


def edited(desk, who: str, text: str) -> bool:
    """A chat copy of a card shown to `who` was edited to say `text`."""
    return any(d.kind == "edit" and text in d.text for d in desk.harness.transport.to(who))


async def act(desk, c, do: str, arg: str, **extra) -> None:
    r = await c.post("/board/act", data={"do": do, "arg": arg, "csrf": await desk.csrf(c), **extra},
                     allow_redirects=False)
    assert r.status == 303, await r.text()


async def test_full_snapshot_on_connect_then_one_event_per_change(desk):
    c = await desk.sign_in("bob")
    resp = await c.get("/board/events")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    events = Events(resp)
    first = await events.next()
    assert first["full"] and set(first["panels"]) >= {"alerts", "lone", "backup", "lockdowns", "duty", "incidents",
                                                       "health"}
    assert "No open alerts" in first["panels"]["alerts"]
    await desk.harness.say("alice", "Is Mr Brown in today?")
    ev = await events.until(lambda e: "data-alert=" in e["panels"].get("alerts", ""))
    assert not ev["full"] and 'data-state="open"' in ev["panels"]["alerts"]
    assert "lone" not in ev["panels"]  # only what changed is sent again
    # a reconnect gets everything again
    again = Events(await c.get("/board/events"))
    assert (await again.next())["full"]


async def test_what_no_unit_of_work_announces_still_arrives(desk):
    """A platform starting to fail is no commit: the board's periodic re-read catches it."""
    c = await desk.sign_in("bob")
    events = Events(await c.get("/board/events"))
    assert "The bot is healthy" in (await events.next())["panels"]["health"]
    desk.harness.engine.outbox.down["telegram"] = desk.harness.clock.now()
    ev = await events.until(lambda e: "health" in e["panels"])
    assert "telegram is failing deliveries" in ev["panels"]["health"] and "PROBLEM" in ev["panels"]["health"]


async def test_alert_row_says_rung_who_was_told_and_where(desk):
    await desk.harness.say("alice", "Is Mr Brown in today?")
    c = await desk.sign_in("dana")
    page = await (await c.get("/board")).text()
    assert "NOT ACKNOWLEDGED" in page and "tier 1 of 2" in page and "Central Library" in page
    assert "Bob Green: delivered via console" in page
    await desk.harness.advance(5 * 60 + 1)  # no acknowledgement: the ladder climbs
    page = await (await c.get("/board")).text()
    assert "tier 2 of 2" in page or "repeat 1" in page


async def test_acknowledge_on_the_board_is_the_chat_button(desk):
    await desk.harness.say("alice", "Is Mr Brown in today?")
    cover_and_card = desk.harness.texts("alice")
    c = await desk.sign_in("bob")
    await act(desk, c, "alert.ack", "1")
    await desk.harness.advance(0)
    assert desk.harness.last("alice").text == "Mr Brown has just come in, he'll be with you in a minute."
    assert len(desk.harness.texts("alice")) == len(cover_and_card) + 1
    assert edited(desk, "bob", "Acknowledged by Bob Green")  # bob's chat card was edited
    page = await (await c.get("/board")).text()
    assert 'data-state="acked"' in page and "Acknowledged by Bob Green" in page
    await act(desk, c, "alert.ack", "1")  # a second press: the chat's own answer, shown on the board
    page = await (await c.get("/board")).text()
    assert "Already acknowledged by Bob Green" in page
    assert [tuple(r) for r in await desk.harness.query("SELECT platform, status FROM outbox WHERE platform='board'")] \
        == [("board", "cancelled")]  # the board's answer never waits for a delivery


async def test_resolve_with_a_note_and_the_note_is_text(desk):
    await desk.harness.say("alice", "Is Mr Brown in today?")
    c = await desk.sign_in("bob")
    await act(desk, c, "alert.resolve", "1", note="Left calmly <script>alert(1)</script>")
    await desk.harness.advance(0)
    rows = await desk.harness.query("SELECT status, resolved_by FROM alerts")
    assert [tuple(r) for r in rows] == [("resolved", "bob")]
    timeline = [r[0] for r in await desk.harness.query("SELECT text FROM alert_events WHERE kind='resolved'")]
    assert timeline == ["resolved by Bob Green: Left calmly <script>alert(1)</script>"]
    assert edited(desk, "bob", "Resolved by Bob Green")
    page = await (await c.get("/board")).text()
    assert "No open alerts" in page and "<script>alert(1)" not in page


async def test_on_my_way_and_stand_down_backup(desk):
    await on_shift(desk, "carol")
    await desk.harness.say("alice", "backup by the lifts")
    c = await desk.sign_in("bob")
    page = await (await c.get("/board")).text()
    assert "NOBODY ON THE WAY" in page and "by the lifts" in page and "No answer yet: Carol Jones, Bob Green" in page
    await act(desk, c, "backup.coming", "1")
    await desk.harness.advance(0)
    assert "On the way: Bob Green" in desk.harness.seen("carol").text  # carol's chat card
    assert "Bob Green" in desk.harness.seen("alice").text  # the requester's own card says who is coming
    page = await (await c.get("/board")).text()
    assert "ON THE WAY" in page and "On the way: Bob Green" in page
    await act(desk, c, "backup.fine", "1")
    await desk.harness.advance(0)
    assert "Stood down" in desk.harness.seen("carol").text
    assert "No backup requests" in await (await c.get("/board")).text()


async def test_end_a_drill_from_the_board(desk):
    await desk.harness.say("bob", "drill on")
    c = await desk.sign_in("bob")
    page = await (await c.get("/board")).text()
    assert "Central Library since" in page and "End the drill" in page
    await act(desk, c, "drill.off", "central")
    assert await desk.harness.query("SELECT branch FROM drills") == []
    page = await (await c.get("/board")).text()
    assert "Drill mode OFF at Central Library" in page and "No branch is in drill mode" in page


async def test_lone_sessions_roll_calls_duty_and_health(desk):
    await desk.harness.say("alice", "lone 45m home visit, 12 High St")
    await on_shift(desk, "carol", "vic")
    await desk.harness.say("bob", "lockdown central intruder near the entrance")
    await desk.harness.press("carol", "I'm safe")
    c = await desk.sign_in("bob")
    page = await (await c.get("/board")).text()
    assert "Alice Smith" in page and "home visit, 12 High St" in page and "Next check-in due 15:15" in page
    assert "OVERDUE" not in page
    assert "LOCKDOWN" in page and "Safe: 1" in page and "Not answered:" in page and "Vic Patel" in page
    assert "<th scope=\"row\">Central Library</th>" in page and "Bob Green" in page
    assert "The bot is healthy" in page
    desk.harness.engine.outbox.down["telegram"] = desk.harness.clock.now()  # as the outbox marks a failing platform
    await desk.harness.advance(46 * 60)
    page = await (await c.get("/board")).text()
    assert "OVERDUE" in page and "telegram is failing deliveries" in page


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_served_on_the_health_port_and_a_quiet_stream_stays_open(db, clock):
    """On the real server (bot/listen.py's limits): an open stream is a request in progress, never
    closed as an idle connection, however quiet the board is."""
    import asyncio

    import aiohttp

    from bot.health import Health

    port = free_port()
    h = await start_engine(db, clock, board=True, board_url=URL, health_port=port, listen_header_timeout=0.2)
    health = Health(h.engine, h.engine.settings)
    await health._serve_http()
    try:
        await h.say("bob", "board")
        from tests.board_kit import link_in

        token = link_in(h.last("bob").text)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            base = f"http://127.0.0.1:{port}"
            async with s.post(f"{base}/board/login", data={"t": token}) as r:
                assert r.status == 200 and "Duty board" in await r.text()
            async with s.get(f"{base}/board/events") as r:
                events = Events(r)
                assert (await events.next())["full"]
                await asyncio.sleep(0.6)  # three header timeouts with nothing sent on the stream
                await h.say("alice", "Is Mr Brown in today?")
                await events.until(lambda e: "data-alert=" in e["panels"].get("alerts", ""))
            async with s.get(f"{base}/healthz") as r:
                assert r.status in (200, 503)  # the health check shares the server
    finally:
        await health.stop()
        await h.engine.stop()


async def test_a_standby_says_it_is_not_the_active_instance_and_names_it_to_a_signed_in_manager(tmp_path):
    """A standby's board page: 503 "this is the standby"; the active instance (pid and host) only to someone
    whose board session is valid, never to whoever can reach the port (the /healthz rule)."""
    import os
    import socket
    import time

    import aiohttp

    from bot.board import auth
    from bot.compose import build_app
    from bot.health import standby_endpoint
    from bot.instance import InstanceLock
    from bot.store import Store
    from tests.conftest import make_settings

    db = tmp_path / "x.db"
    store = await Store.open(str(db))
    key = await store.run(auth.secret)
    await store.close()
    active = InstanceLock(db)  # the active process's lock (this test plays it)
    assert active.try_acquire()
    port = free_port()
    s = make_settings(db, board=True, board_url=URL, health_port=port)
    endpoint = await standby_endpoint(s, build_app().standby_routes)
    signed = auth.sign(key, auth.Session("bob", "duty_manager", time.time(), time.time() + 3600))
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/board") as r:
                text = await r.text()
                assert r.status == 503 and "standby" in text and "active" in text
                assert socket.gethostname() not in text and str(os.getpid()) not in text
            async with http.get(f"http://127.0.0.1:{port}/board", cookies={COOKIE: signed}) as r:
                text = await r.text()
                assert r.status == 503 and f"pid {os.getpid()}" in text and socket.gethostname() in text
            async with http.get(f"http://127.0.0.1:{port}/board", cookies={COOKIE: signed[:-2] + "00"}) as r:
                assert socket.gethostname() not in await r.text()  # a forged cookie learns nothing
    finally:
        await endpoint.stop()
        active.release()


async def test_an_open_board_is_signed_out_when_the_role_goes(desk):
    c = await desk.sign_in("fran")
    events = Events(await c.get("/board/events"))
    assert (await events.next())["full"]
    await desk.harness.say("dana", "person set fran role=staff")
    assert (await events.until(lambda e: e.get("signed_out")))["signed_out"]  # the page reloads to "sign in"
