"""Heads-up: reaches exactly the on-shift people at the named branches (volunteers only the "what to do"
line), and every copy is withdrawn when it expires. Both stores."""

from __future__ import annotations

DAY = 86400


async def test_headsup_reaches_on_shift_staff_and_is_withdrawn_at_expiry(harness):
    h = harness
    for who in ("alice", "vic", "erin"):
        await h.say(who, "on shift")
    # carol (central) is not on shift; fran (riverside) is not on shift
    await h.say("alice", "headsup central x / y")
    assert h.last("alice").text == "Sorry, that is not something your role can do here."
    await h.say("bob", "headsup central,riverside Man in a green parka <@U123> asking for staff by name"
                       " / Do not engage; call the duty manager / 7d")
    assert h.last("bob").text.startswith("Heads-up #1 sent to 3 on shift; it is withdrawn on Wed 02 Dec")
    full = h.last("alice").text
    assert "Be aware: Man in a green parka <@U123> asking for staff by name" in full
    assert "What to do: Do not engage; call the duty manager" in full and "From Bob Green." in full
    assert h.last("erin").text == full
    vic = h.last("vic").text
    assert "What to do: Do not engage" in vic and "green parka" not in vic  # volunteers: only what to do
    assert h.sent("carol") == [] and h.sent("fran") == []
    await h.advance(7 * DAY - 60)
    assert "green parka" in h.seen("alice").text
    await h.advance(120)
    for who in ("alice", "erin", "vic"):
        assert h.seen(who).text == "Heads-up for Central Library, Riverside Library from 25 Nov: expired and withdrawn.", who
    assert (await h.query("SELECT status FROM headsups"))[0][0] == "withdrawn"


async def test_headsup_bad_input_and_the_30_day_limit(harness):
    h = harness
    await h.say("bob", "headsup nowhere someone / something")
    assert h.last("bob").text.startswith("nowhere is not a branch or area.")
    await h.say("bob", "headsup central someone")
    assert h.last("bob").text.startswith("headsup <branches> <description> / <what to do>")
    await h.say("bob", "headsup central someone / call 999 / 31d")
    assert h.last("bob").text == "A heads-up lasts at most 30 days (30d)."
    await h.say("bob", "headsup central someone / call 999")
    assert "withdrawn on Wed 09 Dec" in h.last("bob").text  # 14 days by default
    assert (await h.query("SELECT COUNT(*) FROM headsups"))[0][0] == 1  # the refused ones stored nothing


def test_headsup_expiry_setting_is_at_most_30_days(monkeypatch):
    import pytest

    from bot.settings import Settings, SettingsError, load_settings

    assert Settings(_env_file=None, headsup_expiry="30d").headsup_expiry == "30d"
    monkeypatch.setenv("SAFERBOT_HEADSUP_EXPIRY", "31d")
    with pytest.raises(SettingsError) as e:
        load_settings()
    assert "SAFERBOT_HEADSUP_EXPIRY" in str(e.value) and "at most 30d" in str(e.value)


async def test_headsup_branches_may_be_written_with_spaces_after_the_commas(harness):
    """'central, riverside' as people type it names both branches; the description starts after them."""
    h = harness
    for who in ("alice", "erin"):
        await h.say(who, "on shift")
    await h.say("bob", "headsup central, riverside Central heating engineer in a red van / let him in")
    assert h.last("bob").text.startswith("Heads-up #1 sent to 2 on shift")
    assert "Be aware: Central heating engineer in a red van" in h.last("erin").text  # riverside
    assert (await h.query("SELECT branches FROM headsups"))[0][0] == "central,riverside"
