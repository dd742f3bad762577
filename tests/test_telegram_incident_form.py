"""The incident form step by step on the real Telegram transport (PTB against the fake Bot API)."""

from __future__ import annotations

from tests.test_incidents import ANSWERS
from tests.test_telegram import ALICE, bot, fake  # noqa: F401  (fixtures)


async def test_stub_then_full_form_by_buttons_and_typed_answers_on_telegram(bot, fake):  # noqa: F811
    alice = await bot.register("alice", ALICE, "Alice")
    fake.say(alice, "log shouting at the enquiry desk, man in red coat")
    stub = await fake.wait_for(lambda: [m for m in fake.inbox(ALICE) if "Complete form" in m.labels])
    assert "INC-2026-0001" in stub[-1].text

    fake.press(alice, stub[-1], "Complete form")
    for number, answer in enumerate(ANSWERS, 1):
        asked = f"question {number} of {len(ANSWERS)}"
        question = (await fake.wait_for(lambda a=asked: [m for m in fake.inbox(ALICE) if a in m.text]))[-1]
        if answer is None:
            assert "Skip" in question.labels, question.text
            fake.press(alice, question, "Skip")
        else:
            fake.say(alice, answer)
    summary = await fake.wait_for(lambda: [m for m in fake.inbox(ALICE) if "Submit report" in m.labels])
    assert "I'll be waiting for you outside" in summary[-1].text  # the words used, shown back literally
    fake.press(alice, summary[-1], "Submit report")
    await fake.wait_for(lambda: any(t.startswith("Thank you. INC-2026-0001 is complete") for t in fake.texts(ALICE)))
    rows = await bot.query("SELECT status, category, police_ref FROM incidents")
    assert rows == [("complete", "verbal abuse", "CR/1234/26")]
