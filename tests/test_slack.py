"""The Slack transport: the real slack-bolt AsyncApp against a fake Slack on 127.0.0.1.

Socket Mode by default (a websocket that sends hello and envelopes and records acks),
HTTP mode with signed requests. A real SQLite file and a clock that runs in real time
from a Wednesday afternoon (so the outbox's Retry-After waits pass for real, and tests
can still jump ahead to let a ladder climb).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import forms
from bot.book import load_book, load_service
from bot.clock import FakeClock
from bot.compose import build_app
from bot.engine import Engine
from bot.messages import Outbound
from bot.transports.base import Limits, Transport
from bot.transports.slack import COMMAND_POINTER, SlackTransport
from bot.transports.slack_blocks import message
from tests.conftest import AFTERNOON, make_settings
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack, post_signed

ALICE, BOB, CAROL, DANA, STRANGER = "U0ALICE", "U0BOB", "U0CAROL", "U0DANA", "U0STRANGER"
SLACK_IDS = {"alice": ALICE, "bob": BOB, "carol": CAROL, "dana": DANA}
FAST = Limits(per_second=None, per_chat_interval=0.02)


class RunningClock(FakeClock):
    """Real time passing from a fixed start, plus `advance` to jump ahead (firing due wake-ups)."""

    def __init__(self, start: float = AFTERNOON):
        super().__init__(start)
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self._now + (time.monotonic() - self._t0)


@dataclass
class Bot:
    engine: Engine
    slack: SlackTransport
    fake: FakeSlack
    clock: RunningClock

    async def settle(self) -> None:
        assert await self.engine.settle(timeout=5), "the outbox did not settle"

    def card(self, user: str):  # noqa: ANN201
        """The user's newest alert card (a message with buttons, or one that had them)."""
        cards = [m for m in self.fake.seen(user) if m.buttons or m.updates]
        assert cards, f"{user} has no alert card"
        return cards[-1]


async def start_bot(tmp_path: Path, fake: FakeSlack, *, http: bool = False, limits: Limits = FAST,
                    people: dict[str, str] | None = None, extra: list[Transport] = (), prefer: str = "slack",
                    in_channels: bool = False, wait: bool = True, db: Path | str | None = None, **settings) -> Bot:
    if http:
        settings |= {"slack_signing_secret": SIGNING_SECRET, "slack_http_port": 0}
    else:
        settings |= {"slack_app_token": APP_TOKEN}
    settings = {"slack_bot_token": BOT_TOKEN, "slack_api_url": fake.api_url} | settings
    s = make_settings(db or tmp_path / "saferbot.db", **settings)
    service = load_service(s.service_file)
    ids = SLACK_IDS if people is None else people
    bound = {k: p.model_copy(update={"slack": ids.get(k), "prefer": prefer}) for k, p in service.people.items()}
    service = service.model_copy(update={"people": bound})
    clock = RunningClock()
    slack = SlackTransport(s, limits=limits, http_host="127.0.0.1")
    book = load_book(s.codewords_file, service)
    if in_channels:  # a book that lets this codeword work in channels too
        mr_brown = book.codewords["mr-brown"].model_copy(update={"in_channels": True})
        book = book.model_copy(update={"codewords": {**book.codewords, "mr-brown": mr_brown}})
    engine = Engine(s, book, service, app=build_app(), clock=clock, transports=[slack, *extra])
    await engine.start()
    if not http and wait:
        await fake.wait_for(lambda: fake.connected.is_set(), 5, "the Socket Mode connection")
    return Bot(engine, slack, fake, clock)


@pytest.fixture
async def fake():
    f = FakeSlack(users={ALICE, BOB, CAROL, DANA, STRANGER})
    await f.start()
    yield f
    await f.stop()


@pytest.fixture
async def bot(tmp_path, fake, db):  # db: every test with this fixture runs on SQLite and PostgreSQL
    b = await start_bot(tmp_path, fake, db=db)
    yield b
    await b.engine.stop()


