"""A panic button proves it is alive: a signed device silent for SAFERBOT_TRIGGER_SILENT_AFTER while its
branch is open gets one notice to the admins (not one a minute) and one "back" notice; silence while the
branch is closed (its `hours:` in the service file) says nothing; status and doctor show it."""

from __future__ import annotations

import pytest
import yaml

from bot import cli
from bot.book import ConfigError, load_book, load_service
from bot.compose import build_app
from bot.engine import Engine
from tests.conftest import ROOT, Harness, make_settings, settle
from tests.trigger_kit import add, serve, signed_headers

SILENT = "has not been heard from"


async def start(db, clock, tmp_path, riverside_hours=None) -> Harness:
    """The example service, Riverside given opening hours if asked; silence counts after 5 minutes."""
    from bot.transports.memory import MemoryTransport

    data = yaml.safe_load((ROOT / "config" / "service.example.yaml").read_text())
    if riverside_hours:
        data["branches"]["riverside"]["hours"] = riverside_hours
    path = tmp_path / "service.yaml"
    path.write_text(yaml.safe_dump(data))
    s = make_settings(db, trigger_silent_after="5m")
    s = s.model_copy(update={"service_file": path})
    service = load_service(path)
    transport = MemoryTransport("console")
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=clock,
                    transports=[transport])
    await engine.start()
    await settle(engine)
    return Harness(engine, clock, transport, db)


def notices(h: Harness, what: str) -> list[str]:
    return [t for t in h.texts("dana") if what in t]


async def test_a_silent_device_gets_one_notice_and_one_back_notice(db, clock, tmp_path):
    h = await start(db, clock, tmp_path)
    server = await serve(h.engine)
    try:
        device, secret = await add(h.engine)
        for _ in range(4):  # beating every minute: nothing to say
            await h.advance(60)
            async with server.http.post(f"{server.url}/trigger/{device}/heartbeat", headers=signed_headers(secret)) as r:
                assert r.status == 200 and (await r.json())["state"] == "ready"
        await h.advance(4 * 60)
        assert notices(h, SILENT) == []
        for _ in range(12):  # the PC is off for a quarter of an hour: one notice, not one a minute
            await h.advance(60)
        assert len(notices(h, SILENT)) == 1
        assert "Panic button: Central Library, front counter" in notices(h, SILENT)[0]
        async with server.http.post(f"{server.url}/trigger/{device}/heartbeat", headers=signed_headers(secret)) as r:
            assert r.status == 200
        await settle(h.engine)
        await h.advance(60)
        assert len(notices(h, "is back: heard")) == 1 and len(notices(h, SILENT)) == 1
    finally:
        await server.stop()
        await h.engine.stop()


async def test_silence_while_the_branch_is_closed_says_nothing_until_it_has_been_open_a_while(db, clock, tmp_path):
    # the Wednesday 14:30 of the fake clock: Riverside opens 09:00-12:00 only
    h = await start(db, clock, tmp_path, riverside_hours=[{"days": ["mon", "tue", "wed", "thu", "fri"],
                                                           "from": "09:00", "to": "12:00"}])
    try:
        await add(h.engine, "Riverside - desk", branch="riverside", place="desk")
        cap, _ = await add(h.engine, "Riverside - door", kind="capability", branch="riverside", place="door")
        await h.advance(3 * 3600)
        assert notices(h, SILENT) == []  # closed all afternoon and evening
        await h.advance(15 * 3600 + 32 * 60)  # 17:30 -> Thursday 09:02: open, but only just
        assert notices(h, SILENT) == []
        await h.advance(5 * 60)  # 09:07: open for longer than the 5 minutes allowed
        assert len(notices(h, SILENT)) == 1 and "Riverside - desk" in notices(h, SILENT)[0]
        assert not any("door" in t for t in notices(h, SILENT))  # a capability device cannot beat: never "silent"
        lines = await h.engine.store.read(lambda c: __import__("handlers.trigger").trigger.panic_line(c))
        assert "SILENT (admins told): Riverside - desk" in lines and "unmonitored" in lines and "Riverside - door" in lines
    finally:
        await h.engine.stop()


def test_branch_hours_that_end_before_they_start_are_refused_by_check_config(tmp_path):
    data = yaml.safe_load((ROOT / "config" / "service.example.yaml").read_text())
    data["branches"]["central"]["hours"] = [{"days": ["mon"], "from": "17:00", "to": "09:00"}]
    path = tmp_path / "service.yaml"
    path.write_text(yaml.safe_dump(data))
    from bot.book import load_all

    with pytest.raises(ConfigError) as e:
        load_all(ROOT / "codewords.yaml", path)
    assert "branch 'central' has opening hours ending before they start" in str(e.value.problems)
    data["branches"]["central"]["hours"] = [{"days": ["someday"], "from": "09:00", "to": "17:00"}]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError):
        load_all(ROOT / "codewords.yaml", path)


async def test_status_and_doctor_name_the_silent_device_and_the_missing_port(db, clock, tmp_path, monkeypatch, capsys):
    h = await start(db, clock, tmp_path)
    try:
        await add(h.engine)
        await h.advance(10 * 60)
    finally:
        await h.engine.stop()
    monkeypatch.setenv("SAFERBOT_DB", str(db))
    monkeypatch.setenv("SAFERBOT_CODEWORDS_FILE", str(ROOT / "codewords.yaml"))
    monkeypatch.setenv("SAFERBOT_SERVICE_FILE", str(ROOT / "config" / "service.example.yaml"))
    monkeypatch.delenv("SAFERBOT_HEALTH_PORT", raising=False)
    cli.main(["status"])
    assert "SILENT (admins told): Central - front counter" in capsys.readouterr().out
    cli.main(["doctor"])
    out = capsys.readouterr().out
    assert "panic button central-front-counter (Central - front counter) is silent" in out
    assert "SAFERBOT_HEALTH_PORT is not set: no press can arrive" in out


async def test_the_admins_weekly_note_names_silent_and_unmonitored_buttons(db, clock, tmp_path):
    """Monday 09:00: one note to the admins lists what needs them this week, panic buttons included."""
    h = await start(db, clock, tmp_path)
    try:
        await add(h.engine)  # signed, never beats: silent after 5 minutes of opening hours
        await add(h.engine, "Central - staff room", kind="capability", place="staff room")
        await h.advance(5 * 86400)  # the fake clock's Wednesday afternoon to Monday morning, and a bit
        weekly = [t for t in h.texts("dana") if t.startswith("Weekly:")]
        assert len(weekly) == 1, weekly
        assert "Central - front counter" in weekly[0] and "SILENT" in weekly[0]
        assert "unmonitored" in weekly[0] and "Central - staff room" in weekly[0]
        assert [t for t in h.texts("alice") if t.startswith("Weekly:")] == []  # admins only
    finally:
        await h.engine.stop()
