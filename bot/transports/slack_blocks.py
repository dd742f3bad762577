"""Block Kit rendering for the Slack transport: messages, modals and the App Home.

Everything the engine says is plain text, and so is everything a user typed; here it
is escaped (`&`, `<`, `>`) and shown with `verbatim` on, so `<!channel>` or `<@U123>`
typed by someone is shown as typed and never pings anyone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ..forms import Form
from ..messages import Button

SECTION_MAX = 3000  # characters in one section's text
TEXT_MAX = 3900  # the notification (top-level) text; Slack truncates long ones anyway
BUTTONS_PER_BLOCK = 25
FORM_OPEN = "saferbot.form"  # the action of the "open the form" button added to a message that asks for a form
CALLBACK_PREFIX = "saferbot:"  # modal callback ids: saferbot:<form name>


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_TOKEN = re.compile(r"<([^<>\n]*)>")


def unformat(text: str, name_of: Callable[[str], str | None] = lambda user: None) -> str:
    """Slack's message markup -> the plain text the person typed (or close to it).

    Slack sends `&`, `<`, `>` escaped and turns mentions and links into <...> tokens:
    <@U123> -> @Name, <#C123|general> -> #general, <!here> -> @here, <http://x|x> -> x.
    """
    def token(m: re.Match[str]) -> str:
        target, _, label = m.group(1).partition("|")
        if target.startswith("@"):
            return "@" + (label or name_of(target[1:]) or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return label or "@" + target[1:].split("^", 1)[0]
        return label or target

    text = _TOKEN.sub(token, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def plain(text: str, limit: int) -> dict[str, Any]:
    """A plain_text object (Slack never parses mentions in these); never empty."""
    text = text.strip() or " "
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…", "emoji": False}


def _chunks(text: str, size: int) -> list[str]:
    """Split on line breaks where possible so no chunk is longer than `size`."""
    out: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > size:
            if current:
                out.append(current)
                current = ""
            out.append(line[:size])
            line = line[size:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > size:
            out.append(current)
            current = line
        else:
            current = candidate
    if current:
        out.append(current)
    return out


def sections(text: str) -> list[dict[str, Any]]:
    escaped = escape(text)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk, "verbatim": True}}
            for chunk in _chunks(escaped, SECTION_MAX) if chunk.strip()]


def button_element(b: Button, index: int, primary: bool = False) -> dict[str, Any]:
    el: dict[str, Any] = {"type": "button", "text": plain(b.label, 75),
                          "action_id": f"{index}:{b.action}"[:255], "value": b.data[:2000]}
    if primary:
        el["style"] = "primary"
    return el


def message(text: str, buttons: tuple[Button, ...] | list[Button] = (), *, urgent: bool = False
            ) -> tuple[str, list[dict[str, Any]]]:
    """(notification text, blocks) for chat.postMessage / chat.update."""
    blocks = sections(text)
    elements = [button_element(b, i, primary=urgent and i == 0) for i, b in enumerate(buttons)]
    for start in range(0, len(elements), BUTTONS_PER_BLOCK):
        blocks.append({"type": "actions", "block_id": f"buttons{start}", "elements": elements[start:start + 25]})
    fallback = escape(text)
    if len(fallback) > TEXT_MAX:
        fallback = fallback[: TEXT_MAX - 1] + "…"
    return fallback or " ", blocks[:50]


def modal(form: Form, arg: str, channel: str) -> dict[str, Any]:
    """A modal rendered from the one form definition; block ids are the field names."""
    blocks: list[dict[str, Any]] = []
    for f in form.fields:
        if f.kind == "choice":
            element: dict[str, Any] = {"type": "static_select", "placeholder": plain("Choose…", 150),
                                       "options": [_option(c, c) for c in f.choices[:100]]}
        elif f.kind == "yes_no":
            element = {"type": "radio_buttons", "options": [_option("Yes", "yes"), _option("No", "no")]}
        elif f.kind == "datetime":
            element = {"type": "plain_text_input",
                       "placeholder": plain("e.g. 14:30 (today), 2026-11-25 14:30, or now", 150)}
        else:
            element = {"type": "plain_text_input", "multiline": f.kind == "long_text", "max_length": 3000}
        element["action_id"] = "value"
        block: dict[str, Any] = {"type": "input", "block_id": f.name, "label": plain(f.label, 2000),
                                 "element": element, "optional": not f.required}
        if f.help:
            block["hint"] = plain(f.help, 2000)
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": f"{CALLBACK_PREFIX}{form.name}",
        "title": plain(form.title, 24),
        "submit": plain(form.submit_label, 24),
        "close": plain("Cancel", 24),
        "private_metadata": json.dumps({"arg": arg, "channel": channel})[:3000],
        "blocks": blocks[:100],
    }


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": plain(label, 75), "value": value[:150]}


def modal_values(form: Form, state: dict[str, Any]) -> dict[str, str]:
    """What was entered in a submitted modal, by field name, as plain strings."""
    values: dict[str, str] = {}
    for f in form.fields:
        entry = (state.get(f.name) or {}).get("value") or {}
        selected = entry.get("selected_option") or {}
        values[f.name] = str(entry.get("value") or selected.get("value") or "")
    return values


def home(title: str, lines: list[str], footer: str) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "header", "text": plain(title, 150)}]
    blocks += sections("\n".join(lines)) if lines else sections("Nothing live for you right now.")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(footer), "verbatim": True}]})
    return {"type": "home", "blocks": blocks[:100]}