def texts(fake: FakeSlack, user: str) -> list[str]:
    return [m.shown for m in fake.seen(user)]


# --- the main journey: codeword DM -> Block Kit alert -> button -> every copy updated ------------------------

async def test_codeword_dm_alerts_manager_and_ack_updates_every_copy(bot):
    fake = bot.fake
    env = await fake.dm(ALICE, "Is Mr Brown in today?")
    await fake.acked(env)
    await bot.settle()
    assert texts(fake, ALICE) == ["I'll have a look in the staff room for you."]
    card = bot.card(BOB)
    assert "Aggressive" in card.shown and "Alice Smith" in card.shown
    assert [b["text"]["text"] for b in card.buttons] == ["Acknowledge", "Resolve", "Call police?"]
    post = [c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == BOB][0]
    assert post.args["blocks"][0]["type"] == "section" and post.args["blocks"][-1]["type"] == "actions"

    await bot.clock.advance(121)  # nobody acked: the ladder climbs to the admin
    await bot.settle()
    dana_card = bot.card(DANA)
    assert "Aggressive" in dana_card.shown

    press = await fake.press(BOB, "Acknowledge")
    await fake.acked(press)
    await bot.settle()
    for user in (BOB, DANA):
        shown = bot.card(user).shown
        assert "Acknowledged by Bob Green" in shown, shown
        assert "Acknowledge" not in [b["text"]["text"] for b in bot.card(user).buttons]
    updates = fake.calls_to("chat.update")
    assert {c.args["channel"] for c in updates} >= {fake.dm_channel(BOB), fake.dm_channel(DANA)}
    assert texts(fake, ALICE)[-1] == "Mr Brown has just come in, he'll be with you in a minute."


async def test_a_press_is_acked_at_once_even_when_slack_is_slow(bot):
    fake = bot.fake
    await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?"))
    await bot.settle()
    fake.slow("chat.update", 5)
    fake.slow("chat.postMessage", 5)
    env = await fake.press(BOB, "Acknowledge")
    await fake.acked(env, timeout=30)
    # the order, not a duration: the press was acked while Slack was still slow to update the card
    assert "Acknowledged by Bob" not in bot.card(BOB).shown
    await fake.wait_for(lambda: "Acknowledged by Bob" in bot.card(BOB).shown, 30, "the card to show the ack")


async def test_a_retried_event_raises_one_alert(bot):
    fake = bot.fake
    body = fake.message_event(ALICE, "Is Mr Brown in today?", event_id="Ev-ONCE")
    first = await fake.envelope("events_api", body)
    again = await fake.envelope("events_api", body, retry_attempt=1)
    await fake.acked(first)
    await fake.acked(again)
    await bot.settle()
    assert len(texts(fake, ALICE)) == 1
    assert len([m for m in fake.seen(BOB) if m.buttons]) == 1
    alerts = await bot.engine.store.read(lambda c: c.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])
    assert alerts == 1


async def test_user_text_is_escaped_so_it_never_pings(bot):
    fake = bot.fake
    await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today? <!channel> <@U0BOB> & co"))
    await fake.acked(await fake.dm(ALICE, "hello <!here>"))
    bob = bot.engine.directory.person("bob")  # an engine message quoting what someone typed
    await bot.engine.perform(lambda tx: tx.send(bob, Outbound("Alice wrote: <!channel> <@U0BOB> & co")))
    await bot.settle()
    assert texts(fake, BOB)[-1] == "Alice wrote: &lt;!channel&gt; &lt;@U0BOB&gt; &amp; co"
    for call in fake.calls_to("chat.postMessage") + fake.calls_to("chat.update"):
        blob = call.args.get("text", "") + str(call.args.get("blocks", ""))
        assert "<!" not in blob and "<@" not in blob, blob
    text, blocks = message("Said: <!channel> & <@U123>")
    assert text == "Said: &lt;!channel&gt; &amp; &lt;@U123&gt;"
    assert blocks[0]["text"] == {"type": "mrkdwn", "text": text, "verbatim": True}


