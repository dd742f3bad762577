"""Bans: on the spot, confirmed, recorded with a review, reminded, overdue, extended, ended with an ABA,
purged by category; lapses; refusals that name what is missing; who may read a ban. Both stores."""

from __future__ import annotations

from bot.messages import Inbound
from handlers import bans_data
from tests.test_incidents import run_cli

NOT_ALLOWED = "Sorry, that is not something your role can do here."
DAY = 86400


def decision(**over: str) -> dict[str, str]:
    values = {"subject": "John Doe", "description": "Tall, grey beard, green parka", "kind": "exclusion",
              "scope": "central", "review": "2027-01-05", "category": "threatening",
              "basis": "Library byelaw 6 (behaviour)", "reasons": "Threatened staff at the desk twice",
              "account_invited": "yes", "account_said": "Said he was provoked",
              "adjustments": "None identified; asked about support needs", "appeal": "Head of Libraries in writing",
              "incidents": "INC-2026-0001"}
    values.update(over)
    return {k: v for k, v in values.items() if v}


async def submit(h, who: str, values: dict[str, str], arg: str = "") -> None:
    await h.engine.receive(Inbound(platform="console", event_id=f"form-{who}-{len(h.transport.records)}",
                                   user_id=who, chat_id=who, form="ban", values=values, arg=arg))
    await h.advance(0)


async def ban(h, bid: int):
    return (await h.query("SELECT * FROM bans WHERE id=?", bid))[0]


