"""Process level: an event is confirmed to its platform only after the store has recorded it.

Each test runs `saferbot run` as a real process against a fake platform server (in this
test's event loop), with the test-only fault point SAFERBOT_FAULT_PAUSE=intake:<marker>:
the engine stops just before storing the event. The test kills the process with -9 in
that window, starts it again, and checks that the platform delivered the event again and
that it acted exactly once (one alert, one cover reply, one card, one ack).
In-process checks of a store that cannot commit are in test_intake_not_stored.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack, post_signed
from tests.fakes.telegram_api import FakeTelegram
from tests.proc import any_time_service

ROOT = Path(__file__).resolve().parent.parent
CODEWORD = "Is Mr Brown in today?"
COVER = "I'll have a look in the staff room for you."
ACK_REPLY = "Mr Brown has just come in, he'll be with you in a minute."
TG_ALICE, TG_BOB = 1001, 1002
SL_ALICE, SL_BOB = "U0ALICE", "U0BOB"
EARLY = 0.3  # seconds given to a transport to (wrongly) confirm before the kill


class Proc:
    """One `saferbot run` process, its output in a log file."""

    def __init__(self, env: dict[str, str], cwd: Path, name: str):
        self.log = cwd / f"{name}.log"
        self.started = time.monotonic()
        with self.log.open("w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=cwd, env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no clean shutdown at all
        self.proc.wait(5)

    async def stop(self) -> None:
        """A clean stop (SIGTERM), waited for without blocking the fake server's loop."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        for _ in range(500):
            if self.proc.poll() is not None:
                return
            await asyncio.sleep(0.02)
        self.kill9()