async def test_what_people_type_comes_back_as_they_typed_it(bot):
    from bot.registry import command

    @bot.engine.app.take
    @command("echo", permission="raise_alert", help="")
    def echo(tx, person, msg, args):  # noqa: ANN001, ANN202 - an engine reply that quotes the user
        tx.reply(msg, Outbound(f"You said: {args}"), person=person)

    fake = bot.fake
    try:
        await fake.acked(await fake.dm(ALICE, "echo 2 < 3 & <b>bold</b>"))
        await fake.acked(await fake.dm(ALICE, "echo ask <@U0BOB> or <!channel>, see <https://x.org/a?b=1&amp;c=2|x.org>",
                                       raw=True))
        await fake.acked(await fake.command(ALICE, "echo me & you"))
        await bot.settle()
    finally:
        bot.engine.app.commands.pop("echo")
    shown = texts(fake, ALICE)
    assert shown[0] == "You said: 2 &lt; 3 &amp; &lt;b&gt;bold&lt;/b&gt;"  # Slack shows: 2 < 3 & <b>bold</b>
    assert shown[1] == "You said: ask @Bob Green or @channel, see x.org"  # plain words: nobody is pinged
    assert shown[2] == "You said: me &amp; you"


async def test_someone_not_on_the_roster_gets_a_neutral_ephemeral_reply_and_only_admins_hear(bot):
    fake = bot.fake
    await fake.acked(await fake.dm(STRANGER, "Is Mr Brown in today?"))
    await bot.settle()
    eph = fake.calls_to("chat.postEphemeral")
    assert len(eph) == 1 and eph[0].args["user"] == STRANGER
    assert "library staff" in eph[0].args["text"]
    assert fake.seen(BOB) == []  # not an alert for the branch: the admins check the unverified account
    alerts = await bot.engine.store.read(lambda c: c.execute("SELECT kind, person FROM alerts").fetchall())
    assert [tuple(a) for a in alerts] == [("unverified", None)]


async def test_codeword_in_a_channel_only_when_the_book_allows_it(bot):
    fake = bot.fake
    fake.channels.add("C0GENERAL")
    await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?", channel="C0GENERAL"))
    await fake.acked(await fake.dm(STRANGER, "Is Mr Brown in today?", channel="C0GENERAL"))
    await bot.settle()
    assert fake.seen(BOB) == []  # mr-brown is not allowed in channels in the example book
    assert fake.calls_to("chat.postEphemeral") == []  # and a stranger in a channel is simply ignored


async def test_in_a_channel_the_book_can_allow_a_codeword_and_chat_never_runs_commands(tmp_path, fake):
    bot = await start_bot(tmp_path, fake, in_channels=True)
    fake.channels.add("C0STAFF")
    try:
        await fake.acked(await fake.dm(BOB, "alerts are going off again", channel="C0STAFF"))
        await fake.acked(await fake.dm(CAROL, "help me move this table?", channel="C0STAFF"))
        await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?", channel="C0STAFF"))
        await bot.settle()
        assert "Aggressive" in bot.card(BOB).shown
        in_channel = [m.shown for m in fake.messages if m.channel == "C0STAFF"]
        assert in_channel == ["I'll have a look in the staff room for you."]  # only the innocent cover reply
    finally:
        await bot.engine.stop()


def test_the_manifest_asks_for_what_the_transport_uses():
    import yaml

    from bot.transports.slack import COMMAND

    m = yaml.safe_load((Path(__file__).parent.parent / "config" / "slack-manifest.yaml").read_text())
    assert m["settings"]["socket_mode_enabled"] is True and m["settings"]["interactivity"]["is_enabled"] is True
    assert [c["command"] for c in m["features"]["slash_commands"]] == [COMMAND]
    assert {"message.im", "message.channels", "app_home_opened"} <= set(m["settings"]["event_subscriptions"]
                                                                        ["bot_events"])
    assert {"chat:write", "im:history", "im:read", "im:write", "channels:history", "groups:history", "commands",
            "users:read"} <= set(m["oauth_config"]["scopes"]["bot"])
    assert m["features"]["app_home"]["home_tab_enabled"] and m["features"]["app_home"]["messages_tab_enabled"]