async def test_whole_life_of_a_ban(harness):
    h = harness
    await h.say("vic", "ban today man shouting")
    assert h.last("vic").text == NOT_ALLOWED  # volunteers can never ban, nor see bans
    await h.say("alice", "ban today Man in red coat <!channel> *shouted* at the desk, see INC-2026-0001")
    assert h.last("alice").text.startswith("BAN-1: excluded from Central Library until 23:59 today")
    assert "Bob Green (duty manager) has been told" in h.last("alice").text
    told = h.last("bob")
    assert "Man in red coat <!channel> *shouted*" in told.text  # plain text: the transport escapes it
    assert [b.label for b in told.buttons] == ["Confirm", "Change", "Lift"]
    b1 = await ban(h, 1)
    assert b1["status"] == "pending" and b1["incidents"] == "INC-2026-0001" and b1["branches"] == "central"

    await h.say("carol", "/bans here", chat="C-staffroom", is_group=True)  # never read out in a channel
    assert [d.text for d in h.transport.to("C-staffroom")] == ["I've sent it to you privately."]
    assert "BAN-1 Man in red coat" in h.last("carol").text and "INC-2026" not in h.last("carol").text
    bob, carol = h.engine.directory.person("bob"), h.engine.directory.person("carol")
    assert "On-the-spot bans to confirm, change or lift: BAN-1." in await h.engine.home(bob)
    assert await h.engine.home(carol) == []  # the overview: only for those who decide
    await h.press("bob", "Confirm")
    assert h.last("bob").text == "BAN-1 confirmed."
    assert h.last("alice").text == "BAN-1 was confirmed by Bob Green."
    assert (await ban(h, 1))["status"] == "active"

    # the duty manager records an exclusion with a review date six weeks ahead
    await submit(h, "bob", decision())
    assert h.last("bob").text.startswith("BAN-2 recorded. Review due Tue 05 Jan 2027")
    b2 = await ban(h, 2)
    assert b2["decided_by"] == "bob" and b2["account_invited"] == "yes" and b2["end_at"] is None

    # staff see who and until when, never the reasons or incidents
    await h.say("alice", "bans here")
    here = h.last("alice").text
    assert "BAN-2 John Doe - Tall, grey beard, green parka (until further notice" in here
    assert "Threatened" not in here and "INC-2026-0001" not in here and "provoked" not in here

    # the confirmed on-the-spot ban expires at the end of the day
    await h.advance(9 * 3600 + 31 * 60)  # Thu 26 Nov 00:01
    b1 = await ban(h, 1)
    assert b1["status"] == "expired" and b1["ended_at"] == b1["end_at"]

    # T-14 (Tue 22 Dec 09:00) and T-1 (Mon 04 Jan 09:00): the decider and the admins are reminded
    await h.advance(27 * DAY - 14 * 3600 - 31 * 60)  # Tue 22 Dec 09:30
    assert "BAN-2" in h.last("bob").text and "(14 days from now)" in h.last("bob").text
    assert "(14 days from now)" in h.last("dana").text
    assert "Ban reviews due within 14 days or overdue: BAN-2. Send 'bans'." in await h.engine.home(bob)
    await h.advance(13 * DAY)
    assert "(1 day from now)" in h.last("bob").text and "(1 day from now)" in h.last("dana").text
    # due and not done: OVERDUE to the admins, once a day until it is done
    await h.advance(DAY)
    assert "is OVERDUE" in h.last("dana").text
    overdue = sum("OVERDUE" in t for t in h.texts("dana"))
    await h.advance(DAY)
    assert sum("OVERDUE" in t for t in h.texts("dana")) == overdue + 1
    await h.advance(3600)
    assert sum("OVERDUE" in t for t in h.texts("dana")) == overdue + 1  # not more than once a day

    # extend: a new review date and reasons; the overdue reminders stop
    await h.say("bob", "ban BAN-2 extend 2027-04-01 threatened again on 3 Jan")
    assert h.last("bob").text == "BAN-2 extended; next review Thu 01 Apr 2027."
    await h.advance(2 * DAY)
    assert sum("OVERDUE" in t for t in h.texts("dana")) == overdue + 1
    # at review: end it with an acceptable behaviour agreement
    await h.say("bob", "ban BAN-2 end aba No shouting; speak to the duty manager; review in 6 months")
    b2 = await ban(h, 2)
    assert b2["status"] == "ended" and b2["aba"].startswith("No shouting") and b2["ended_by"] == "bob"
    await h.say("alice", "bans here")
    assert "BAN-2" not in h.last("alice").text
    seen = len(h.texts("dana"))
    await h.advance(90 * DAY)  # past the new review date: no reminder for an ended ban
    assert not any("BAN-2" in t for t in h.texts("dana")[seen:])

    # every change and view is audited
    actions = [tuple(r) for r in await h.query("SELECT actor, ban_id, action FROM ban_audit ORDER BY id")]
    for row in [("alice", 1, "ban today"), ("bob", 1, "confirm"), ("bob", 2, "record"), ("alice", 2, "list"),
                ("system", 2, "review reminder"), ("bob", 2, "extend"), ("bob", 2, "ended")]:
        assert row in actions, row

    # purge by category: threatening is kept 3 years after the ban ends, then anonymised
    ended = b2["ended_at"]
    owner = bans_data.OWNER
    early = await h.engine.store.run(owner.purge, ended + 2.5 * 365 * DAY, False)
    assert not any("BAN-2" in c for c in early.changed)
    done = await h.engine.store.run(owner.purge, ended + 3.1 * 365 * DAY, False)
    assert any(c.startswith("BAN-2: anonymised (threatening, 3 years") for c in done.changed)
    b2 = await ban(h, 2)
    assert b2["subject"] == "(anonymised)" and b2["reasons"] == "" and b2["aba"] == "" and b2["anonymised_at"]
    assert b2["category"] == "threatening"  # the bare decision stays for the figures


async def test_an_unconfirmed_ban_lapses_and_the_admins_are_told(harness):
    h = harness
    await h.say("alice", "ban today woman throwing books")
    await h.advance(3 * DAY - 60)
    assert (await ban(h, 1))["status"] == "pending"
    await h.advance(120)
    assert (await ban(h, 1))["status"] == "lapsed"
    assert "BAN-1 lapsed" in h.last("dana").text and "within 3d" in h.last("dana").text
    await h.press("bob", "Confirm")  # too late now
    assert h.last("bob").text == "BAN-1 is already lapsed; nothing was changed."


async def test_change_replaces_the_on_the_spot_ban_and_lift_ends_one(harness):
    h = harness
    await h.say("alice", "ban today man in red coat")
    await h.press("bob", "Change")
    assert "in place of BAN-1" in h.sent("bob")[-2].text
    assert "So far: man in red coat" in h.last("bob").text  # the form starts from what alice wrote
    await submit(h, "bob", decision(), arg="1")  # the decision names the ban it changes
    assert (await ban(h, 1))["status"] == "replaced" and (await ban(h, 2))["from_ban"] == 1
    await h.say("carol", "ban today someone else")
    await h.press("bob", "Lift")
    assert h.last("bob").text == "BAN-3 lifted."
    assert h.last("carol").text == "BAN-3 was lifted by Bob Green."
    assert (await ban(h, 3))["status"] == "lifted"


