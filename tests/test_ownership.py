"""Capabilities own their data; the core never imports a capability; memory follows the committed store."""

from __future__ import annotations

import re

from tests.conftest import ROOT

CORE = ("inbound", "wakeups", "cards", "outbox", "alerts", "alert_events", "alert_recipients", "heartbeat", "outages",
        "lease", "relay")
OWNERS = {  # capability -> (its modules, its tables)
    "core": (("bot/unit.py", "bot/engine.py", "bot/outbox.py", "bot/escalation.py", "bot/health.py", "bot/lease.py",
              "bot/relay.py", "bot/outage.py", "bot/core_data.py",
              "bot/relay_queue.py", "bot/storecheck.py"), CORE),
    "privacy": (("handlers/leavers.py", "handlers/privacy.py", "handlers/retention.py"), ("people_retired",)),
    "backup": (("handlers/backup.py", "handlers/backup_data.py"), ("backup_requests", "backup_answers")),
    "codeword": (("handlers/codeword.py", "handlers/codeword_data.py"), ("stranger_codewords",)),
    "incidents": (("handlers/incident.py", "handlers/incident_form.py", "handlers/incident_review.py",
                   "handlers/report.py", "handlers/welfare.py", "handlers/incident_data.py"),
                  ("incidents", "incident_audit", "incident_drafts", "incident_notes", "welfare_checkins",
                   "welfare_checklist")),
    "lockdown": (("handlers/lockdown.py", "handlers/lockdown_cards.py", "handlers/drill.py", "handlers/lockdown_data.py"),
                 ("lockdowns", "rollcall", "drills")),
    "lone": (("handlers/lone_session.py", "handlers/lone_working.py", "handlers/lone_data.py"), ("lone_sessions", "lone_events")),
    "registration": (("handlers/registration.py", "handlers/registration_data.py"), ("bindings", "invites", "platform_info")),
    "roster": (("handlers/roster.py", "handlers/roster_data.py", "handlers/roster_duty.py"), ("covers", "roster_audit", "roster_overlay", "shifts")),
    "trigger": (("handlers/trigger.py",), ("trigger_devices", "trigger_presses")),
    "board": (("handlers/board.py", "bot/board/auth.py"), ("board_links", "board_key")),
    "bans": (("handlers/bans.py", "handlers/ban_form.py", "handlers/ban_reviews.py", "handlers/headsup.py",
              "handlers/bans_data.py"), ("bans", "ban_audit", "ban_disclosures", "ban_drafts", "headsups")),
    "phone": (("handlers/phone.py", "handlers/phone_events.py"), ("contact_methods", "phone_codes", "phone_sends")),
}
# known debts, left for their owners (issue 12): remove a line when it is paid
KNOWN: set[tuple[str, str]] = set()
# leavers (issue 13) still end a leaver's invites, queued messages and chat accounts from one list; retention and
# erasure are paid (issue 26): each owner purges and forgets its own tables (the *_data.py modules)
PRIVACY_SWEEPS = {
    "handlers/leavers.py": ("bindings", "invites"),
    "handlers/privacy.py": ("invites", "outbox"),
    "handlers/retention.py": ("platform_info",),  # the checkpoint flag the nightly purge leaves
}
KNOWN |= {(module, table) for module, tables in PRIVACY_SWEEPS.items() for table in tables}
WRITE = re.compile(r"(?:INSERT(?: OR \w+)? INTO|UPDATE|DELETE FROM)\s+([a-z_]+)")


def test_each_capability_writes_only_its_own_tables():
    owner_of = {t: name for name, (_, tables) in OWNERS.items() for t in tables}
    module_of = {m: name for name, (modules, _) in OWNERS.items() for m in modules}
    wrong = []
    for path in [*sorted((ROOT / "handlers").glob("*.py")), *sorted((ROOT / "bot").rglob("*.py"))]:
        rel = str(path.relative_to(ROOT))
        if rel.startswith("bot/store/"):
            continue  # migrations create the tables
        for table in set(WRITE.findall(path.read_text())):
            if table in owner_of and module_of.get(rel) != owner_of[table] and (rel, table) not in KNOWN:
                wrong.append(f"{rel} writes {table} (owned by {owner_of[table]})")
    assert wrong == []