async def test_socket_mode_reconnects_when_slack_asks(bot):
    fake = bot.fake
    opened = len(fake.calls_to("apps.connections.open"))
    await fake.sockets[-1].send_str('{"type": "disconnect", "reason": "refresh_requested"}')
    await fake.wait_for(lambda: len(fake.calls_to("apps.connections.open")) > opened, 5, "a new connection URL")
    await fake.wait_for(lambda: len(fake.sockets) == 1, 5, "one live connection")
    await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?"))
    await bot.settle()
    assert texts(fake, ALICE) == ["I'll have a look in the staff room for you."]


async def test_an_expired_form_trigger_tells_the_person_to_press_again(bot, visit_form):
    fake = bot.fake
    await fake.acked(await fake.dm(ALICE, "visitnote"))
    await bot.settle()
    fake.fail("views.open", error="expired_trigger_id")
    await fake.acked(await fake.press(ALICE, "Fill in"))
    eph = await fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"), 3, "a note to press again")
    assert "press the button again" in eph[0].args["text"] and eph[0].args["user"] == ALICE
    assert visit_form == []


async def test_bot_messages_and_edits_are_ignored(bot):
    fake = bot.fake
    await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?", subtype="message_changed"))
    await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?", bot_id="B0OTHER"))
    await bot.settle()
    assert fake.seen(ALICE) == [] and fake.seen(BOB) == []


# --- slash command, App Home, modals ----------------------------------------------------------------------

async def test_slash_command_gives_the_same_commands_in_the_dm(bot):
    fake = bot.fake
    ack = await fake.acked(await fake.command(BOB, "alerts", channel="C0GENERAL"))
    assert ack["payload"]["text"] == COMMAND_POINTER
    await bot.settle()
    assert texts(fake, BOB) == ["No live alerts."]
    await fake.acked(await fake.envelope("events_api", fake.home_event(ALICE)))  # Alice opens the app
    ack = await fake.acked(await fake.command(ALICE, "help"))  # typed in the app's DM itself: no pointer
    assert not (ack.get("payload") or {}).get("text")
    await bot.settle()
    assert texts(fake, ALICE)[-1].startswith("Hello Alice Smith. You can send:")
    await fake.acked(await fake.command(ALICE, "Is Mr Brown in today?", channel="C0GENERAL"))
    await bot.settle()
    assert "Aggressive" in bot.card(BOB).shown  # a codeword works through the command too


async def test_slash_command_from_a_stranger_gets_a_neutral_ephemeral_in_that_channel(bot):
    fake = bot.fake
    fake.channels.add("C0GENERAL")
    await fake.acked(await fake.command(STRANGER, "alerts", channel="C0GENERAL"))
    await bot.settle()
    eph = fake.calls_to("chat.postEphemeral")
    assert [(c.args["channel"], c.args["user"]) for c in eph] == [("C0GENERAL", STRANGER)]
    assert fake.seen(STRANGER) == []


async def test_app_home_shows_live_alerts_lone_session_and_incident_stubs(bot):
    fake = bot.fake
    await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?"))
    await fake.acked(await fake.dm(CAROL, "lone 45m"))
    await fake.acked(await fake.dm(ALICE, "log man shouting at the desk"))
    await bot.settle()
    for user in (BOB, ALICE, CAROL, STRANGER):
        await fake.acked(await fake.envelope("events_api", fake.home_event(user)))
    await fake.wait_for(lambda: len(fake.homes) == 4, 3, "four home tabs")
    bob = str(fake.homes[BOB])
    assert "Bob Green" in bob and "Live alert #1" in bob and "Aggressive" in bob
    alice = str(fake.homes[ALICE])  # the codeword sender never sees her own alert
    assert "Alice Smith" in alice and "Aggressive" not in alice and "alert" not in alice.lower()
    assert "form not complete" in alice  # her incident stub waits to be completed
    assert "Lone working since" in str(fake.homes[CAROL])
    stranger = str(fake.homes[STRANGER])
    assert "library staff" in stranger and "Aggressive" not in stranger and "Lone" not in stranger