async def test_refused_with_what_is_missing(harness):
    h = harness
    await h.say("alice", "ban record")
    assert h.last("alice").text == "Only a duty manager or above can decide a ban (SAFERBOT_BAN_DECIDER_ROLE)."
    await submit(h, "alice", decision())
    assert "Decided by: only a duty manager or above" in h.last("alice").text
    await submit(h, "bob", decision(review="", account_invited=""))
    text = h.last("bob").text
    assert text.startswith("Not recorded. Missing or wrong:")
    assert "- Review date: Review date is needed." in text
    assert "- Was the person invited to give their account?: Was the person invited" in text
    await submit(h, "bob", decision(review="2026-11-01"))
    assert "Review date: it must be after today." in h.last("bob").text
    # a duty manager decides for the branches they look after (Bob: Central, and Riverside at weekends)
    await submit(h, "fran", decision(scope="central"))
    assert "- Which branches: you can decide for Riverside Library; other branches, or all, need an admin." \
        in h.last("fran").text
    await submit(h, "bob", decision(scope="all"))
    assert "other branches, or all, need an admin" in h.last("bob").text
    assert await h.query("SELECT * FROM bans") == []


async def test_the_chat_form_one_question_at_a_time(harness):
    h = harness
    await h.say("bob", "ban record")
    assert "Question 1 of 16" in h.last("bob").text
    await h.say("bob", "submit")  # not an answer: the first question again
    assert "Question 1 of 16" in h.last("bob").text
    answers = ["Jane Roe", "skip", "exclusion", "central", "skip", "2027-06-30", "2027-02-01", "violence",
               "Byelaw 6", "Pushed a member of staff", "no", "Left before she could be asked; letter invites it",
               "None identified", "skip", "Head of Libraries", "skip"]
    for a in answers:
        await h.say("bob", a)
    assert "Please check:" in h.last("bob").text
    await h.press("bob", "Record decision")
    assert h.last("bob").text.startswith("BAN-1 recorded. Review due Mon 01 Feb 2027")
    b = await ban(h, 1)
    assert (b["subject"], b["kind"], b["category"], b["account_invited"]) == ("Jane Roe", "exclusion", "violence", "no")
    await h.say("bob", "on shift")  # not an answer any more: the form is closed
    assert await h.query("SELECT * FROM ban_drafts") == []


async def test_who_may_read_a_ban(harness):
    """The role matrix: staff and managers at the ban's branches, admins everywhere; nobody else, never
    volunteers; staff never the reasons."""
    h = harness
    await submit(h, "bob", decision())
    expect = {"vic": NOT_ALLOWED, "erin": "No ban with that reference that you may see.",
              "fran": "No ban with that reference that you may see."}
    for who, text in expect.items():
        await h.say(who, "ban BAN-1")
        assert h.last(who).text == text, who
    await h.say("alice", "ban BAN-1")
    assert h.last("alice").text.startswith("BAN-1 John Doe") and "Threatened" not in h.last("alice").text
    for who in ("bob", "dana"):
        await h.say(who, "ban BAN-1")
        assert "Reasons: Threatened staff at the desk twice" in h.last(who).text, who
    await h.say("vic", "bans here")
    assert h.last("vic").text == NOT_ALLOWED
    await h.say("erin", "bans here")
    assert h.last("erin").text == "Nobody is excluded from Riverside Library now."
    await h.say("fran", "ban BAN-1 lift because")
    assert "BAN-1" not in h.last("fran").text or "No ban" in h.last("fran").text
    assert (await ban(h, 1))["status"] == "active"
    views = [tuple(r) for r in await h.query("SELECT actor, action, detail FROM ban_audit WHERE action='view'")]
    assert ("alice", "view", "short") in views and ("bob", "view", "full") in views and ("dana", "view", "full") in views
    assert not any(v[0] in ("vic", "erin", "fran") for v in views)


