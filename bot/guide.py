"""`saferbot guide staff --out staff-guide.html`: a guide as a page a manager can print and pin up.

A small Markdown converter for the subset the guides use (headings, paragraphs, lists, tables,
code, bold, italics, links), so printing a guide needs no extra package. A PDF is printed by a
headless Chromium or Chrome when one is installed; otherwise print the HTML from any browser.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

GUIDES = {"staff": "staff-guide.md", "duty-manager": "duty-manager-guide.md", "admin": "admin.md"}

CSS = """
@page { size: A4; margin: 14mm 15mm; }
body { font-family: "Helvetica Neue", Arial, sans-serif; font-size: 10.5pt; line-height: 1.38;
       color: #111; max-width: 46em; margin: 1.5em auto; padding: 0 1em; }
h1 { font-size: 19pt; margin: 0 0 .4em; border-bottom: 3px solid #3b6ea8; padding-bottom: .2em; }
h2 { font-size: 13pt; margin: 1em 0 .3em; color: #23466e; break-after: avoid; }
h3 { font-size: 11pt; margin: .8em 0 .2em; break-after: avoid; }
p, ul, ol { margin: .3em 0 .5em; }
li { margin: .12em 0; }
ul, ol { padding-left: 1.4em; }
code { font-family: Menlo, Consolas, monospace; font-size: 95%; background: #eef2f7;
       padding: 0 .25em; border-radius: 3px; }
pre { background: #eef2f7; padding: .5em .7em; white-space: pre-wrap; overflow-wrap: anywhere; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; margin: .4em 0 .7em; max-width: 100%; }
td code { overflow-wrap: anywhere; }
th, td { border: 1px solid #aab; padding: .2em .45em; text-align: left; vertical-align: top; }
th { background: #eef2f7; }
section, li, tr { break-inside: avoid; }
a { color: #23466e; }
"""


def inline(text: str) -> str:
    """Escape, then the inline marks: `code`, **bold**, *italics*, [links](url)."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        s = html.escape(part, quote=False)
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", s)
        s = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)",
                   lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>', s)
        out.append(s)
    return "".join(out)


def _cells(row: str) -> list[str]:
    row = row.strip().strip("|")
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)]


def to_html(markdown: str) -> str:
    """The body HTML for the Markdown subset used in docs/."""
    markdown = re.sub(r"<!--.*?-->", "", markdown, flags=re.S)
    lines = markdown.splitlines()
    out: list[str] = []
    para: list[str] = []
    i = 0

    def flush() -> None:
        if para:
            out.append(f"<p>{inline(' '.join(para))}</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(body))}</code></pre>")
        elif m := re.match(r"(#{1,4})\s+(.*)", line):
            flush()
            n = len(m.group(1))
            out.append(f"<h{n}>{inline(m.group(2))}</h{n}>")
        elif stripped.startswith("|") and i + 1 < len(lines) and re.match(r"\s*\|[\s:|-]+\|\s*$", lines[i + 1]):
            flush()
            head = "".join(f"<th>{inline(c)}</th>" for c in _cells(line))
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in _cells(lines[i])) + "</tr>")
                i += 1
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
            continue
        elif re.match(r"\s*([-*]|\d+\.)\s+", line):
            flush()
            ordered = bool(re.match(r"\s*\d+\.", line))
            items: list[str] = []
            while i < len(lines):
                cur = lines[i]
                if m := re.match(r"\s*([-*]|\d+\.)\s+(.*)", cur):
                    items.append(m.group(2))
                elif cur.startswith("  ") and cur.strip() and items:
                    items[-1] += " " + cur.strip()  # continuation of the item above
                else:
                    break
                i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{inline(t)}</li>" for t in items) + f"</{tag}>")
            continue
        elif not stripped:
            flush()
        else:
            para.append(stripped)
        i += 1
    flush()
    return "\n".join(out)


def page(markdown: str) -> str:
    title = next((m.group(1) for m in re.finditer(r"^#\s+(.*)$", markdown, re.M)), "saferbot")
    return (f'<!DOCTYPE html>\n<html lang="en-GB"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n"
            f"<body>\n{to_html(markdown)}\n</body></html>\n")


def docs_dir() -> Path:
    """docs/ of this checkout (or of the image's /app), else ./docs."""
    for d in (Path(__file__).resolve().parent.parent / "docs", Path.cwd() / "docs"):
        if d.is_dir():
            return d
    raise FileNotFoundError("the docs/ folder is not here: run this from the saferbot folder")


def browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser", "google-chrome", "chrome") if shutil.which(b)), None)


def render(reader: str, out: Path | None) -> int:
    text = (docs_dir() / GUIDES[reader]).read_text(encoding="utf-8")
    doc = page(text)
    if out is None:
        sys.stdout.write(doc)
        return 0
    if out.suffix.lower() != ".pdf":
        out.write_text(doc, encoding="utf-8")
        print(f"wrote {out}: open it in a browser and print it")
        return 0
    exe = browser()
    if not exe:
        html_out = out.with_suffix(".html")
        html_out.write_text(doc, encoding="utf-8")
        print(f"no Chromium or Chrome here to make a PDF: wrote {html_out} instead; open it in a browser "
              "and choose Print -> Save as PDF", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "guide.html"
        src.write_text(doc, encoding="utf-8")
        subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                        f"--print-to-pdf={out.resolve()}", src.as_uri()], check=False, capture_output=True,
                       timeout=120)
    if not out.exists():
        print(f"saferbot: {exe} did not write {out}; print the HTML from a browser instead", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0