async def test_the_home_tab_stays_current_as_the_alert_changes(bot):
    fake = bot.fake
    bot.slack.home_refresh_delay = 0.05
    await fake.acked(await fake.envelope("events_api", fake.home_event(BOB)))
    await fake.wait_for(lambda: BOB in fake.homes, 3, "Bob's home tab")
    assert "Nothing live" in str(fake.homes[BOB])
    await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?"))
    await fake.wait_for(lambda: "Aggressive" in str(fake.homes[BOB]), 3, "the alert on Bob's home")
    assert "- open" in str(fake.homes[BOB])
    await fake.acked(await fake.press(BOB, "Acknowledge"))
    await fake.wait_for(lambda: "- acked" in str(fake.homes[BOB]), 3, "the ack on Bob's home")
    await fake.acked(await fake.press(BOB, "Resolve"))
    await fake.wait_for(lambda: "Aggressive" not in str(fake.homes[BOB]), 3, "the alert gone from Bob's home")
    assert ALICE not in fake.homes  # never opened it: nothing is pushed


def add_visit_form(app) -> list[tuple[str, str, dict]]:  # noqa: ANN001
    """A small form added to an App for a test, with a button that opens it and a handler that records it."""
    from bot.messages import Button, Outbound
    from bot.registry import button, command

    got: list[tuple[str, str, dict]] = []
    form = forms.Form("visit", "Visit note", (
        forms.Field("when", "When", "datetime"),
        forms.Field("where", "Where", "choice", choices=("desk", "toilets")),
        forms.Field("hurt", "Anyone hurt?", "yes_no"),
        forms.Field("notes", "Notes", "long_text", required=False),
    ))
    app.add_form(form, button="visit.open")

    @app.take
    @command("visitnote", permission="raise_alert", help="")
    def ask(tx, person, msg, args):  # noqa: ANN001, ANN202
        tx.reply(msg, Outbound("Please fill in a visit note.", buttons=(Button("Fill in", "visit.open", "42"),)),
                 person=person)

    @app.take
    @button("visit.open", permission="raise_alert")
    def pressed(tx, person, msg, arg):  # noqa: ANN001, ANN202 - Slack must never forward this press
        got.append(("pressed", arg, {}))

    def submitted(tx, person, msg):  # noqa: ANN001, ANN202
        got.append((person.key, msg.arg, dict(msg.values)))
        tx.reply(msg, Outbound("Thanks, visit note saved."), person=person)

    app.submits["visit"] = submitted
    return got


@pytest.fixture
def visit_form(bot):
    return add_visit_form(bot.engine.app)


async def test_a_form_opens_as_a_modal_and_shows_errors_in_it(bot, visit_form):
    fake = bot.fake
    await fake.acked(await fake.dm(ALICE, "visitnote"))
    await bot.settle()
    await fake.acked(await fake.press(ALICE, "Fill in"))
    await fake.wait_for(lambda: fake.views, 3, "the modal to open")
    view_id, view = next(iter(fake.views.items()))
    assert view["title"]["text"] == "Visit note"
    kinds = {b["block_id"]: b["element"]["type"] for b in view["blocks"]}
    assert kinds == {"when": "plain_text_input", "where": "static_select", "hurt": "radio_buttons",
                     "notes": "plain_text_input"}

    ack = await fake.acked(await fake.submit(ALICE, view_id, {"when": "next tuesday", "where": "desk"}))
    assert ack["payload"]["response_action"] == "errors"
    assert set(ack["payload"]["errors"]) == {"when", "hurt"}
    assert "2026-11-25 14:30" in ack["payload"]["errors"]["when"]
    assert visit_form == []

    ack = await fake.acked(await fake.submit(ALICE, view_id, {"when": "14:00", "where": "toilets", "hurt": "no"}))
    assert not (ack.get("payload") or {}).get("response_action")
    await bot.settle()
    assert visit_form == [("alice", "42", {"when": "2026-11-25 14:00", "where": "toilets", "hurt": "no"})]
    assert texts(fake, ALICE)[-1] == "Thanks, visit note saved."