async def test_erase_during_an_active_ban_is_refused_with_the_reason(harness):
    h = harness
    from bot.personal_data import Subject

    await submit(h, "bob", decision())
    done = await h.engine.store.run(bans_data.OWNER.forget, Subject(None, ("John Doe",)), False)
    assert done.changed == [] and done.kept[0].startswith("BAN-1: kept while the ban is in force")
    found = await h.engine.store.read(lambda c: bans_data.OWNER.about(c, Subject(None, ("john doe",))))
    assert found[0].rows[0]["subject"] == "John Doe"
    await h.say("bob", "ban BAN-1 lift he apologised in writing")
    done = await h.engine.store.run(bans_data.OWNER.forget, Subject(None, ("John Doe",)), False)
    assert done.changed == ["BAN-1: anonymised (who, description, reasons, account, agreement)"]
    assert (await ban(h, 1))["subject"] == "(anonymised)"


async def test_cli_record_refusal_and_export_with_the_disclosure_logged(harness, monkeypatch, tmp_path, capsys):
    import asyncio
    import json

    h = harness
    args = [f"--{k.replace('_', '-')}={v}" for k, v in decision(review="2030-01-05").items()]
    code = await asyncio.to_thread(run_cli, monkeypatch, h.db, "bans", "record", "--decided-by", "alice", *args)
    assert code == 2 and "only a duty manager or above" in capsys.readouterr().err
    no_review = [a for a in args if not a.startswith("--review")]
    code = await asyncio.to_thread(run_cli, monkeypatch, h.db, "bans", "record", "--decided-by", "bob", *no_review)
    assert code == 2 and "Review date: Review date is needed." in capsys.readouterr().err
    code = await asyncio.to_thread(run_cli, monkeypatch, h.db, "bans", "record", "--decided-by", "bob", *args)
    assert code == 0 and capsys.readouterr().out.strip() == "BAN-1 recorded."
    assert [r[0] for r in await h.query("SELECT ref FROM wakeups WHERE kind='ban.review' ORDER BY due_at")] == \
        ["1:t14", "1:t1", "1:due"]  # a running bot's scheduler finds them in the store
    out = tmp_path / "share.json"
    code = await asyncio.to_thread(run_cli, monkeypatch, h.db, "bans", "export", "--to", "City BCRP", "--agreement",
                                   "ISA-2026-04", "--basis", "UK GDPR 6(1)(e); DPA 2018 Sch 1 para 10", "--out", str(out))
    assert code == 0
    shared = json.loads(out.read_text())
    assert shared["to"] == "City BCRP" and [b["ref"] for b in shared["bans"]] == ["BAN-1"]
    assert "reasons" not in shared["bans"][0] and "account_said" not in shared["bans"][0]  # a minimal record
    log = (await h.query("SELECT actor, recipient, agreement, basis, bans FROM ban_disclosures"))[0]
    assert log[0].startswith("cli:") and tuple(log[1:]) == ("City BCRP", "ISA-2026-04",
                                                              "UK GDPR 6(1)(e); DPA 2018 Sch 1 para 10", "BAN-1")
    assert (await h.query("SELECT action FROM ban_audit WHERE ban_id=1 AND action='export'"))


async def test_reviews_and_lapses_survive_a_restart(db, clock):
    from tests.conftest import start_engine

    h = await start_engine(db, clock)
    await submit(h, "bob", decision())
    await h.say("alice", "ban today man with a dog")
    await h.engine.stop()
    h = await start_engine(db, clock)  # a new process: the wake-ups are in the store
    try:
        await h.advance(3 * DAY + 60)
        assert "BAN-2 lapsed" in h.last("dana").text
        await h.advance(24 * DAY)
        assert "BAN-1" in h.last("bob").text and "(14 days from now)" in h.last("bob").text
    finally:
        await h.engine.stop()


async def test_an_exclusion_with_an_end_date_expires_and_its_reviews_stop(harness):
    h = harness
    await submit(h, "bob", decision(end="2026-12-31", review="2026-12-20"))
    await h.advance(25 * DAY)  # Sun 20 Dec 14:30: the review is overdue
    assert "is OVERDUE" in h.last("dana").text
    await h.advance(12 * DAY)  # Fri 01 Jan 2027 14:30
    b = await ban(h, 1)
    assert b["status"] == "expired" and b["ended_at"] == b["end_at"]
    await h.say("alice", "bans here")
    assert h.last("alice").text == "Nobody is excluded from Central Library now."
    seen = len(h.texts("dana"))
    await h.advance(3 * DAY)
    assert h.texts("dana")[seen:] == []  # no overdue reviews for an expired ban
