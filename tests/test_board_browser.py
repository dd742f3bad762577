"""The board in a real browser: Debian's chromium driven by Playwright, against the real engine,
the real Telegram transport and the fake Bot API (tests/fakes). Skipped, loudly, without chromium;
under CI (CI=true or SAFERBOT_TEST_PG_REQUIRED=1) a missing chromium fails instead.

The screenshots in docs/board/ are taken here (docs/board.md shows them)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from aiohttp import web

from bot.board.pages import routes
from tests.board_kit import link_in
from tests.conftest import ROOT
from tests.fakes.telegram_api import FakeTelegram
from tests.pgtest import REQUIRED
from tests.test_telegram import ACK_REPLY, ALICE, BOB, start_bot

CHROMIUM = Path(os.environ.get("SAFERBOT_TEST_CHROMIUM", "/usr/bin/chromium"))
# the docs' screenshots are rewritten only when asked (SAFERBOT_SCREENSHOTS=1), so a test run leaves the
# work tree clean; otherwise they are still taken, into a scratch folder
SHOTS = ROOT / "docs" / "board" if os.environ.get("SAFERBOT_SCREENSHOTS") == "1" else Path(
    tempfile.mkdtemp(prefix="saferbot-board-shots-"))
WAIT = 20_000  # ms: generous, the machine may be loaded; nothing here asserts a duration


def need_chromium() -> None:
    if CHROMIUM.exists():
        return
    why = f"no chromium at {CHROMIUM}: install it with `apt-get install -y chromium` (Debian)"
    if REQUIRED:
        pytest.fail(f"the board's browser tests must run here (CI): {why}", pytrace=False)
    pytest.skip(f"BOARD BROWSER TESTS SKIPPED: {why}")


class Site:
    """The board on a real port, stopped and started again on the same port (a restart, a takeover)."""

    def __init__(self, engine):
        self.engine, self.port, self.runner = engine, 0, None

    async def start(self) -> str:
        app = web.Application()
        app.add_routes(routes(self.engine))
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def fake():
    f = FakeTelegram()
    await f.start()
    yield f
    await f.stop()


@pytest.fixture
async def browser():
    need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        await b.close()


@pytest.fixture
async def desk(tmp_path, fake, db):
    bot = await start_bot(tmp_path, fake, db=db, board=True, board_url="http://127.0.0.1:1")
    site = Site(bot.engine)
    base = await site.start()
    yield bot, site, base
    await site.stop()
    await bot.engine.stop()


async def sign_in(bot, fake, browser, base: str, who: str, user_id: int, tablet: bool = False):
    user = bot.users[who]
    before = len(fake.texts(user_id))
    fake.say(user, "board")
    text = await fake.wait_for(lambda: next((t for t in fake.texts(user_id)[before:] if "/board/login" in t), None),
                               timeout=WAIT / 1000)
    size = {"width": 820, "height": 1180} if tablet else {"width": 1280, "height": 900}
    page = await (await browser.new_context(viewport=size)).new_page()
    await page.goto(f"{base}/board/login?t={link_in(text)}")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Duty board").wait_for(timeout=WAIT)
    await page.locator('#live[data-state="live"]').wait_for(timeout=WAIT)
    return page


async def test_codeword_appears_live_and_is_acknowledged_from_the_board(desk, fake, browser):
    bot, site, base = desk
    alice = await bot.register("alice", ALICE, "Alice")
    await bot.register("bob", BOB, "Bob")
    page = await sign_in(bot, fake, browser, base, "bob", BOB)
    assert await page.locator("[data-alert]").count() == 0

    fake.say(alice, "Is Mr Brown in today?")  # the page is not reloaded: the row arrives on the stream
    row = page.locator('[data-alert][data-state="open"]')
    await row.wait_for(timeout=WAIT)
    assert "NOT ACKNOWLEDGED" in await row.inner_text() and "Alice Smith" in await row.inner_text()
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / "board-alert.png"), full_page=True)

    ack = row.get_by_role("button", name="Acknowledge")  # a real button: the keyboard presses it
    await ack.focus()
    await page.keyboard.press("Enter")
    acked = page.locator('[data-alert][data-state="acked"]')
    await acked.wait_for(timeout=WAIT)
    assert "Acknowledged by Bob Green" in await acked.inner_text()
    await fake.wait_for(lambda: ACK_REPLY in fake.texts(ALICE), timeout=WAIT / 1000)  # the discreet reply
    # every chat copy of the card says so too (Bob's Telegram card was edited)
    await fake.wait_for(lambda: any("Acknowledged by Bob Green" in t for t in fake.texts(BOB)), timeout=WAIT / 1000)
    await page.screenshot(path=str(SHOTS / "board-acknowledged.png"), full_page=True)


async def test_a_dropped_stream_recovers_the_current_state(desk, fake, browser):
    bot, site, base = desk
    alice = await bot.register("alice", ALICE, "Alice")
    await bot.register("bob", BOB, "Bob")
    page = await sign_in(bot, fake, browser, base, "bob", BOB, tablet=True)

    await site.stop()  # the stream drops (a restart, a network blip)
    await page.locator('#live[data-state="down"]').wait_for(timeout=WAIT)
    fake.say(alice, "backup by the returns trolley")  # happens while the board is disconnected
    await fake.wait_for(lambda: any("BACKUP WANTED" in t for t in fake.texts(BOB)), timeout=WAIT / 1000)
    await site.start()  # same port: the page reconnects by itself and gets the whole current state
    await page.locator('#live[data-state="live"]').wait_for(timeout=WAIT)
    card = page.locator("#p-backup .card", has_text="returns trolley")
    await card.wait_for(timeout=WAIT)
    assert "NOBODY ON THE WAY" in await card.inner_text()
    await page.screenshot(path=str(SHOTS / "board-tablet.png"), full_page=True)


async def test_resolve_with_a_note_then_review_the_incident_and_print_the_report(desk, fake, browser):
    bot, site, base = desk
    alice = await bot.register("alice", ALICE, "Alice")
    await bot.register("bob", BOB, "Bob")
    page = await sign_in(bot, fake, browser, base, "bob", BOB)
    fake.say(alice, "Is Mr Brown in today?")
    row = page.locator('[data-alert][data-state="open"]')
    await row.wait_for(timeout=WAIT)
    await row.get_by_label("Note").fill("Left calmly <b>after</b> a chat")  # the label names the field
    await row.get_by_role("button", name="Resolve").click()
    await page.get_by_text("No open alerts.").wait_for(timeout=WAIT)
    assert "resolved" in (await page.locator(".said").inner_text()).lower()

    await page.get_by_role("link", name="Incidents", exact=True).click()
    await page.get_by_role("heading", name="Incidents").wait_for(timeout=WAIT)
    await page.get_by_role("link", name="INC-2026-0001").click()
    record = page.locator("pre.record").first
    await record.wait_for(timeout=WAIT)
    timeline = await page.locator("#h-timeline").locator("..").inner_text()
    assert "resolved by Bob Green: Left calmly <b>after</b> a chat" in timeline  # typed markup shows as text
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / "board-incident.png"), full_page=True)

    await page.goto(f"{base}/board/report?month=2026-11")
    await page.get_by_role("heading", name="Monthly incident report").wait_for(timeout=WAIT)
    await page.emulate_media(media="print")  # as printed: no menus or buttons
    assert not await page.get_by_role("button", name="Sign out").is_visible()
    await page.screenshot(path=str(SHOTS / "board-report-print.png"), full_page=True)