async def test_a_message_asking_for_a_form_gets_an_open_button(bot, visit_form):
    person = bot.engine.directory.person("alice")
    await bot.engine.perform(lambda tx: tx.send(person, Outbound("Your visit note is due.", form="visit",
                                                                 form_ref="7")))
    await bot.settle()
    await fake_press_and_wait(bot, ALICE, "Open Visit note")
    view = next(iter(bot.fake.views.values()))
    assert '"arg": "7"' in view["private_metadata"]


async def fake_press_and_wait(bot: Bot, user: str, label: str) -> None:
    await bot.fake.acked(await bot.fake.press(user, label))
    await bot.fake.wait_for(lambda: bot.fake.views, 3, "the modal to open")


# --- delivery: rate limits, server errors, pacing, permanent failures ------------------------------------------

async def test_a_429_storm_is_ridden_out_and_everything_arrives(bot):
    fake = bot.fake
    fake.fail("chat.postMessage", status=429, retry_after=0.3, times=6)
    await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?"))
    await fake.acked(await fake.dm(CAROL, "help"))
    await fake.acked(await fake.dm(DANA, "alerts"))
    await fake.wait_for(lambda: len(fake.seen(ALICE)) == 1 and any(m.buttons for m in fake.seen(BOB)) and fake.seen(CAROL)
                        and fake.seen(DANA), 8, "every message after the storm")
    await bot.settle()
    statuses = await bot.engine.store.read(lambda c: c.execute("SELECT status FROM outbox").fetchall())
    assert {r[0] for r in statuses} == {"sent"}
    assert len([c for c in fake.calls_to("chat.postMessage")]) == len(statuses) + 6  # six 429s, then success
    # after a 429 the same chat is not tried again before Retry-After has passed
    by_chat: dict[str, list[float]] = {}
    for c in fake.calls_to("chat.postMessage"):
        by_chat.setdefault(c.args["channel"], []).append(c.at)
    for times in by_chat.values():
        for a, b in zip(times, times[1:], strict=False):
            assert b - a >= 0.25


async def test_server_errors_are_retried(bot):
    fake = bot.fake
    fake.fail("chat.postMessage", status=500, times=2)
    fake.fail("chat.postMessage", status=200, error="internal_error", times=1)
    await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?"))
    await fake.wait_for(lambda: fake.seen(ALICE) and [m for m in fake.seen(BOB) if m.buttons], 5,
                        "delivery after the errors")
    assert len(fake.seen(ALICE)) == 1


async def test_a_request_that_hangs_times_out_and_is_sent_again(bot):
    fake = bot.fake
    bot.slack.client.timeout = 0.3
    fake.slow("chat.postMessage", 1.0, times=1)
    await fake.acked(await fake.dm(ALICE, "help"))
    await fake.wait_for(lambda: fake.seen(ALICE), 5, "the reply after the timeout")
    assert len(fake.calls_to("chat.postMessage")) >= 2  # the first try timed out; the outbox tried again


