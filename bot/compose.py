"""The composition: which capabilities this saferbot has, in what order, on which ports.

An entry point (`saferbot run`, console, demo, the command-line verbs, the test harness,
the bench scripts) calls `build_app()` and hands the App to the Engine. This is the one
place that imports every capability; importing a capability module registers nothing.

The order of `CAPABILITIES` is the order commands and buttons are taken (it was the import
order); start-up and the overview have their own explicit lists below.
"""

from __future__ import annotations

from bot import core_data, directory, escalation, forms, trigger_http
from bot.app import App
from bot.board import auth as board_auth
from bot.board import pages as board_pages
from bot.directory import Duty
from bot.registry import Group
from handlers import (
    alerts,
    backup,
    backup_data,
    ban_form,
    ban_reviews,
    bans,
    bans_data,
    board,
    codeword,
    codeword_data,
    drill,
    headsup,
    help,
    incident,
    incident_data,
    incident_form,
    incident_review,
    leavers,
    lockdown,
    lockdown_cards,
    lockdown_data,
    lone_data,
    lone_session,
    lone_working,
    phone,
    phone_events,
    privacy,
    registration,
    registration_data,
    report,
    retention,
    roster,
    roster_data,
    roster_duty,
    safety,
    trigger,
    weekly,
    welfare,
)

CAPABILITIES = (escalation, alerts, codeword, backup, lockdown_cards, lockdown, drill, help, incident,
                incident_form, privacy, incident_review, lone_session, lone_working, registration, retention,
                report, leavers, roster, safety, welfare, bans, ban_form, ban_reviews, headsup,
                trigger, board, phone, weekly)


def build_app() -> App:
    """A fresh App: nothing in it is shared with another App built in the same process."""
    app = App().add(*CAPABILITIES)
    app.add_form(forms.INCIDENT, button="incident.form")
    app.add_form(ban_form.BAN, button="ban.form")
    # start-up, in order: the directory first (roster edits kept in the store, the engine's clock), then
    # leavers; then command-line edits while running; then daily jobs
    app.startup[:] = [
        directory.startup,
        leavers.reconcile,
        leavers.watch_roster,
        lone_working.check_duress_words,
        report._schedule_purge,
        retention.watch_checkpoints,
        trigger.startup,  # the look for silent panic buttons
        weekly.schedule,  # the admins' Monday note
        registration.load_bindings,  # last, as the engine did it: people added by roster edits bind too
    ]
    for capability in (codeword, backup, lockdown, lone_working):  # what their alerts are called (bot/health.py)
        app.alert_kinds.update(capability.ALERT_KINDS)
    # what the directory asks of the store (duty manager, on shift, roster edits): the roster's tables, privacy's
    app.duty = Duty(roster_duty.covers, roster_duty.shift_statements, roster_duty.roster_edits, privacy.retired_keys)
    app.status_lines[:] = [lone_working.status_lines]  # `saferbot status`, after the open alerts
    app.on_alert_resolved[:] = [incident.stub_from_alert, lone_working._on_resolve]
    app.on_incident_serious[:] = [welfare.start]
    # personal data, table by table (bot/personal_data.py): subject access, erase and purge ask these in order
    app.data_owners[:] = [core_data.OWNER, incident_data.OWNER, lone_data.OWNER, backup_data.OWNER,
                          lockdown_data.OWNER, roster_data.OWNER, registration_data.OWNER, codeword_data.OWNER,
                          privacy.OWNER, bans_data.OWNER, trigger.OWNER, board_auth.OWNER,
                          phone.data_owner()]
    app.http_routes.append(trigger_http.routes)  # panic buttons: POST /trigger/<device> (handlers/trigger.py)
    app.standby_routes.append(trigger_http.standby_routes)  # a press that reaches a standby is relayed
    app.http_routes.append(board_pages.routes)  # the duty manager's board (off unless SAFERBOT_BOARD)
    app.standby_routes.append(board_pages.standby_routes)
    # the phone rung (docs/phone.md): texts and calls after a tier with sms:/call:, and the providers' callbacks
    app.on_tier_notified[:] = [phone.on_tier]
    app.http_routes.append(_phone_routes)
    app.weekly_lines[:] = [phone.weekly_lines, trigger.weekly_lines]  # the admins' Monday note, in this order
    # the overview (Slack App Home), in display order
    app.home_sections[:] = [alerts.alerts_home, backup.backup_home, lockdown.lockdown_home, incident.home_lines,
                            lone_working.lone_home, roster.cover_home, ban_reviews.home_lines]
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
        (Group.ANSWER, ban_form.form_answer),  # the open question of a ban decision being recorded
        (Group.ANSWER, phone.code_answer),  # six digits while a phone verification code waits
    )


def _phone_routes(engine) -> list:
    """The providers' callbacks, when a phone provider is configured (the package is an optional extra)."""
    s = engine.settings
    if not (s.notify_api_key or s.twilio_auth_token):
        return []
    from bot.transports import phone_http

    return phone_http.routes(engine, phone_events.on_event)
