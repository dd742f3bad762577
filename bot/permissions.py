"""Who may do what: the one table. docs/permissions.md is generated from it (bot/permissions_doc.py).

Each action names the roles allowed to do it. Handlers check `allowed(person, action)`;
nothing else in the code decides permissions.
"""

from __future__ import annotations

from .model import Person, Role

V, S, D, A = Role.volunteer, Role.staff, Role.duty_manager, Role.admin
EVERYONE = frozenset({V, S, D, A})
STAFF_UP = frozenset({S, D, A})
MANAGERS = frozenset({D, A})
ADMINS = frozenset({A})

TABLE: dict[str, frozenset[Role]] = {
    # codeword alerts
    "raise_alert": EVERYONE,  # volunteers may raise; they never receive alerts
    "receive_alert": STAFF_UP,
    "ack_alert": STAFF_UP,  # only people notified of the alert, or managers
    "resolve_alert": STAFF_UP,
    "list_alerts": MANAGERS,
    # backup
    "request_backup": EVERYONE,  # and stand it down again ("I'm fine")
    "answer_backup": STAFF_UP,  # volunteers are never asked to come
    # lone working
    "lone_work": EVERYONE,
    "list_lone_sessions": MANAGERS,
    # incidents
    "report_incident": EVERYONE,
    "read_own_incidents": STAFF_UP,  # volunteers can report but never read
    "read_branch_incidents": MANAGERS,
    "read_all_incidents": ADMINS,
    "review_incident": MANAGERS,
    "export_incidents": MANAGERS,
    "monthly_report": MANAGERS,
    # people and duty
    "see_contacts": EVERYONE,  # the branch's own numbers (police non-emergency, security, support)
    "see_roster_phones": STAFF_UP,  # colleagues' and managers' phone numbers; never volunteers
    "list_roster": MANAGERS,  # `roster`: who is rostered at the branch (admins: everywhere)
    "edit_roster": ADMINS,  # `person add|set|remove`, `roster history`
    "invite": ADMINS,
    "set_shift": EVERYONE,
    "see_on_duty": EVERYONE,
    "take_cover": MANAGERS,
    # service-wide events
    "lockdown": MANAGERS,  # lockdown, evacuate, all clear, roll call
    "answer_rollcall": EVERYONE,  # I'm safe / I need help: everyone on shift is asked, volunteers too
    "drill": MANAGERS,
    # bans and heads-ups (docs/bans.md); volunteers never see a ban
    "ban_today": STAFF_UP,  # `ban today`: exclude someone from your branch for the rest of the day
    "read_bans": STAFF_UP,  # `bans here`: who is excluded (name, description, until when); only at the ban's branches
    "decide_ban": STAFF_UP,  # confirm, record, review: also needs SAFERBOT_BAN_DECIDER_ROLE (default duty manager)
    "send_headsup": MANAGERS,  # a time-limited "be aware" note to staff on shift at other branches
    "manage_triggers": ADMINS,  # `trigger list|test|disable|enable` (panic buttons; add/rotate/remove: server only)
}


def allowed(person: Person | None, action: str) -> bool:
    return person is not None and person.role in TABLE[action]