async def test_chat_postmessage_is_paced_per_channel_alarms_first(tmp_path, fake):
    # 0.8 s: time enough for the codeword to be stored and queued behind the first reply even on a loaded machine
    bot = await start_bot(tmp_path, fake, limits=Limits(per_second=20, per_chat_interval=0.8))
    try:
        for i in range(3):
            await fake.acked(await fake.dm(BOB, f"timeline {i}"))
        await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?"))
        await fake.wait_for(lambda: len(fake.seen(BOB)) >= 4, 5, "Bob's messages")
        posts = [c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == BOB]
        gaps = [b.at - a.at for a, b in zip(posts, posts[1:], strict=False)]
        assert all(g >= 0.77 for g in gaps), gaps
        assert posts[1].args["blocks"][-1]["type"] == "actions"  # the alarm jumped the queued replies
    finally:
        await bot.engine.stop()


async def test_undeliverable_is_marked_failed_and_sent_on_the_other_platform(tmp_path, fake):
    from bot.transports.memory import MemoryTransport

    telegram = MemoryTransport("telegram")
    ids = dict(SLACK_IDS, bob="U0GONE")  # Bob's Slack account was deactivated
    bot = await start_bot(tmp_path, fake, people=ids, extra=[telegram])
    bob = bot.engine.directory.person("bob").model_copy(update={"telegram": 4242})
    bot.engine.directory.put(bob)
    try:
        await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?"))
        await bot.settle()
        assert [d.chat_id for d in (r.delivery for r in telegram.records)] == ["4242"]
        assert "Aggressive" in telegram.records[0].delivery.text
        rows = await bot.engine.store.read(lambda c: c.execute(
            "SELECT text FROM alert_events WHERE kind='delivery_failed'").fetchall())
        assert rows and "channel_not_found" in rows[0][0] and "telegram" in rows[0][0]
    finally:
        await bot.engine.stop()


async def test_attachments_are_uploaded_into_the_dm(bot, tmp_path):

    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    person = bot.engine.directory.person("dana")
    await bot.engine.perform(lambda tx: tx.send(person, Outbound("Monthly report", attachment=str(png))))
    await bot.settle()
    assert texts(bot.fake, DANA) == ["Monthly report"]
    assert bot.fake.uploads and bot.fake.uploads[0]["bytes"] == 108
    assert bot.fake.uploads[0]["channel"] == bot.fake.dm_channel(DANA)


# --- HTTP mode -----------------------------------------------------------------------------------------------

async def test_http_mode_signed_requests_work_and_bad_or_stale_signatures_get_401(tmp_path, fake):
    bot = await start_bot(tmp_path, fake, http=True)
    url = f"http://127.0.0.1:{bot.slack.http_port}/slack/events"
    try:
        status, text = await post_signed(url, {"token": "x", "challenge": "c-123", "type": "url_verification"})
        assert status == 200 and "c-123" in text  # Slack checks the Request URL this way when it is set
        body = fake.message_event(ALICE, "Is Mr Brown in today?")
        status, _ = await post_signed(url, body, secret="not-the-secret")
        assert status == 401
        status, _ = await post_signed(url, body, timestamp=int(time.time()) - 600)
        assert status == 401
        await bot.settle()
        assert fake.seen(BOB) == [] and fake.seen(ALICE) == []

        status, _ = await post_signed(url, body)
        assert status == 200
        status, _ = await post_signed(url, body, retry_num=1)  # Slack's retry of the same event
        assert status == 200
        await bot.settle()
        assert texts(fake, ALICE) == ["I'll have a look in the staff room for you."]
        card = bot.card(BOB)
        ack = next(b for b in card.buttons if b["text"]["text"] == "Acknowledge")
        status, _ = await post_signed(url, fake.press_body(BOB, card, ack), kind="interactive")
        assert status == 200
        status, text = await post_signed(url, fake.command_body(BOB, "alerts"), kind="command")
        assert status == 200
        await bot.settle()
        assert "Acknowledged by Bob Green" in bot.card(BOB).shown
        assert "Live alerts" in texts(fake, BOB)[-1]
    finally:
        await bot.engine.stop()


