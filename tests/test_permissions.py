"""The one permission table, enforced: what each role is refused, and what it sees."""

from __future__ import annotations

from bot.compose import build_app
from bot.model import Person, Role
from bot.permissions import TABLE, allowed

NOT_ALLOWED = "Sorry, that is not something your role can do here."


def test_every_registered_command_and_button_names_an_action_in_the_table():
    app = build_app()
    for cmd in app.commands.values():
        assert cmd.permission in TABLE, cmd.name
    for action, (_, permission) in app.buttons.items():
        assert permission in TABLE, action


def test_table_roles():
    vic = Person(key="v", name="V", role=Role.volunteer)
    staff = Person(key="s", name="S", role=Role.staff)
    dm = Person(key="d", name="D", role=Role.duty_manager)
    admin = Person(key="a", name="A", role=Role.admin)
    assert not allowed(vic, "lockdown") and not allowed(staff, "lockdown") and allowed(dm, "lockdown")
    assert not allowed(vic, "see_roster_phones") and allowed(staff, "see_roster_phones")
    assert allowed(vic, "see_contacts") and allowed(vic, "answer_rollcall") and not allowed(vic, "answer_backup")
    assert not allowed(dm, "edit_roster") and allowed(admin, "edit_roster")
    assert not allowed(None, "see_contacts")


async def test_volunteer_cannot_lockdown_or_read_roster_phones(harness):
    await harness.say("vic", "lockdown central intruder")
    assert harness.last("vic").text == NOT_ALLOWED
    await harness.say("vic", "evacuate central fire")
    assert harness.last("vic").text == NOT_ALLOWED
    await harness.say("vic", "roster")
    assert harness.last("vic").text == NOT_ALLOWED
    await harness.say("vic", "person set vic role=admin")
    assert harness.last("vic").text == NOT_ALLOWED
    await harness.say("vic", "drill on")
    assert harness.last("vic").text == NOT_ALLOWED
    assert harness.sent("alice") == [] and harness.sent("bob") == []  # nothing went anywhere

    await harness.say("vic", "contacts")
    text = harness.last("vic").text
    assert "Police (non-emergency): 101" in text and "Council security control room: +44 1632 960001" in text
    assert "Duty manager now: Bob Green" in text
    assert "+44 7700" not in text  # no roster phone numbers for volunteers


async def test_staff_see_managers_numbers_in_contacts(harness):
    await harness.say("alice", "contacts")
    text = harness.last("alice").text
    assert text.startswith("Central Library, 1 Library Square - useful numbers")
    assert "Duty manager now: Bob Green: +44 7700 900003" in text
    await harness.say("alice", "contacts riverside")
    assert "Local mental health crisis line: +44 1632 960003" in harness.last("alice").text
    assert "Fran Okafor: +44 7700 900005" in harness.last("alice").text


async def test_help_lists_only_what_the_role_may_do(harness):
    await harness.say("vic", "help")
    vic = harness.last("vic").text
    assert "contacts" in vic and "backup" in vic and "lockdown" not in vic and "roster" not in vic
    await harness.say("bob", "help")
    bob = harness.last("bob").text
    assert "lockdown" in bob and "evacuate" in bob and "drill" in bob and "cover" in bob
    assert "person add" not in bob


def test_the_permissions_page_table_matches_the_code():
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "permissions.md").read_text()
    order = [Role.volunteer, Role.staff, Role.duty_manager, Role.admin]
    for action, roles in TABLE.items():
        cells = " | ".join("yes" if r in roles else "-" for r in order)
        assert f"| `{action}` | {cells} |" in doc, action