async def until(predicate: Callable[[], Any], what: str, proc: Proc | None = None, timeout: float = 15.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.proc.poll() is not None:
            break
        await asyncio.sleep(0.02)
    log = proc.output()[-3000:] if proc else ""
    raise AssertionError(f"{what} did not happen\n--- process output ---\n{log}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class World:
    """Files and environment shared by the processes of one test."""

    def __init__(self, tmp: Path, ids: dict[str, dict[str, Any]], **env: str):
        self.tmp = tmp
        self.db = tmp / "saferbot.db"
        self.marker = tmp / "paused"
        service = yaml.safe_load(any_time_service(tmp).read_text())  # a real process: the rota holds at any time
        for key, extra in ids.items():
            service["people"][key].update(extra)
        (tmp / "service.yaml").write_text(yaml.safe_dump(service))
        base = {k: v for k, v in os.environ.items() if not k.startswith("SAFERBOT_")}
        base.update(SAFERBOT_DB=str(self.db), SAFERBOT_SERVICE_FILE=str(tmp / "service.yaml"),
                    SAFERBOT_CODEWORDS_FILE=str(ROOT / "codewords.yaml"), SAFERBOT_OUTBOX_BACKOFF="0.05",
                    PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT) + os.pathsep + base.get("PYTHONPATH", ""))
        self.env = base | env
        self.procs: list[Proc] = []

    def start(self, *, paused: bool = False, at: str = "intake") -> Proc:
        """A new process; `paused`: it stops at fault point `at` (intake: before the store; stored: after)."""
        env = dict(self.env)
        if paused:
            env["SAFERBOT_FAULT_PAUSE"] = f"{at}:{self.marker}"
        proc = Proc(env, self.tmp, f"run{len(self.procs) + 1}")
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        for p in self.procs:
            p.kill9()

    def query(self, sql: str, *args: Any) -> list[tuple]:
        con = sqlite3.connect(self.db, timeout=5)
        try:
            return [tuple(r) for r in con.execute(sql, args).fetchall()]
        finally:
            con.close()

    def delivered(self) -> bool:
        """Every outbox row has been sent (nothing queued or in flight)."""
        if not self.db.exists():
            return False
        try:
            return self.query("SELECT COUNT(*) FROM outbox WHERE status!='sent'") == [(0,)]
        except sqlite3.OperationalError:
            return False

    async def crash_inside_intake(self, proc: Proc, confirmed: Callable[[], bool]) -> None:
        """Wait for the pause, give the transport a moment to confirm early, then kill -9."""
        await until(self.marker.exists, "the event reaching the intake pause", proc)
        end = time.monotonic() + EARLY
        while time.monotonic() < end and not confirmed():
            await asyncio.sleep(0.01)
        early = confirmed()
        proc.kill9()
        assert not early, "the platform was told the event had arrived before it was stored"


# --- Telegram (long polling, the default) ------------------------------------------------------------

@pytest.fixture
async def telegram():
    fake = FakeTelegram()
    await fake.start()
    fake.user(TG_ALICE, "Alice")
    bob = fake.user(TG_BOB, "Bob")
    fake.chats[TG_BOB] = {"id": TG_BOB, "type": "private", "first_name": bob["first_name"]}
    yield fake
    await fake.stop()


def telegram_world(tmp_path: Path, fake: FakeTelegram, **env: str) -> World:
    return World(tmp_path, {"alice": {"telegram": TG_ALICE}, "bob": {"telegram": TG_BOB}},
                 SAFERBOT_TELEGRAM_TOKEN=fake.token, SAFERBOT_TELEGRAM_API_URL=fake.url, **env)


def confirmed_past(fake: FakeTelegram, update_id: int) -> bool:
    """Telegram has been told (a getUpdates offset beyond it) that this update arrived."""
    return any(int(c.params.get("offset") or 0) > update_id for c in fake.calls_of("getUpdates"))


def polling(fake: FakeTelegram, proc: Proc) -> bool:
    return any(c.at > proc.started for c in fake.calls_of("getUpdates"))


def cards(fake: FakeTelegram, chat: int) -> list:
    return [m for m in fake.inbox(chat) if m.buttons or m.edits]


async def test_telegram_message_crash_before_store_is_received_again_and_acts_once(tmp_path, telegram):
    fake, w = telegram, telegram_world(tmp_path, telegram)
    try:
        first = w.start(paused=True)
        await until(lambda: polling(fake, first), "the first process polling", first)
        uid = fake.say(fake.users[TG_ALICE], CODEWORD)
        await w.crash_inside_intake(first, lambda: confirmed_past(fake, uid))
        assert fake.texts(TG_ALICE) == []

        second = w.start()
        await until(lambda: COVER in fake.texts(TG_ALICE) and cards(fake, TG_BOB), "the alert after restart", second)
        await until(lambda: confirmed_past(fake, uid) and w.delivered(), "the update confirmed", second)
        await asyncio.sleep(0.3)
        assert fake.texts(TG_ALICE) == [COVER]
        assert len(cards(fake, TG_BOB)) == 1
        assert w.query("SELECT COUNT(*) FROM alerts") == [(1,)]
        assert w.query("SELECT key FROM inbound") == [(f"telegram:{uid}",)]
    finally:
        w.kill_all()


async def test_telegram_update_stored_but_not_confirmed_comes_again_and_does_nothing(tmp_path, telegram):
    fake, w = telegram, telegram_world(tmp_path, telegram)
    try:
        first = w.start(paused=True, at="stored")
        await until(lambda: polling(fake, first), "the first process polling", first)
        uid = fake.say(fake.users[TG_ALICE], CODEWORD)
        await until(lambda: w.marker.exists() and cards(fake, TG_BOB) and w.delivered(), "the alert", first)
        assert not confirmed_past(fake, uid)
        first.kill9()  # stored and acted on, but Telegram was never told

        second = w.start()
        await until(lambda: confirmed_past(fake, uid), "the repeat confirmed", second)
        await asyncio.sleep(0.5)
        assert fake.texts(TG_ALICE) == [COVER]
        assert len(cards(fake, TG_BOB)) == 1
        assert w.query("SELECT COUNT(*) FROM alerts") == [(1,)]
    finally:
        w.kill_all()


async def raise_alert_telegram(fake: FakeTelegram, w: World) -> Any:
    """A first, healthy process: Alice's codeword puts a card with buttons on Bob's phone."""
    setup = w.start()
    await until(lambda: polling(fake, setup), "the setup process polling", setup)
    uid = fake.say(fake.users[TG_ALICE], CODEWORD)
    card = (await until(lambda: cards(fake, TG_BOB), "Bob's alert card", setup))[0]
    await until(lambda: confirmed_past(fake, uid) and w.delivered(), "the setup settling", setup)
    await setup.stop()
    return card


async def test_telegram_button_press_crash_before_store_is_received_again_and_acts_once(tmp_path, telegram):
    fake, w = telegram, telegram_world(tmp_path, telegram)
    try:
        card = await raise_alert_telegram(fake, w)
        paused = w.start(paused=True)
        await until(lambda: polling(fake, paused), "the second process polling", paused)
        fake.press(fake.users[TG_BOB], card, "Acknowledge")
        uid = fake.updates[-1]["update_id"]
        await w.crash_inside_intake(paused, lambda: confirmed_past(fake, uid))
        assert "Acknowledged" not in card.text

        third = w.start()
        await until(lambda: "Acknowledged by Bob Green" in card.text and ACK_REPLY in fake.texts(TG_ALICE),
                    "the ack after restart", third)
        await until(lambda: confirmed_past(fake, uid) and w.delivered(), "the press confirmed", third)
        await asyncio.sleep(0.3)
        assert fake.texts(TG_ALICE).count(ACK_REPLY) == 1
        assert w.query("SELECT status, acked_by FROM alerts") == [("acked", "bob")]
        assert w.query("SELECT COUNT(*) FROM inbound WHERE key=?", f"telegram:{uid}") == [(1,)]
    finally:
        w.kill_all()


async def test_telegram_webhook_answers_only_after_the_store(tmp_path, telegram):
    fake, port = telegram, free_port()
    url = f"http://127.0.0.1:{port}/telegram-hook"
    w = telegram_world(tmp_path, fake, SAFERBOT_TELEGRAM_WEBHOOK_URL=url, SAFERBOT_TELEGRAM_WEBHOOK_SECRET="s3cret",
                       SAFERBOT_TELEGRAM_WEBHOOK_LISTEN="127.0.0.1", SAFERBOT_TELEGRAM_WEBHOOK_PORT=str(port))
    try:
        first = w.start(paused=True)
        await until(lambda: fake.webhook and listening(port), "the webhook being set", first)
        uid = fake.say(fake.users[TG_ALICE], CODEWORD)
        await w.crash_inside_intake(first, lambda: (uid, 200) in fake.webhook_posts)

        second = w.start()  # the fake keeps pushing the update until it is answered with 200
        await until(lambda: COVER in fake.texts(TG_ALICE) and cards(fake, TG_BOB), "the alert after restart", second)
        await until(lambda: (uid, 200) in fake.webhook_posts and w.delivered(), "the update answered", second)
        await asyncio.sleep(0.3)
        assert fake.texts(TG_ALICE) == [COVER]
        assert w.query("SELECT COUNT(*) FROM alerts") == [(1,)]
    finally:
        w.kill_all()


# --- Slack (Socket Mode, the default) -------------------------------------------------------------------

@pytest.fixture
async def slack():
    fake = FakeSlack(users={SL_ALICE, SL_BOB})
    await fake.start()
    yield fake
    await fake.stop()


def slack_world(tmp_path: Path, fake: FakeSlack, **env: str) -> World:
    mode = env or {"SAFERBOT_SLACK_APP_TOKEN": APP_TOKEN}
    return World(tmp_path, {"alice": {"slack": SL_ALICE}, "bob": {"slack": SL_BOB}},
                 SAFERBOT_SLACK_BOT_TOKEN=BOT_TOKEN, SAFERBOT_SLACK_API_URL=fake.api_url, **mode)


def slack_texts(fake: FakeSlack, user: str) -> list[str]:
    return [m.shown for m in fake.seen(user)]


def slack_cards(fake: FakeSlack, user: str) -> list:
    return [m for m in fake.seen(user) if m.buttons or m.updates]


async def connected(fake: FakeSlack, proc: Proc, count: int) -> None:
    await until(lambda: fake.connections >= count and fake.sockets, f"Socket Mode connection {count}", proc)


async def test_slack_dm_crash_before_store_is_received_again_and_acts_once(tmp_path, slack):
    fake, w = slack, slack_world(tmp_path, slack)
    try:
        first = w.start(paused=True)
        await connected(fake, first, 1)
        env = await fake.dm(SL_ALICE, CODEWORD)
        await w.crash_inside_intake(first, lambda: env in fake.acks)

        second = w.start()
        await connected(fake, second, 2)  # Slack sends the unacked event again
        await until(lambda: COVER in slack_texts(fake, SL_ALICE) and slack_cards(fake, SL_BOB),
                    "the alert after restart", second)
        await until(lambda: env in fake.acks and w.delivered(), "the event acked", second)
        await asyncio.sleep(0.3)
        assert slack_texts(fake, SL_ALICE) == [COVER]
        assert len(slack_cards(fake, SL_BOB)) == 1
        assert w.query("SELECT COUNT(*) FROM alerts") == [(1,)]
    finally:
        w.kill_all()


async def test_slack_event_stored_but_not_acked_comes_again_and_does_nothing(tmp_path, slack):
    fake, w = slack, slack_world(tmp_path, slack)
    try:
        first = w.start(paused=True, at="stored")
        await connected(fake, first, 1)
        env = await fake.dm(SL_ALICE, CODEWORD)
        await until(lambda: w.marker.exists() and slack_cards(fake, SL_BOB) and w.delivered(), "the alert", first)
        assert env not in fake.acks
        first.kill9()  # stored and acted on, but Slack was never told

        second = w.start()
        await connected(fake, second, 2)
        await until(lambda: env in fake.acks, "the repeat acked", second)
        await asyncio.sleep(0.5)
        assert slack_texts(fake, SL_ALICE) == [COVER]
        assert len(slack_cards(fake, SL_BOB)) == 1
        assert w.query("SELECT COUNT(*) FROM alerts") == [(1,)]
    finally:
        w.kill_all()


async def test_slack_button_press_crash_before_store_is_received_again_and_acts_once(tmp_path, slack):
    fake, w = slack, slack_world(tmp_path, slack)
    try:
        setup = w.start()
        await connected(fake, setup, 1)
        await fake.dm(SL_ALICE, CODEWORD)
        await until(lambda: slack_cards(fake, SL_BOB) and w.delivered() and not fake.unacked, "the card", setup)
        await setup.stop()

        paused = w.start(paused=True)
        await connected(fake, paused, 2)
        env = await fake.press(SL_BOB, "Acknowledge")
        await w.crash_inside_intake(paused, lambda: env in fake.acks)

        third = w.start()
        await connected(fake, third, 3)
        await until(lambda: "Acknowledged by Bob Green" in slack_cards(fake, SL_BOB)[0].shown
                    and ACK_REPLY in slack_texts(fake, SL_ALICE), "the ack after restart", third)
        await until(lambda: env in fake.acks and w.delivered(), "the press acked", third)
        await asyncio.sleep(0.3)
        assert slack_texts(fake, SL_ALICE).count(ACK_REPLY) == 1
        assert w.query("SELECT status, acked_by FROM alerts") == [("acked", "bob")]
    finally:
        w.kill_all()


async def test_slack_slash_command_crash_before_store_is_received_again_and_acts_once(tmp_path, slack):
    fake, w = slack, slack_world(tmp_path, slack)
    try:
        first = w.start(paused=True)
        await connected(fake, first, 1)
        env = await fake.command(SL_ALICE, CODEWORD)
        await w.crash_inside_intake(first, lambda: env in fake.acks)

        second = w.start()
        await connected(fake, second, 2)
        await until(lambda: COVER in slack_texts(fake, SL_ALICE) and slack_cards(fake, SL_BOB),
                    "the alert after restart", second)
        await until(lambda: env in fake.acks and w.delivered(), "the command acked", second)
        await asyncio.sleep(0.3)
        assert slack_texts(fake, SL_ALICE) == [COVER]
        assert w.query("SELECT COUNT(*) FROM alerts") == [(1,)]
    finally:
        w.kill_all()


async def test_slack_http_event_is_answered_200_only_after_the_store(tmp_path, slack):
    fake, port = slack, free_port()
    w = slack_world(tmp_path, fake, SAFERBOT_SLACK_SIGNING_SECRET=SIGNING_SECRET,
                    SAFERBOT_SLACK_HTTP_LISTEN="127.0.0.1", SAFERBOT_SLACK_HTTP_PORT=str(port))
    url = f"http://127.0.0.1:{port}/slack/events"
    body = fake.message_event(SL_ALICE, CODEWORD, event_id="Ev-HTTP-1")

    async def deliver(retry: int | None) -> int:
        try:
            return (await post_signed(url, body, retry_num=retry))[0]
        except aiohttp.ClientError:
            return 0  # the connection died with the process

    try:
        first = w.start(paused=True)
        await until(lambda: listening(port), "the HTTP listener", first)
        attempt = asyncio.create_task(deliver(None))
        await w.crash_inside_intake(first, attempt.done)
        assert await attempt != 200

        second = w.start()
        await until(lambda: listening(port), "the HTTP listener after restart", second)
        assert await deliver(1) == 200  # Slack retries with X-Slack-Retry-Num
        await until(lambda: COVER in slack_texts(fake, SL_ALICE) and w.delivered(), "the alert", second)
        assert await deliver(2) == 200  # a further retry is answered and does nothing
        await asyncio.sleep(0.3)
        assert slack_texts(fake, SL_ALICE) == [COVER]
        assert w.query("SELECT COUNT(*) FROM alerts") == [(1,)]
    finally:
        w.kill_all()