async def test_the_real_incident_form_opens_as_a_modal_and_completes_the_stub(bot):
    fake = bot.fake
    await fake.acked(await fake.dm(ALICE, "log man shouting at the desk"))
    await bot.settle()
    await fake.acked(await fake.press(ALICE, "Complete form"))
    await fake.wait_for(lambda: fake.views, 3, "the incident modal")
    view_id, view = next(iter(fake.views.items()))
    assert view["title"]["text"] == "Incident report"
    assert len(view["blocks"]) == len(forms.INCIDENT.fields)
    good = {"occurred_at": "14:00", "location": "enquiry desk", "category": "verbal abuse", "affected": "staff",
            "what_happened": "He shouted & swore at me <!channel>", "person_description": "tall, red coat",
            "injuries": "none", "police_informed": "no", "actions_taken": "asked him to leave",
            "ban_recommended": "no", "welfare_support": "no"}
    ack = await fake.acked(await fake.submit(ALICE, view_id, {**good, "person_description": "card 1234567890123"}))
    assert ack["payload"]["response_action"] == "errors"
    assert list(ack["payload"]["errors"]) == ["person_description"]
    assert "library card number" in ack["payload"]["errors"]["person_description"]

    ack = await fake.acked(await fake.submit(ALICE, view_id, good))
    assert not (ack.get("payload") or {}).get("response_action")
    await bot.settle()
    rows = await bot.engine.store.read(lambda c: c.execute("SELECT status FROM incidents").fetchall())
    assert [r[0] for r in rows] == ["complete"]
    for call in fake.calls_to("chat.postMessage"):
        assert "<!channel>" not in call.args["text"]


async def test_a_refused_bot_token_sends_alerts_by_the_other_platform(tmp_path, fake):
    from bot.transports.memory import MemoryTransport

    telegram = MemoryTransport("telegram")
    bot = await start_bot(tmp_path, fake, extra=[telegram], slack_bot_token="xoxb-revoked")
    bob = bot.engine.directory.person("bob").model_copy(update={"telegram": 4242})
    bot.engine.directory.put(bob)
    try:
        await telegram.say("4242", "help")  # Bob is on Telegram too
        alice = bot.engine.directory.person("alice").model_copy(update={"telegram": 1001})
        bot.engine.directory.put(alice)
        await telegram.say("1001", "Is Mr Brown in today?")
        await bot.settle()
        assert any("Aggressive" in r.delivery.text for r in telegram.records if r.delivery.chat_id == "4242")
        rows = await bot.engine.store.read(lambda c: c.execute(
            "SELECT text FROM alert_events WHERE kind='delivery_failed'").fetchall())
        assert rows and "invalid_auth" in rows[0][0]
    finally:
        await bot.engine.stop()


async def test_slack_being_unreachable_does_not_hold_up_the_bot(tmp_path):
    import socket

    from bot.transports.memory import MemoryTransport

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nowhere = FakeSlack()
    nowhere.port = port
    telegram = MemoryTransport("telegram")
    bot = await start_bot(tmp_path, nowhere, extra=[telegram], wait=False)  # returns with Slack unreachable
    try:
        alice = bot.engine.directory.person("alice").model_copy(update={"telegram": 1001})
        bot.engine.directory.put(alice)
        await telegram.say("1001", "Is Mr Brown in today?")
        await bot.settle()
        assert telegram.to("1001")[0].text == "I'll have a look in the staff room for you."
    finally:
        await bot.engine.stop()


def test_a_long_message_is_split_into_sections_slack_accepts():
    from bot.messages import Button

    lines = [f"14:{i % 60:02d}:00  notified someone via slack (tier {i})" for i in range(200)]
    text, blocks = message("\n".join(lines), [Button("Resolve", "alert.resolve", "1")])
    sections = [b for b in blocks if b["type"] == "section"]
    assert len(sections) >= 3 and all(len(b["text"]["text"]) <= 3000 for b in sections)
    assert "\n".join(b["text"]["text"] for b in sections) == "\n".join(lines)  # nothing lost, lines kept whole
    assert blocks[-1]["type"] == "actions" and len(text) <= 3900
