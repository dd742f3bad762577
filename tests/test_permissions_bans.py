"""The role matrix for bans, as tests/test_permissions.py does for other commands: nobody outside a ban's
branches or below staff can read it, volunteers never see bans, staff never see the reasons, and only
the configured deciding role at the ban's branches can change it. Both stores."""

from __future__ import annotations

from tests.test_bans import NOT_ALLOWED, decision, submit

HIDDEN = "No ban with that reference that you may see."
DECIDER = "Only a duty manager or above can decide a ban (SAFERBOT_BAN_DECIDER_ROLE)."
FULL, SHORT = "full", "short"
# who: (ban BAN-1, bans here, ban BAN-1 lift, headsup) for an exclusion from Central Library
MATRIX = {
    "vic": (NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED),  # volunteer, central
    "alice": (SHORT, "listed", DECIDER, NOT_ALLOWED),  # staff, central
    "erin": (HIDDEN, "none", HIDDEN, NOT_ALLOWED),  # staff, riverside
    "fran": (HIDDEN, "none", HIDDEN, "sent"),  # duty manager, riverside
    "bob": (FULL, "listed", "lifted", "sent"),  # duty manager, central
    "dana": (FULL, "no branch", "lifted", "sent"),  # admin, no branch: sees every ban, has no 'here'
}


async def test_role_matrix_for_reading_and_changing_a_ban(harness):
    h = harness
    got = {}
    for who in MATRIX:
        await h.engine.store.run(lambda c: c.execute("DELETE FROM bans"))
        await submit(h, "bob", decision())
        bid = (await h.query("SELECT MAX(id) FROM bans"))[0][0]
        row = []
        await h.say(who, f"ban BAN-{bid}")
        text = h.last(who).text
        row.append(FULL if "Reasons: Threatened" in text else SHORT if text.startswith(f"BAN-{bid} John Doe") else text)
        assert "Threatened" not in text or row[-1] == FULL
        await h.say(who, "bans here")
        text = h.last(who).text
        row.append("listed" if f"BAN-{bid} John Doe" in text else "none" if text.startswith("Nobody") else
                   "no branch" if text.startswith("You have no branch") else text)
        await h.say(who, f"ban BAN-{bid} lift apologised")
        text = h.last(who).text
        row.append("lifted" if text == f"BAN-{bid} lifted." else text)
        await h.say(who, "headsup riverside someone / something")
        text = h.last(who).text
        row.append("sent" if text.startswith("Heads-up #") else text)
        got[who] = tuple(row)
    assert got == MATRIX
    views = {tuple(r) for r in await h.query("SELECT actor, detail FROM ban_audit WHERE action='view'")}
    assert views == {("alice", "short"), ("bob", "full"), ("dana", "full")}  # every read audited, no others


async def test_a_ban_for_all_branches_is_seen_at_every_branch(harness):
    h = harness
    await submit(h, "dana", decision(scope="all"))  # all branches: an admin's decision
    await h.say("erin", "bans here")
    assert "BAN-1 John Doe" in h.last("erin").text
    await h.say("vic", "bans here")
    assert h.last("vic").text == NOT_ALLOWED
