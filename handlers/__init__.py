"""Capabilities, and the ONE place that says in what order they read a typed message.

Importing this package registers every handler with bot.registry and wires the readers.
Handlers are platform-neutral: they never import a chat SDK. Each is a plain function
run inside one database transaction (see bot/unit.py).

The wiring below is the priority order (see bot/registry.py): safety first, whatever
else is open; then the answer to an open form or conversation; then command words
(from @command); then help. Import order decides nothing.
"""

from bot.registry import Group, wire

from . import (  # noqa: F401
    alerts,
    backup,
    codeword,
    drill,
    help,
    incident,
    incident_form,
    incident_review,
    lockdown,
    lone_working,
    registration,
    report,
    roster,
    safety,
    welfare,
)

wire(
    # 1. SAFETY: always read first, even with a form or conversation open
    (Group.SAFETY, codeword.read_codeword),  # a codeword anywhere in a message (channels too, if the book says)
    (Group.SAFETY, lone_working.duress_first),  # the duress phrase, before "finish" could end the session
    (Group.SAFETY, safety.need_help),  # "I need help": a roll-call answer, else backup in one press
    (Group.SAFETY, safety.proof_of_life),  # "I'm safe": answers a roll call and checks in a lone session
    (Group.SAFETY, backup.stand_down_words),  # "I'm fine" / "stand down" with an open backup request
    (Group.SAFETY, lone_working.session_words),  # checkin / extend / finish / status / done, session live
    # 2. ANSWER: the answer to an open form or conversation
    (Group.ANSWER, incident_form.form_answer),  # the open incident-form question
    (Group.ANSWER, welfare.typed_answer),  # a welfare check-in waiting for an answer
)
