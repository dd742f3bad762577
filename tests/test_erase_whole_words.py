"""Erase and subject access find a person by key, else by whole words; what the law keeps is said, with why."""

from __future__ import annotations

import asyncio
import json
import time

from tests.test_incidents import ANSWERS, fill_form, run_cli

DAY = 24 * 3600


async def test_a_short_name_is_matched_as_a_word_not_inside_other_words(harness, monkeypatch, tmp_path, capsys):
    h = harness
    await h.say("dana", "person add al name=Al role=staff branch=central phone=+447700900077")
    await h.say("carol", "log Alan shouted at Sally by the Albert Road door")  # "al" inside other words only
    await h.say("erin", "log Al was pushed at riverside, call him on 07700 900077")
    out = tmp_path / "al.json"
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "subject-access", "al", "--out", str(out)) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    incidents = [r["ref"] for s in doc["sections"] if s["section"].startswith("Incidents") for r in s["rows"]]
    assert incidents == ["INC-2026-0002"]
    matched = [m for s in doc["sections"] for m in s["matched_by_text"] if m.startswith("INC-2026-0002")]
    assert matched and "'Al'" in matched[0] and "07700 900077" in matched[0]  # the officer sees what matched

    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "roster", "remove", "al") == 0
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "erase", "al") == 0
    texts = [r[0] for r in await h.query("SELECT text FROM incidents ORDER BY id")]
    assert texts == ["Alan shouted at Sally by the Albert Road door",
                     "[erased] was pushed at riverside, call him on [erased]"]


async def test_a_riddor_record_is_kept_whole_for_three_years_and_the_dry_run_says_why(harness, monkeypatch, capsys):
    h = harness
    named = ANSWERS[:4] + ["Alice Smith"] + ANSWERS[5:]  # the colleague hurt, named in the form
    for _ in range(2):
        await h.say("carol", "log visitor pushed Alice Smith down the stairs")
        await h.press("carol", "Complete form")
        await fill_form(h, "carol", named)
    await h.say("bob", "incident INC-2026-0001 riddor")
    await h.say("bob", "incident INC-2026-0002 riddor")
    now = time.time()  # erase judges the 3 years against the real time: place the incidents relative to it
    await h.engine.store.run(lambda c: c.executemany("UPDATE incidents SET occurred_at=? WHERE ref=?", [
        (now - 30 * DAY, "INC-2026-0001"), (now - 4 * 366 * DAY, "INC-2026-0002")]))
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "roster", "remove", "alice") == 0
    capsys.readouterr()
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "erase", "alice", "--dry-run") == 0
    plan = capsys.readouterr().out
    kept = plan.split("Kept, and why:")[1]
    assert "INC-2026-0001: kept whole" in kept and "RIDDOR" in kept and "INC-2026-0002" not in kept, plan
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "erase", "alice") == 0
    rows = {r[0]: r[1] + r[2] for r in await h.query("SELECT ref, text, answers FROM incidents")}
    assert "Alice Smith" in rows["INC-2026-0001"]  # the RIDDOR record must say who was hurt
    assert "Alice Smith" not in rows["INC-2026-0002"] and "[erased]" in rows["INC-2026-0002"]
    copies = [r[0] for r in await h.query("SELECT text FROM outbox WHERE text LIKE '%Alice Smith%'")]
    assert copies == []  # every message that named her: the record is kept, its copies are not


async def test_erase_replaces_her_typed_words_not_the_choices_everyone_makes(harness, monkeypatch):
    h = harness
    choices = (0, 2, 3, 11, 16, 17)  # date, category, who was affected, yes/no: the same for both
    theirs = [a if a is None or i in choices else f"C {a[::-1]}" for i, a in enumerate(ANSWERS)]
    for who, answers in (("alice", ANSWERS), ("carol", theirs)):
        await h.say(who, f"log shouted at by a man, {who}")
        await h.press(who, "Complete form")
        await fill_form(h, who, answers)
    await h.say("bob", "incident INC-2026-0002")  # Carol's whole form, as a manager reads it
    form = h.last("bob").text
    assert "verbal abuse" in form.lower() and "Category" in form
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "roster", "remove", "alice") == 0
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "erase", "alice") == 0
    assert [r[0] for r in await h.query("SELECT text FROM outbox WHERE text=?", form)] == [form]  # untouched


async def test_a_reused_key_erases_only_the_person_who_left(harness, monkeypatch):
    h = harness
    await h.say("dana", "person add zed name=\"Zed Old\" role=staff branch=central phone=+447700900111")
    await h.say("dana", "person remove zed")
    await h.say("dana", "person add zed name=\"Zed New\" role=staff branch=central phone=+447700900222")
    await h.say("carol", "log Zed New (07700 900222) helped; Zed Old (07700 900111) had left")
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "erase", "zed~1") == 0
    text = (await h.query("SELECT text FROM incidents"))[0][0]
    assert text == "Zed New (07700 900222) helped; [erased] ([erased]) had left"
