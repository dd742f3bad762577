"""Bans and heads-ups on Slack (the in-repo fake Slack, both stores): what staff typed is shown escaped
(nobody is pinged, no markup), the duty manager's buttons work, and a heads-up's delivered card is
edited to 'withdrawn' when it expires."""

from __future__ import annotations

from tests.test_slack import ALICE, BOB, CAROL, bot, fake, texts  # noqa: F401 - the fixtures are used by name

DAY = 86400


async def test_ban_today_on_slack_is_escaped_and_confirmed_by_button(bot):  # noqa: F811
    f = bot.fake
    await f.acked(await f.dm(ALICE, "ban today man <!channel> <@U0CAROL> *shouted* & left"))
    await bot.settle()
    assert texts(f, ALICE)[-1].startswith("BAN-1: excluded from Central Library until 23:59 today")
    told = [m for m in f.seen(BOB) if m.buttons][-1]
    assert "man &lt;!channel&gt; &lt;@U0CAROL&gt; *shouted* &amp; left" in told.shown
    for call in f.calls_to("chat.postMessage") + f.calls_to("chat.update"):
        blob = call.args.get("text", "") + str(call.args.get("blocks", ""))
        assert "<!" not in blob and "<@" not in blob, blob
    await f.acked(await f.press(BOB, "Confirm", told))
    await bot.settle()
    assert texts(f, BOB)[-1] == "BAN-1 confirmed."
    status = await bot.engine.store.read(lambda c: c.execute("SELECT status FROM bans").fetchone()[0])
    assert status == "active"


async def test_headsup_card_on_slack_is_withdrawn_at_expiry(bot):  # noqa: F811
    f = bot.fake
    await f.acked(await f.dm(CAROL, "on shift"))
    await f.acked(await f.dm(BOB, "headsup central Woman asking for <!here> staff names / Do not give names / 2d"))
    await bot.settle()
    card = f.seen(CAROL)[-1]
    assert "Be aware: Woman asking for &lt;!here&gt; staff names" in card.shown
    await bot.clock.advance(2 * DAY + 60)
    await bot.settle()
    await f.wait_for(lambda: "expired and withdrawn" in card.shown, 10, "the card to be withdrawn")
    assert "Woman" not in card.shown and card.updates >= 1


async def test_a_decision_recorded_in_the_slack_modal(bot):  # noqa: F811
    from tests.test_bans import decision

    f = bot.fake
    await f.acked(await f.dm(BOB, "ban record"))
    await bot.settle()
    await f.acked(await f.press(BOB, "Open Warning or exclusion"))
    await f.wait_for(lambda: f.views, 3, "the modal to open")
    view_id, view = next(iter(f.views.items()))
    assert view["title"]["text"] == "Warning or exclusion"
    await f.acked(await f.submit(BOB, view_id, decision()))
    await bot.settle()
    await f.wait_for(lambda: texts(f, BOB)[-1].startswith("BAN-1 recorded."), 5, "the decision to be recorded")
    row = await bot.engine.store.read(lambda c: c.execute("SELECT kind, category, decided_by FROM bans").fetchone())
    assert tuple(row) == ("exclusion", "threatening", "bob")
