"""Every SAFERBOT_* value is checked when settings load: check-config, doctor and run name the variable,
the value and what is accepted, and exit 2, before anybody needs the setting; a value that loads works."""

from __future__ import annotations

import random
import string
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli
from bot.engine import SORRY
from bot.settings import Settings
from tests.conftest import ROOT, start_engine

TYPOS = {  # what people really type (the issue's own examples first)
    "SAFERBOT_ROLLCALL_WAIT": "5mins", "SAFERBOT_BACKUP_WAIT": "2 minutes", "SAFERBOT_LOG_LEVEL": "verbose",
    "SAFERBOT_STANDBY": "maybe", "SAFERBOT_HEALTH_PORT": "99999"
}


def bot(*args: str, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SAFERBOT_DB": str(tmp_path / "saferbot.db"),
            "SAFERBOT_CODEWORDS_FILE": str(ROOT / "codewords.yaml"),
            "SAFERBOT_SERVICE_FILE": str(ROOT / "config" / "service.example.yaml")}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=tmp_path, capture_output=True, text=True,
                          env={**base, **env}, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("verb", ["check-config", "doctor", "run"])
def test_a_bad_value_stops_every_verb_naming_variable_value_and_what_is_accepted(verb, tmp_path):
    r = bot(verb, env=TYPOS, tmp_path=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    for name, value in TYPOS.items():
        line = next((x for x in r.stderr.splitlines() if name in x), "")
        assert repr(value) in line and "accepted:" in line, (name, r.stderr)
    assert "Traceback" not in r.stderr and "pydantic" not in r.stderr
    assert not (tmp_path / "saferbot.db").exists()  # nothing was started


@pytest.mark.parametrize("verb", ["check-config", "doctor", "run"])
def test_a_ladder_setting_must_name_a_ladder_of_the_codeword_book(verb, tmp_path):
    r = bot(verb, env={"SAFERBOT_LOCKDOWN_LADDER": "urgnet"}, tmp_path=tmp_path)
    assert r.returncode == 2 and "SAFERBOT_LOCKDOWN_LADDER='urgnet'" in r.stderr and "urgent" in r.stderr, r.stderr


def test_a_token_in_a_message_is_never_shown(tmp_path):
    r = bot("check-config", env={"SAFERBOT_TELEGRAM_TOKEN": "123:abc # my bot"}, tmp_path=tmp_path)
    assert r.returncode == 2 and "SAFERBOT_TELEGRAM_TOKEN" in r.stderr and "abc" not in r.stderr


def random_values(rng: random.Random) -> list[str]:
    near = ["5mins", "2 minutes", "1h 30m", "90", "0", "-1", "1e400", "nan", "inf", "yes", "maybe", "True", "off",
            "DEBUG", "verbose", "urgent", "http://x", "ftp://x", "0.0.0.0", "::", "abc", "65536", "1.5", "\u00e9t\u00e9",
            "'quoted'", "value # comment", "9" * 30, "123:abc", "xoxb-1", " ", "\t"]
    alphabet = string.printable.strip() + " \u00a3\u00e9\u2603"
    return near + ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12))) for _ in range(10)]


REFUSED = {"rollcall_wait": "5mins", "backup_wait": "2 minutes", "log_level": "verbose", "standby": "maybe",
           "health_port": "65536", "lease_ttl": "nan", "outbox_backoff": "inf", "telegram_token": "abc"}


@pytest.mark.parametrize("name", list(Settings.model_fields))  # one item a setting: xdist spreads them
def test_random_strings_in_every_setting_get_a_clear_message_or_work(name, tmp_path, monkeypatch, capsys):
    """Every Settings field, whoever added it: never a traceback, and a value that loads is usable."""
    rng = random.Random(f"23 {name}")
    monkeypatch.chdir(tmp_path)
    accepted: list[str] = []
    var = f"SAFERBOT_{name.upper()}"
    for value in random_values(rng):
        with monkeypatch.context() as m:
            m.setenv("SAFERBOT_DB", str(tmp_path / "saferbot.db"))
            m.setenv("SAFERBOT_CODEWORDS_FILE", str(ROOT / "codewords.yaml"))
            m.setenv("SAFERBOT_SERVICE_FILE", str(ROOT / "config" / "service.example.yaml"))
            m.setenv(var, value)
            try:
                code = cli.main(["check-config"])
            except SystemExit as e:
                code = e.code
            out = capsys.readouterr()
        assert code in (0, 2), (var, value, code)
        if code == 2:
            named = str(Path(value)) in out.err if name.endswith("_file") else var in out.err  # the file's report
            assert "Traceback" not in out.err and named, (var, value, out.err)
            shown = "accepted" in out.err or "fix:" in out.err
            assert shown, (var, value, out.err)
            if "token" not in name and "secret" not in name and "_file" not in name and not name.endswith("_key"):
                assert repr(value.strip()) in out.err or repr(value) in out.err, (var, value, out.err)
        else:
            accepted.append(value)
    assert REFUSED.get(name) not in accepted  # a value known to be wrong is refused, not taken


