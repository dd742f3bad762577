"""Config never crashes us: every malformed file gets exit 2 with file, line and a fix, never a traceback;
alias expansion and nesting are bounded; mutated copies of the shipped files keep it so."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.book import ConfigError, load_all
from tests.conftest import ROOT

SERVICE = (ROOT / "config" / "service.example.yaml").read_text(encoding="utf-8")
CODEWORDS = (ROOT / "codewords.yaml").read_text(encoding="utf-8")

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))

BAD_SERVICE = {
    "empty key": SERVICE.replace("overrides:\n  - {date: 2026-12-24, branch: central, person: fran, from: \"09:00\","
                                 " to: \"13:00\"}", "overrides:"),
    "impossible date": SERVICE.replace("2026-12-24", "2026-02-30"),
    "recursive alias": "timezone: Europe/London\nbranches: &b\n  central: *b\n",
    "deep nesting": "timezone: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep mapping": "timezone:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 400)),
    "billion laughs": LAUGHS + SERVICE,
    "people empty": SERVICE.replace("people:\n", "people:\n  ghost:\n", 1),
    "people list": SERVICE.replace("people:\n", "people: [1, 2]\nxpeople:\n", 1),
    "tabs": SERVICE.replace("  central:", "\tcentral:", 1),
    "binary tag": "timezone: !!binary aGVsbG8=\n",
    "python tag": "timezone: !!python/object:os.system [ls]\n",
    "key is a list": "? [a, b]\n: 1\n",
}


def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def _check(service: Path, codewords: Path) -> ConfigError | None:
    try:
        load_all(codewords, service)
    except ConfigError as e:
        assert e.problems and all(p.file and p.what and p.fix for p in e.problems)
        return e
    return None


@pytest.mark.parametrize("case", sorted(BAD_SERVICE))
def test_malformed_service_files_are_reported_not_crashed(tmp_path, case):
    err = _check(_write(tmp_path, "service.yaml", BAD_SERVICE[case]), ROOT / "codewords.yaml")
    assert err is not None, f"{case}: accepted"


@pytest.mark.parametrize("case,data", [
    ("windows code page", SERVICE.replace("Central Library", "Caf\u00e9 Library").encode("cp1252")),
    ("NUL byte", SERVICE.replace("Central", "Cen\x00tral", 1).encode()),
    ("control character", SERVICE.replace("Central", "Cen\x07tral", 1).encode()),
    ("UTF-16", SERVICE.encode("utf-16")),
])
def test_undecodable_files_name_the_line_and_the_fix(tmp_path, case, data):
    err = _check(_write(tmp_path, "service.yaml", data), ROOT / "codewords.yaml")
    assert err is not None and err.problems[0].line >= 1, case
    assert "UTF-8" in err.problems[0].fix or "character" in err.problems[0].fix, err.problems[0]


def test_a_directory_given_as_the_file(tmp_path):
    (tmp_path / "svc").mkdir()
    err = _check(tmp_path / "svc", ROOT / "codewords.yaml")
    assert err is not None and "folder" in err.problems[0].what


def test_check_config_exits_2_with_file_line_and_fix(tmp_path, monkeypatch, capsys):
    from bot import cli

    bad = _write(tmp_path, "service.yaml", SERVICE.replace("2026-12-24", "2026-02-30"))
    monkeypatch.setenv("SAFERBOT_SERVICE_FILE", str(bad))
    monkeypatch.setenv("SAFERBOT_CODEWORDS_FILE", str(ROOT / "codewords.yaml"))
    with pytest.raises(SystemExit) as e:
        cli.main(["check-config"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"{bad}:" in err and "fix:" in err and "Traceback" not in err


MUTATIONS = ("delete", "duplicate", "truncate", "insert", "indent", "alias", "swap", "blank", "byte")


def _mutate(text: str, rng: random.Random) -> str | bytes:
    lines = text.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    op = rng.choice(MUTATIONS)
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "truncate":
        return text[: rng.randrange(len(text))]
    elif op == "insert":
        pos = rng.randrange(len(text))
        return text[:pos] + rng.choice(["{", "[", ":", "&x ", "*x", "!!", "'", '"', "- ", "\t", "? ", "|"]) + text[pos:]
    elif op == "indent":
        lines[i] = " " * rng.randrange(1, 5) + lines[i]
    elif op == "alias":
        lines[i] = lines[i].replace(": ", ": &z ", 1) + "zz: *z\n"
    elif op == "swap":
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "blank":
        key = lines[i].split(":", 1)[0]
        lines[i] = key + ":\n"
    else:
        data = bytearray(text.encode())
        data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    return "".join(lines)


def test_mutated_copies_of_the_shipped_files_never_crash(tmp_path):
    rng = random.Random(13)
    for n in range(400):
        which = n % 2
        data = _mutate(SERVICE if which == 0 else CODEWORDS, rng)
        service = _write(tmp_path, "service.yaml", data) if which == 0 else ROOT / "config" / "service.example.yaml"
        codewords = _write(tmp_path, "codewords.yaml", data) if which == 1 else ROOT / "codewords.yaml"
        try:
            _check(service, codewords)
        except AssertionError:
            raise
        except Exception as e:  # anything but a ConfigError is a crash
            raise AssertionError(f"mutation {n} crashed with {type(e).__name__}: {e}\n---\n{data!r:.2000}") from e
