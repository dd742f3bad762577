"""`saferbot status` and `saferbot doctor` name the people a phone tier cannot reach (no verified number),
and say nothing of it when no ladder texts or calls. Both stores."""

from __future__ import annotations

import argparse

from bot import doctor
from bot.commands import status
from tests import phone_kit

SMS_TIER = [{"notify": ["duty-manager"], "wait": "2m", "sms": True}]


async def test_status_and_doctor_name_people_without_a_verified_number(tmp_path, db, capsys):
    bot = await phone_kit.start(tmp_path, db, SMS_TIER)
    try:
        await bot.verify("bob")
        capsys.readouterr()
        assert status.cmd_status(argparse.Namespace(), bot.engine.settings) == 0
        out = capsys.readouterr().out
        line = next(ln for ln in out.splitlines() if ln.startswith("phone numbers:"))
        for name in ("Alice Smith", "Carol Jones", "Dana Hughes", "Erin Shah", "Fran Okafor"):
            assert name in line
        assert "Bob Green" not in line and "Vic Patel" not in line  # verified; a volunteer never receives alerts
        assert "phone verify" in line
        r = doctor.Report()
        doctor.check_phones(bot.engine.settings, r)
        assert "phone: 5 people who receive alerts have no verified phone number" in capsys.readouterr().out
    finally:
        await bot.stop()


async def test_admins_hear_weekly_who_has_no_verified_number(tmp_path, db):
    bot = await phone_kit.start(tmp_path, db, SMS_TIER)
    try:
        await bot.verify("bob")
        await bot.clock.advance(5 * 86400)  # Wednesday afternoon to Monday 09:00 and a bit
        await bot.settle()
        [note] = [t for t in bot.chat_texts("dana") if t.startswith("Weekly:")]
        assert "Alice Smith" in note and "Bob Green" not in note and "phone verify" in note
        assert [t for t in bot.chat_texts("alice") if t.startswith("Weekly:")] == []  # admins only
    finally:
        await bot.stop()


async def test_no_phone_tier_no_phone_line(tmp_path, db, capsys):
    bot = await phone_kit.start(tmp_path, db, [{"notify": ["duty-manager"], "wait": "2m"}])
    try:
        capsys.readouterr()
        status.cmd_status(argparse.Namespace(), bot.engine.settings)
        assert "phone numbers" not in capsys.readouterr().out
    finally:
        await bot.stop()
