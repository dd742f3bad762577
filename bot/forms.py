"""Form definitions: ONE definition per form, rendered by every transport.

Slack renders a Form as a modal; Telegram and the console walk through it one field
at a time (a platform-neutral conversation in handlers). Validation lives here so a
Slack modal and a step-by-step chat reject the same answers with the same words.
"""

from __future__ import annotations

import re
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
    allow_long_numbers: bool = False  # e.g. a crime reference; elsewhere a long digit run is refused


@dataclass(frozen=True)
class Form:
    name: str
    title: str
    fields: tuple[Field, ...]
    submit_label: str = "Submit"


INCIDENT_CATEGORIES = ("verbal abuse", "threat", "physical assault", "damage", "theft",
                       "antisocial behaviour", "other")
AFFECTED = ("staff", "volunteer", "agency", "member of the public")

INCIDENT = Form(  # the App names it, with the button that opens it (bot/compose.py)
    name="incident",
    title="Incident report",
    submit_label="Submit report",
    fields=(
        Field("occurred_at", "Date and time of the incident", "datetime",
              help="For example 2026-11-25 14:30, 25/11/2026 14:30, a time today like 14:30, or 'now'."),
        Field("location", "Exact location in the branch",
              help="For example: enquiry desk, children's library, first-floor toilets."),
        Field("category", "Category", "choice", choices=INCIDENT_CATEGORIES),
        Field("affected", "Who was affected", "choice", choices=AFFECTED),
        Field("affected_names", "Names of staff or volunteers affected", required=False,
              help="Colleagues' names, comma separated. They will be offered welfare check-ins if it was serious."),
        Field("what_happened", "What happened", "long_text",
              help="In order, what was said and done. Facts, not opinions."),
        Field("person_description", "Description of the person responsible", "long_text",
              help="Age, build, clothing, anything distinctive. Their name only if you know it."),
        Field("triggers", "What happened before (triggers)", "long_text", required=False,
              help="What led up to it, if anything."),
        Field("words_used", "The words used, verbatim", "long_text", required=False,
              help="Write down exactly what was said, even if offensive."),
        Field("injuries", "Injuries", required=True, help="Write 'none', or describe any injury and to whom."),
        Field("first_aid", "First aid given", required=False, help="Who gave it and what was done."),
        Field("police_informed", "Were the police informed?", "yes_no"),
        Field("crime_ref", "Police crime reference", required=False, allow_long_numbers=True,
              help="If the police gave you one."),
        Field("evidence", "CCTV or other evidence", "long_text", required=False,
              help="Cameras that may have recorded it, photos, bodycam footage."),
        Field("witnesses", "Witnesses", "long_text", required=False,
              help="Names and how to contact them, if they agreed."),
        Field("actions_taken", "Actions taken", "long_text",
              help="What you and colleagues did, e.g. asked them to leave, called security."),
        Field("ban_recommended", "Do you recommend a ban?", "yes_no"),
        Field("welfare_support", "Would you like welfare support?", "yes_no",
              help="A manager will get in touch privately."),
    ),
)

# a long run of digits (spaces and dashes allowed) looks like a library card number
_LONG_NUMBER = re.compile(r"\+?\d(?:[ -]?\d){9,}")
CARD_NUMBER_MESSAGE = ("That looks like a library card number. Please do not record card numbers; "
                       "describe the person instead (a phone number starting 0 or +44 is fine).")


def looks_like_card_number(text: str) -> bool:
    for m in _LONG_NUMBER.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        phone = (digits.startswith("0") and len(digits) == 11) or (digits.startswith("+44") and len(digits) == 13)
        if not phone:
            return True
    return False


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
            clean[f.name] = normalise_answer(f, raw, now)
    return clean, errors


def check_field(f: Field, raw: str, now: datetime) -> str | None:
    """The clear message for a bad answer, or None when it is fine."""
    if len(raw) > 3000:
        return "That is too long for one answer (3000 characters at most); please shorten it."
    if f.kind in ("text", "long_text") and not f.allow_long_numbers and looks_like_card_number(raw):
        return CARD_NUMBER_MESSAGE
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


def normalise_answer(f: Field, raw: str, now: datetime | None = None) -> str:
    """The stored form of a valid answer; datetimes become 'YYYY-MM-DD HH:MM' when `now` is given."""
    raw = raw.strip()
    if f.kind == "datetime" and now is not None:
        when = parse_datetime(raw, now)
        return when.strftime("%Y-%m-%d %H:%M") if when else raw
    if f.kind == "choice":
        by_lower = {c.lower(): c for c in f.choices}
        if raw.isdigit() and 1 <= int(raw) <= len(f.choices):
            return f.choices[int(raw) - 1]
        return by_lower.get(raw.lower().rstrip("."), raw)
    if f.kind == "yes_no":
        return "yes" if raw.lower() in ("yes", "y") else "no"
    return raw
