"""A digest of waiting alarm cards for one chat: as many as the message allows, each still complete."""

from __future__ import annotations

from bot import digest
from bot.messages import Button


def card(i: int) -> str:
    """A codeword alert card as bot.escalation.render writes it while it waits (172 characters)."""
    return (f"[HIGH] Aggressive or threatening person - colleague needed now (alert #{i})\n"
            f"From: Person {i:05d}, Central\nRaised: 09:32\n"
            "Status: waiting for someone to acknowledge (tier 1 of 2)")


def test_sixteen_waiting_codeword_cards_go_in_one_digest():
    assert digest.fits([card(i) for i in range(10000, 10016)])


def test_a_digest_member_still_says_it_waits_and_at_which_tier():
    text, buttons = digest.compose([(7, card(7), (Button("Acknowledge", "alert.ack", "7"),))])
    assert "From: Person 00007, Central" in text
    assert "Waiting to be acknowledged (tier 1 of 2)" in text
    assert [b.label for b in buttons] == ["Acknowledge #7"]


def test_an_acknowledged_member_is_shown_as_it_is_now():
    acked = card(7).replace("Status: waiting for someone to acknowledge (tier 1 of 2)",
                            "Acknowledged by Bob Green at 09:33")
    text, _ = digest.compose([(7, acked, ()), (8, card(8), ())])
    assert "Acknowledged by Bob Green at 09:33" in text and "Waiting to be acknowledged" in text


def test_a_full_digest_stays_one_telegram_message_after_every_member_is_acknowledged_and_police_called():
    cards = [card(i) for i in range(10000, 10016)]
    assert digest.fits(cards)
    grown = [c.replace("Status: waiting for someone to acknowledge (tier 1 of 2)",
                       "Acknowledged by Firstname Lastname at 09:33\nPolice called by Firstname Lastname at 09:34")
             for c in cards]
    text, _ = digest.compose([(i, c, ()) for i, c in enumerate(grown, start=1)])
    assert len(text) <= 4096