READ = re.compile(r"\b(?:FROM|JOIN)\s+([a-z_]+)")
# the core's reads of a capability's table, left for their owners: remove a line when it is paid
KNOWN_READS: set[tuple[str, str]] = set()  # (file, table) the core still reads of a capability: none left


def _core_files() -> list[tuple[str, str]]:
    """(path, module) of every file in bot/ below the entry, except the board (a declared reader of every
    table, docs/board.md) and the migrations (they create the tables)."""
    from tests.test_layers import ENTRY, FILES, _layer

    out = []
    for name, path in sorted(FILES.items()):
        rel = str(path.relative_to(ROOT))
        if not rel.startswith("bot/") or rel.startswith(("bot/board/", "bot/store/migrations/")):
            continue
        if _layer(name)[1] != ENTRY:
            out.append((rel, path.read_text()))
    return out


def test_the_core_reads_no_capabilitys_table():
    """The core (model, store, engine, runtime, transports) asks a capability through the App's ports for what
    its tables hold (bot/app.py), as it must for writes: the directory gets covers, shift statements, roster
    edits and retired keys from its duty source, not by reading covers, shifts, roster_overlay, people_retired."""
    owner_of = {t: name for name, (_, tables) in OWNERS.items() for t in tables if name != "core"}
    wrong = [f"{rel} reads {table} (owned by {owner_of[table]})" for rel, text in _core_files()
             for table in sorted(set(READ.findall(text))) if table in owner_of and (rel, table) not in KNOWN_READS]
    assert wrong == []


def test_the_read_scan_sees_the_core():
    files = dict(_core_files())
    assert "bot/directory.py" in files and "bot/engine.py" in files and "bot/health.py" in files
    assert "bot/commands/people.py" not in files and "bot/board/snapshot.py" not in files
    assert READ.findall('conn.execute("SELECT person FROM covers c JOIN shifts s ON ...")') == ["covers", "shifts"]


def test_the_core_never_imports_a_capability():
    core = [ROOT / "bot" / n for n in ("engine.py", "router.py", "escalation.py", "outbox.py", "unit.py",
                                       "registry.py", "scheduler.py", "directory.py")]
    core += sorted((ROOT / "bot" / "transports").glob("*.py"))
    offenders = [str(p.relative_to(ROOT)) for p in core
                 if re.search(r"^\s*(from handlers|import handlers)", p.read_text(), re.MULTILINE)]
    assert offenders == []


async def test_a_roster_change_that_rolls_back_leaves_the_directory_as_the_store(harness, monkeypatch):
    import handlers.roster as roster

    def broken(*args):
        raise RuntimeError("disk full, say")

    monkeypatch.setattr(roster, "rota_warnings", broken)  # fails after the change, inside the transaction
    await harness.say("dana", "person add gus name=Gus role=staff branch=central")
    assert "Sorry, I could not do that" in harness.last("dana").text
    assert harness.engine.directory.person("gus") is None  # rolled back: not in memory either
    assert (await harness.query("SELECT COUNT(*) FROM roster_overlay"))[0][0] == 0
    monkeypatch.undo()
    await harness.say("dana", "person add gus name=Gus role=staff branch=central")
    assert harness.engine.directory.person("gus").name == "Gus"


async def test_a_registration_that_rolls_back_binds_nobody_in_memory(tmp_path, clock, monkeypatch):
    import handlers.registration as registration
    from tests.test_registration import invite, start, tap

    h, tg = await start(tmp_path, clock)
    try:
        code = await invite(h, "alice")
        real = registration._hash
        calls = []

        def fails_the_second_time(text):  # the invite lookup after the binding: the unit rolls back
            calls.append(text)
            if len(calls) == 2:
                raise RuntimeError("disk full, say")
            return real(text)

        monkeypatch.setattr(registration, "_hash", fails_the_second_time)
        await tap(h, tg, "501", code)
        assert h.engine.directory.find("telegram", "501") is None  # the store has no binding; nor has memory
        assert (await h.query("SELECT COUNT(*) FROM bindings"))[0][0] == 0
        monkeypatch.undo()
        assert (await tap(h, tg, "501", code)).startswith("Welcome, Alice Smith")
        assert h.engine.directory.find("telegram", "501").key == "alice"
    finally:
        await h.engine.stop()
