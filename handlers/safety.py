"""'I'm safe': the one reader of the everyday proof-of-life words.

Two capabilities care when someone says they are safe: a lockdown's roll call and a
lone-working session. One phrase has one owner at one priority, so this reader owns
the words (bot.words.SAFE) and tells both: during a lockdown a lone worker's "I'm safe"
answers the roll call AND checks in. It is a SAFETY reader: an open form never takes it.
"""

from __future__ import annotations

from bot import words
from bot.messages import Inbound
from bot.model import Person
from bot.registry import reads
from bot.unit import Tx

from . import lockdown, lone_working


@reads(phrases=words.SAFE)
def proof_of_life(tx: Tx, person: Person, msg: Inbound) -> bool:
    if words.normalise(msg.text) not in words.SAFE:
        return False
    answered = lockdown.answer_typed(tx, person, msg, "safe")
    checked = lone_working.check_in_typed(tx, person, msg)
    return answered or checked
