"""Form definitions: ONE definition per form, rendered by every transport.

Slack renders a Form as a modal; Telegram and the console walk through it one field
at a time (a platform-neutral conversation in handlers). Validation lives here so a
Slack modal and a step-by-step chat reject the same answers with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

FieldKind = Literal["text", "long_text", "choice", "datetime", "yes_no"]


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = True
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class Form:
    name: str
    title: str
    fields: tuple[Field, ...]
    submit_label: str = "Submit"


FORMS: dict[str, Form] = {}  # form name -> definition
FORM_BUTTONS: dict[str, str] = {}  # button action -> form name: Slack opens the modal at once on a press


DATETIME_FORMATS = ("%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%d/%m/%y %H:%M")


def validate(form: Form, values: dict[str, str], now: datetime) -> tuple[dict[str, str], dict[str, str]]:
    """(clean values, errors by field name). `now` is local time; dates in the future are refused."""
    clean: dict[str, str] = {}
    errors: dict[str, str] = {}
    for f in form.fields:
        raw = (values.get(f.name) or "").strip()
        if not raw:
            if f.required:
                errors[f.name] = f"{f.label} is needed."
            continue
        error = check_field(f, raw, now)
        if error:
            errors[f.name] = error
        else:
            clean[f.name] = normalise_answer(f, raw)
    return clean, errors


def check_field(f: Field, raw: str, now: datetime) -> str | None:
    """The clear message for a bad answer, or None when it is fine."""
    if f.kind == "choice" and normalise_answer(f, raw) not in f.choices:
        return f"Please pick one of: {', '.join(f.choices)}."
    if f.kind == "yes_no" and raw.lower() not in ("yes", "no", "y", "n"):
        return "Please answer yes or no."
    if f.kind == "datetime":
        when = parse_datetime(raw, now)
        if when is None:
            return "Please give the date and time like 2026-11-25 14:30 (or 'now', or a time today like 14:30)."
        if when > now:
            return "That time is in the future; please give when it happened."
    return None


def parse_datetime(raw: str, now: datetime) -> datetime | None:
    text = raw.strip().lower()
    if text == "now":
        return now
    for fmt in DATETIME_FORMATS:
        try:
            return datetime.strptime(raw.strip(), fmt).replace(tzinfo=now.tzinfo)
        except ValueError:
            pass
    try:  # a time today
        t = datetime.strptime(text, "%H:%M")
        return now.replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)
    except ValueError:
        return None


def normalise_answer(f: Field, raw: str) -> str:
    if f.kind == "choice":
        by_lower = {c.lower(): c for c in f.choices}
        if raw.isdigit() and 1 <= int(raw) <= len(f.choices):
            return f.choices[int(raw) - 1]
        return by_lower.get(raw.lower(), raw)
    if f.kind == "yes_no":
        return "yes" if raw.lower() in ("yes", "y") else "no"
    return raw
