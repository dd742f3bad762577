"""The composition: which capabilities this saferbot has, in what order, on which ports.

An entry point (`saferbot run`, console, demo, the command-line verbs, the test harness,
the bench scripts) calls `build_app()` and hands the App to the Engine. This is the one
place that imports every capability; importing a capability module registers nothing.

The order of `CAPABILITIES` is the order commands and buttons are taken (it was the import
order); start-up and the overview have their own explicit lists below.
"""

from __future__ import annotations

from bot import directory, escalation, forms
from bot.app import App
from bot.registry import Group
from handlers import (
    alerts,
    backup,
    codeword,
    drill,
    help,
    incident,
    incident_form,
    incident_review,
    leavers,
    lockdown,
    lockdown_cards,
    lone_session,
    lone_working,
    privacy,
    registration,
    report,
    retention,
    roster,
    safety,
    welfare,
)

CAPABILITIES = (escalation, alerts, codeword, backup, lockdown_cards, lockdown, drill, help, incident,
                incident_form, privacy, incident_review, lone_session, lone_working, registration, retention,
                report, leavers, roster, safety, welfare)


def build_app() -> App:
    """A fresh App: nothing in it is shared with another App built in the same process."""
    app = App().add(*CAPABILITIES)
    app.add_form(forms.INCIDENT, button="incident.form")
    # start-up, in order: the directory first (roster edits kept in the store, the engine's clock), then
    # leavers; then command-line edits while running; then daily jobs
    app.startup[:] = [
        directory.startup,
        leavers.reconcile,
        leavers.watch_roster,
        lone_working.check_duress_words,
        report._schedule_purge,
        retention.watch_checkpoints,
        registration.load_bindings,  # last, as the engine did it: people added by roster edits bind too
    ]
    for capability in (codeword, backup, lockdown, lone_working):  # what their alerts are called (bot/health.py)
        app.alert_kinds.update(capability.ALERT_KINDS)
    app.status_lines[:] = [lone_working.status_lines]  # `saferbot status`, after the open alerts
    app.on_alert_resolved[:] = [incident.stub_from_alert, lone_working._on_resolve]
    app.on_incident_serious[:] = [welfare.start]
    # the overview (Slack App Home), in display order
    app.home_sections[:] = [alerts.alerts_home, backup.backup_home, lockdown.lockdown_home, incident.home_lines,
                            lone_working.lone_home, roster.cover_home]
    # who reads a typed message, in priority order (see bot/registry.py): safety first, whatever else is
    # open; then the answer to an open form or conversation; then command words (@command); then help
    return app.wire(
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
