"""The board's sign-in, sessions, CSRF and scoping, with aiohttp's test client against the real
engine and store (SQLite and PostgreSQL): what a duty manager at a desk, or an attacker, would see."""

from __future__ import annotations

import pytest

from bot.board import auth
from tests.board_kit import URL, open_desk
from tests.conftest import start_engine

pytestmark = pytest.mark.usefixtures("db")


@pytest.fixture
async def desk(db, clock):
    h = await start_engine(db, clock, board=True, board_url=URL)
    d = await open_desk(h)
    yield d
    await d.close()
    await h.engine.stop()


async def test_link_signs_in_once(desk):
    token = await desk.token("bob")
    assert desk.harness.last("bob").text.count(f"{URL}/board/login?t=") == 1
    c = await desk.client()
    form = await c.get(f"/board/login?t={token}")  # a chat app's link preview: shows a button, uses nothing up
    assert form.status == 200 and 'value="' + token + '"' in await form.text()
    r = await c.post("/board/login", data={"t": token}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/board"
    cookie = r.cookies["saferbot_board"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]  # served over http here
    page = await c.get("/board")
    assert page.status == 200 and "Bob Green" in await page.text()
    other = await desk.client()
    again = await other.post("/board/login", data={"t": token}, allow_redirects=False)
    assert again.status == 403 and "works once" in await again.text()
    stored = await desk.harness.query("SELECT token_hash FROM board_links")
    assert [r[0] for r in stored] != [token] and token not in str(stored)  # only the hash is kept
    bodies = await desk.harness.query("SELECT text FROM outbox WHERE person='bob'")
    assert not any(token in r[0] for r in bodies)  # nor a copy in the message that carried it


async def test_secure_cookie_behind_https(db, clock):
    h = await start_engine(db, clock, board=True, board_url="https://board.example.org")
    d = await open_desk(h)
    try:
        c = await d.client()
        r = await c.post("/board/login", data={"t": await d.token("bob")}, allow_redirects=False)
        assert r.status == 303 and r.cookies["saferbot_board"]["secure"]
    finally:
        await d.close()
        await h.engine.stop()


async def test_link_expires_after_ten_minutes(desk):
    token = await desk.token("bob")
    await desk.harness.advance(auth.LINK_VALID + 1)
    c = await desk.client()
    r = await c.post("/board/login", data={"t": token}, allow_redirects=False)
    assert r.status == 403
    assert (await c.get("/board")).status == 401


async def test_roster_removal_refuses_the_link_and_ends_the_session(desk):
    signed_in = await desk.sign_in("bob")
    assert (await signed_in.get("/board")).status == 200
    token = await desk.token("bob")
    await desk.harness.say("dana", "person remove bob")
    assert "Saved" in desk.harness.last("dana").text
    c = await desk.client()
    assert (await c.post("/board/login", data={"t": token}, allow_redirects=False)).status == 403
    assert (await signed_in.get("/board")).status == 401
    assert (await signed_in.get("/board/events")).status == 401


async def test_losing_the_role_ends_the_session(desk):
    c = await desk.sign_in("fran")
    await desk.harness.say("dana", "person set fran role=staff")
    assert (await c.get("/board")).status == 401


async def test_pages_need_a_session(desk):
    c = await desk.client()
    for path in ("/board", "/board/events"):
        r = await c.get(path)
        assert r.status == 401 and "Say board to the bot" in await r.text()
    forged = auth.sign(b"not the key" * 3, auth.Session("dana", "admin", 0, 10**12))
    c.session.cookie_jar.update_cookies({"saferbot_board": forged})
    assert (await c.get("/board")).status == 401
    r = await c.post("/board/act", data={"do": "alert.ack", "arg": "1"})
    assert r.status == 401


async def test_csrf_is_enforced(desk):
    await desk.harness.say("alice", "Is Mr Brown in today?")
    c = await desk.sign_in("bob")
    r = await c.post("/board/act", data={"do": "alert.ack", "arg": "1"}, allow_redirects=False)
    assert r.status == 403
    r = await c.post("/board/act", data={"do": "alert.ack", "arg": "1", "csrf": "0" * 40}, allow_redirects=False)
    assert r.status == 403
    assert [tuple(x) for x in await desk.harness.query("SELECT status FROM alerts")] == [("open",)]
    r = await c.post("/board/act", data={"do": "alert.ack", "arg": "1", "csrf": await desk.csrf(c)},
                     allow_redirects=False)
    assert r.status == 303
    assert [tuple(x) for x in await desk.harness.query("SELECT status, acked_by FROM alerts")] == [("acked", "bob")]


async def test_volunteers_and_staff_get_no_board(desk):
    for who in ("vic", "alice"):
        await desk.harness.say(who, "board")
        assert "/board/login" not in desk.harness.last(who).text
    assert (await desk.harness.query("SELECT COUNT(*) FROM board_links"))[0][0] == 0

    def forge(conn):  # a link made for a volunteer anyway (say, a role changed in between): refused
        return auth.create_link(conn, desk.harness.engine.directory.person("vic"), desk.harness.engine.clock.now())

    token = await desk.harness.engine.store.run(forge)
    c = await desk.client()
    r = await c.post("/board/login", data={"t": token}, allow_redirects=False)
    assert r.status == 403 and "duty managers and admins" in await r.text()


async def test_another_branchs_data_never_appears(desk):
    await desk.harness.say("alice", "Is Mr Brown in today?")  # central
    await desk.harness.say("alice", "backup by the Central photocopier")
    await desk.harness.say("erin", "backup in the Riverside stacks")  # riverside
    fran = await desk.sign_in("fran")  # riverside's duty manager
    page = await (await fran.get("/board")).text()
    assert "Riverside stacks" in page and "Erin Shah" in page
    assert "Central photocopier" not in page and "Alice Smith" not in page and "Mr Brown" not in page
    bob = await desk.sign_in("bob")
    page = await (await bob.get("/board")).text()
    assert "Central photocopier" in page and "Riverside stacks" not in page
    dana = await desk.sign_in("dana")  # admins see every branch
    page = await (await dana.get("/board")).text()
    assert "Central photocopier" in page and "Riverside stacks" in page


async def test_typed_text_shows_as_text(desk):
    await desk.harness.say("alice", "backup <script>alert('x')</script> & <b>now</b>")
    c = await desk.sign_in("bob")
    page = await (await c.get("/board")).text()
    assert "<script>alert" not in page and "<b>now" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;now&lt;/b&gt;" in page


async def test_a_link_asked_for_in_a_group_goes_to_a_private_chat(desk):
    await desk.harness.say("bob", "/board", chat="staffroom", is_group=True)
    group = [d.text for d in desk.harness.transport.to("staffroom")]
    assert group == ["I have sent you the board link in a private message."]
    assert "/board/login?t=" in desk.harness.last("bob").text


async def test_switched_off_there_is_no_board(db, clock):
    from bot.board.pages import routes

    h = await start_engine(db, clock)
    try:
        await h.say("bob", "board")
        assert "not switched on" in h.last("bob").text and "/board/login" not in h.last("bob").text
        assert routes(h.engine) == []
        assert (await h.query("SELECT COUNT(*) FROM board_links"))[0][0] == 0
    finally:
        await h.engine.stop()