async def test_accepted_odd_values_work_when_people_need_them(tmp_path, clock):
    """Unusual but accepted spellings (1h 30m, a bare number, capitals) never turn into a Sorry later."""
    values = {"backup_wait": "1M 30S", "rollcall_wait": "90S", "incident_reminder_first": "1h 30m",
              "incident_reminder_every": "2D", "incident_manager_after": " 1w ", "welfare_checkins": "1d, 2w,",
              "shift_expiry": "14H", "backup_ladder": "urgent", "lockdown_ladder": "critical", "log_level": "debug"}
    from bot.settings import load_settings

    settings = load_settings(_env_file=None, **values)  # loads: each value goes through the same checks
    h = await start_engine(tmp_path / "saferbot.db", clock, **{k: getattr(settings, k) for k in values})
    try:
        for who, text in [("carol", "on shift"), ("alice", "backup"), ("bob", "lockdown central drill"),
                          ("alice", "log shouting at the desk")]:
            await h.say(who, text)
        await h.advance(3 * 86400)
        texts = [d.text for d in h.transport.records and [r.delivery for r in h.transport.records]]
        assert texts and not [t for t in texts if t and SORRY in t]
        assert any("nobody said On my way" in t for t in texts if t)
    finally:
        await h.engine.stop()


def test_doctor_changes_nothing(tmp_path):
    """doctor only looks: no files/ folder (nor database) appears beside the database it checks."""
    r = bot("doctor", env={}, tmp_path=tmp_path)
    assert "files/" not in {p.name + "/" for p in tmp_path.iterdir()}, r.stdout
    assert "files: charts and exports will go to" in r.stdout and not (tmp_path / "saferbot.db").exists()


@pytest.mark.parametrize("where", ["missing", "read-only", "a file"])
def test_run_with_the_database_in_an_unusable_folder_says_so_in_one_line(where, tmp_path):
    (tmp_path / "note.txt").write_text("x")
    db = {"missing": tmp_path / "no" / "such" / "saferbot.db", "read-only": "/sys/saferbot.db",  # EACCES even as root
          "a file": tmp_path / "note.txt" / "saferbot.db"}[where]
    r = bot("run", env={"SAFERBOT_DB": str(db)}, tmp_path=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr and str(db.parent if isinstance(db, Path) else "/sys") in lines[0]
    assert "SAFERBOT_DB" in lines[0] and "Fix:" in lines[0]


def test_roster_list_of_an_unknown_branch_says_so(tmp_path):
    r = bot("roster", "list", "nosuch", env={}, tmp_path=tmp_path)
    assert r.returncode == 2 and "no branch 'nosuch'" in r.stderr and "central" in r.stderr, r.stderr
    good = bot("roster", "list", "central", env={}, tmp_path=tmp_path)
    assert good.returncode == 0 and "Bob" in good.stdout


async def test_the_suite_writes_charts_under_tmp_not_into_the_checkout(schema, clock):
    """On PostgreSQL there is no database folder: the harness must still keep files/ out of the checkout."""
    before = set((ROOT / "files").glob("*")) if (ROOT / "files").exists() else set()
    h = await start_engine(schema.url, clock)
    try:
        await h.say("carol", "log shouting at the desk")
        await h.say("dana", "report month")
    finally:
        await h.engine.stop()
    after = set((ROOT / "files").glob("*")) if (ROOT / "files").exists() else set()
    assert after == before and list(h.engine.settings.files_dir.glob("incidents-*.png"))
