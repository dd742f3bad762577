"""One way to say a duration (bot/words.duration) everywhere a person reads one: an alert's timeline says
a long tier wait as '1 h 30 min', as lone working and lockdowns do, never '90 min'."""

from __future__ import annotations

from bot import words
from tests.conftest import ROOT, start_engine


async def test_a_climb_after_a_long_wait_is_said_in_hours_and_minutes(db, clock, tmp_path):
    book = (ROOT / "codewords.yaml").read_text()
    urgent = "  urgent:\n    fallback: [role:admin]\n    tiers:\n      - notify: [on-shift, duty-manager]\n        wait: 2m"
    assert urgent in book
    (tmp_path / "codewords.yaml").write_text(book.replace(urgent, urgent[:-2] + "90m"))
    h = await start_engine(db, clock, codewords_file=tmp_path / "codewords.yaml")
    try:
        await h.say("alice", "Is Mr Brown in today?")
        await h.advance(90 * 60 + 1)
        said = [r[0] for r in await h.query("SELECT text FROM alert_events WHERE kind='climbed'")]
    finally:
        await h.engine.stop()
    assert said and said[0].startswith("no acknowledgement after 1 h 30 min; climbing to tier 2")


def test_the_words_are_the_ones_people_read_elsewhere():
    assert [words.duration(s) for s in (45, 60, 150, 5400, 7200)] == ["45 s", "1 min", "2 min", "1 h 30 min", "2 h"]
