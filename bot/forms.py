"""Form definitions: ONE definition per form, rendered by every transport.

Slack renders a Form as a modal; Telegram and the console walk through it one field
at a time (a platform-neutral conversation in handlers). Validation lives here so a
Slack modal and a step-by-step chat reject the same answers with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
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
