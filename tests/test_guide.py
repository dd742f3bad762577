"""`saferbot guide`: the staff guide as a printable page (no browser needed for HTML)."""

from __future__ import annotations

from bot import cli
from bot.guide import to_html


def test_markdown_subset_becomes_html_with_text_escaped():
    body = to_html("# Title\n\nSend `<b>help</b>` **now**, *quietly*.\n\n- one\n  two\n- three\n\n"
                   "1. first\n2. second\n\n| a | b |\n|---|---|\n| `x \\| y` | [link](https://e.org) |\n\n"
                   "```\nlone 45m\n```\n<!-- hidden -->\n")
    assert "<h1>Title</h1>" in body
    assert "<code>&lt;b&gt;help&lt;/b&gt;</code>" in body and "<strong>now</strong>" in body
    assert "<em>quietly</em>" in body
    assert "<ul><li>one two</li><li>three</li></ul>" in body and "<ol><li>first</li><li>second</li></ol>" in body
    assert "<td><code>x | y</code></td>" in body and '<a href="https://e.org">link</a>' in body
    assert "<pre><code>lone 45m</code></pre>" in body and "hidden" not in body


def test_guide_staff_writes_a_printable_page(tmp_path, capsys):
    out = tmp_path / "staff-guide.html"
    assert cli.main(["guide", "staff", "--out", str(out)]) == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "@page { size: A4" in page
    assert "<h2>Working alone</h2>" in page and "<h2>Logging an incident</h2>" in page
    assert "**" not in page and "`" not in page  # no Markdown left showing on the printed page
