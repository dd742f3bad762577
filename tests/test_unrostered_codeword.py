"""A codeword from an account not on the roster is never silent (issue 12, defect 9)."""

from __future__ import annotations

from bot.book import load_book, load_service
from bot.compose import build_app
from bot.engine import Engine
from bot.messages import Inbound
from bot.transports.memory import MemoryTransport
from tests.conftest import make_settings, settle


async def _engine(tmp_path, clock, platform):
    console, other = MemoryTransport("console"), MemoryTransport(platform)
    s = make_settings(tmp_path / "u.db")
    service = load_service(s.service_file)
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=clock, transports=[console, other])
    await engine.start()
    return engine, console, other


async def _say(engine, platform, user, text, n, name="Al Smith"):
    await engine.receive(Inbound(platform, f"ev{n}", user, user, text=text, display_name=name))
    await settle(engine)


async def test_slack_codeword_from_an_unknown_member_alerts_the_admins_as_unverified(tmp_path, clock, caplog):
    engine, console, slack = await _engine(tmp_path, clock, "slack")
    try:
        await _say(engine, "slack", "U0TYPO", "Is Mr Brown in today?", 1)
        assert "This number is for library staff" in slack.to("U0TYPO")[-1].text  # still the neutral reply
        dana = [d for d in console.to("dana") if d.kind == "send"]
        assert dana and "unverified sender" in dana[-1].text.lower()
        assert "U0TYPO" in dana[-1].text and "Al Smith" in dana[-1].text and "slack" in dana[-1].text.lower()
        assert [b.label for b in dana[-1].buttons][0] == "Acknowledge"
        assert "U0TYPO" in caplog.text
        await _say(engine, "slack", "U0TYPO", "Is Mr Brown in today?", 2)
        alerts = await engine.store.read(lambda c: c.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])
        assert alerts == 1  # once per account per day
    finally:
        await engine.stop()


async def test_telegram_codeword_from_an_unknown_account_tells_the_admins_once(tmp_path, clock):
    engine, console, tg = await _engine(tmp_path, clock, "telegram")
    try:
        await _say(engine, "telegram", "555", "Is Mr Brown in today?", 1, name="Stranger")
        await _say(engine, "telegram", "555", "Is Mr Brown in today?", 2, name="Stranger")
        told = [d.text for d in console.to("dana") if "555" in d.text]
        assert len(told) == 1 and "telegram" in told[0].lower() and "Stranger" in told[0]
        assert "Bob Green" not in "".join(d.text for d in tg.to("555"))
    finally:
        await engine.stop()
