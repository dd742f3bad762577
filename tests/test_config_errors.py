"""A bad codewords.yaml or service file stops start-up with the file, line and fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.book import ConfigError, load_all, load_book, load_service

ROOT = Path(__file__).resolve().parent.parent
GOOD_BOOK = (ROOT / "codewords.yaml").read_text()
GOOD_SERVICE = (ROOT / "config" / "service.example.yaml").read_text()


def problems_for(tmp_path: Path, book: str = GOOD_BOOK, service: str = GOOD_SERVICE) -> list:
    (tmp_path / "codewords.yaml").write_text(book)
    (tmp_path / "service.yaml").write_text(service)
    with pytest.raises(ConfigError) as e:
        load_all(tmp_path / "codewords.yaml", tmp_path / "service.yaml")
    return e.value.problems


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_files_are_valid():
    service = load_service(ROOT / "config" / "service.example.yaml")
    book = load_book(ROOT / "codewords.yaml", service)
    assert "mr-brown" in book.codewords and "bob" in service.people


def test_yaml_syntax_error_names_the_line(tmp_path):
    bad = GOOD_BOOK.replace("    severity: high\n", "    severity: [high\n", 1)
    [p] = problems_for(tmp_path, book=bad)
    assert p.file.endswith("codewords.yaml") and p.line >= line_of(bad, "severity: [high")
    assert "not valid YAML" in p.what and "indentation" in p.fix


def test_unknown_ladder_and_missing_field_and_bad_duration(tmp_path):
    bad = (GOOD_BOOK.replace("    ladder: urgent\n", "    ladder: urgnet\n", 1)
           .replace("    ladder: standard\n", "    ladder: standrd\n", 1))
    ladders = problems_for(tmp_path, book=bad)
    assert [p.line for p in ladders] == [line_of(bad, "ladder: urgnet"), line_of(bad, "ladder: standrd")]
    assert "unknown ladder 'urgnet'" in ladders[0].what and "critical, urgent" in ladders[0].fix

    bad = GOOD_BOOK.replace("        wait: 1m\n", "        wait: soon\n", 1)
    [duration] = problems_for(tmp_path, book=bad)
    assert duration.line == line_of(bad, "wait: soon") and "1h30m" in duration.what

    missing = GOOD_BOOK.replace("    cover_reply: I'll have a look in the staff room for you.\n", "", 1)
    [p] = problems_for(tmp_path, book=missing)
    assert "cover_reply" in p.what and "Field required" in p.what and p.fix == "add the missing key"
    assert p.line == line_of(missing, "mr-brown:")


def test_reply_that_would_give_the_sender_away_is_refused(tmp_path):
    bad = GOOD_BOOK.replace("I'll have a look in the staff room for you.", "Alert raised, police called", 1)
    [p] = problems_for(tmp_path, book=bad)
    assert "give the sender away" in p.what and p.line == line_of(bad, "Alert raised")


def test_duplicate_and_too_short_phrases(tmp_path):
    bad = GOOD_BOOK.replace("      - Time for the stock check\n", "      - Is Mr Brown in today\n      - stock\n", 1)
    problems = problems_for(tmp_path, book=bad)
    assert any("also used by codeword 'mr-brown'" in p.what for p in problems)
    assert any("too short" in p.what and p.line == line_of(bad, "      - stock") for p in problems)


def test_service_file_errors_unknown_branch_role_and_rota(tmp_path):
    bad = GOOD_SERVICE.replace("vic:   {name: Vic Patel, role: volunteer", "vic:   {name: Vic Patel, role: helper", 1)
    [role] = problems_for(tmp_path, service=bad)
    assert "people.vic.role" in role.what and "'volunteer'" in role.what and role.line == line_of(bad, "role: helper")

    bad = (GOOD_SERVICE.replace("role: staff, branch: riverside", "role: staff, branch: riverbank", 1)
           .replace("{branch: riverside, person: fran, days", "{branch: riverside, person: carol, days", 1))
    texts = [str(p) for p in problems_for(tmp_path, service=bad)]
    assert any("unknown branch 'riverbank'" in t and f":{line_of(bad, 'riverbank')}:" in t for t in texts)
    assert any("'carol' is staff, not a duty manager" in t and "role: duty_manager" in t for t in texts)


def test_duplicate_key_and_ladder_with_unknown_person(tmp_path):
    bad = GOOD_BOOK.replace("  red-folder:\n", "  mr-brown:\n", 1)
    [p] = problems_for(tmp_path, book=bad)
    assert "'mr-brown' appears twice" in p.what
    bad = GOOD_BOOK.replace("      - notify: [role:admin]\n", "      - notify: [person:zed]\n", 1)
    [p] = problems_for(tmp_path, book=bad)
    assert "unknown person 'zed'" in p.what and p.line == line_of(bad, "person:zed")


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60, stdin=subprocess.DEVNULL)


def test_check_config_and_run_refuse_a_bad_file_with_the_same_report(tmp_path):
    bad = GOOD_BOOK.replace("    ladder: urgent\n", "    ladder: urgnet\n", 1)
    (tmp_path / "codewords.yaml").write_text(bad)
    env = {"SAFERBOT_CODEWORDS_FILE": str(tmp_path / "codewords.yaml"), "SAFERBOT_DB": str(tmp_path / "x.db")}
    check = run_cli("check-config", env=env)
    run = run_cli("run", env=env)
    for result in (check, run):
        assert result.returncode == 2
        assert f"codewords.yaml:{line_of(bad, 'urgnet')}: codeword 'mr-brown' uses unknown ladder" in result.stderr
        assert "fix: use one of" in result.stderr
    assert not (tmp_path / "x.db").exists()  # run never started

    good = run_cli("check-config", env={})
    assert good.returncode == 0 and "4 codewords" in good.stdout


def test_example_env_shows_every_setting():
    from bot.settings import Settings

    env = (ROOT / "config" / "example.env").read_text()
    assert [f for f in Settings.model_fields if f"SAFERBOT_{f.upper()}=" not in env] == []
