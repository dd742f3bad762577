"""The guides stay true: every YAML example loads, every link leads somewhere, every setting is explained,
and the permission page equals the code."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.book import load_book, load_service
from bot.settings import Settings
from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# written in parallel by other engineers (issues #10, #11, #13, #16): linked before they land
COMING: set[str] = set()  # guides linked before they are written (none now)


def yaml_blocks() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text()
        for m in re.finditer(r"^```ya?ml\n(.*?)^```", text, re.S | re.M):
            line = text[: m.start()].count("\n") + 2
            out.append((f"{doc.relative_to(ROOT)}:{line}", m.group(1)))
    return out


BLOCKS = yaml_blocks()


def test_the_docs_have_yaml_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize(("where", "block"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_every_yaml_example_is_valid_and_complete_ones_load(where, block, tmp_path):
    data = yaml.safe_load(block)  # copied as it stands, it must at least parse
    assert isinstance(data, dict), f"{where}: not a mapping"
    service = load_service(ROOT / "config" / "service.example.yaml")
    if "branches" in data:  # a complete service file: the real loader with its cross-checks
        path = tmp_path / "service.yaml"
        path.write_text(block)
        service = load_service(path)
    if "codewords" in data:  # a complete codeword book: `saferbot check-config` would accept it
        path = tmp_path / "codewords.yaml"
        path.write_text(block)
        load_book(path, service)


LINK = re.compile(r"\[[^\]]*\]\(([^)\s#]+)(?:#[^)]*)?\)")


def test_every_relative_link_leads_to_a_file():
    missing = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path = (doc.parent / target).resolve()
            rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
            if not path.exists() and rel not in COMING:
                missing.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert missing == []


def test_readme_is_a_short_front_door_linking_every_guide():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    for guide in ("staff-guide", "duty-manager-guide", "admin", "telegram", "slack", "architecture",
                  "permissions"):
        assert f"docs/{guide}.md" in readme, guide
    # the two quick-start commands, pinned by constraints.txt; CI runs the second exactly as written
    install = "python3 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e"
    assert f"{install} . && .venv/bin/saferbot run" in readme
    test_command = f"{install} '.[test]' && .venv/bin/pytest"
    assert test_command in readme
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_admin_guide_explains_every_setting():
    admin = (ROOT / "docs" / "admin.md").read_text()
    missing = [f"SAFERBOT_{name.upper()}" for name in Settings.model_fields
               if f"`SAFERBOT_{name.upper()}`" not in admin]
    assert missing == []


def test_permissions_page_equals_the_code():
    from bot.permissions_doc import DOC, render

    assert DOC.read_text() == render(), "run: python -m bot.permissions_doc --write"


def test_staff_guide_needs_no_configuration():
    staff = (ROOT / "docs" / "staff-guide.md").read_text()
    assert "SAFERBOT_" not in staff and "```yaml" not in staff and ".yaml" not in staff
    assert len(staff.split()) < 1400  # about two printed pages
