"""Domain types shared by the engine and the handlers.

The service file and the codeword book are parsed into these pydantic models; the
models are frozen so a loaded book can be shared safely by the event loop and the
database thread.
"""

from __future__ import annotations

import re
from datetime import date, time
from enum import IntEnum, StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> int:
    """Seconds from '90s', '45m', '1h30m', '2d', '1w' or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 45m or 1h30m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return int(value)
    text = str(value).strip().lower().replace(" ", "")
    m = _DURATION.match(text)
    if not text or not m or not any(m.groups()):
        raise ValueError(f"'{value}' is not a duration; write it like 90s, 45m or 1h30m")
    w, d, h, mi, s = (int(g or 0) for g in m.groups())
    return (((w * 7 + d) * 24 + h) * 60 + mi) * 60 + s


Duration = Annotated[int, BeforeValidator(parse_duration)]


class Role(StrEnum):
    volunteer = "volunteer"
    staff = "staff"
    duty_manager = "duty_manager"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {r: i for i, r in enumerate(Role)}  # asked for every person on every alert: not a list each time


class Priority(IntEnum):
    """Outbox order: lower goes first."""

    alarm = 0
    reply = 1
    reminder = 2
    report = 3


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _keyed(data: object, *sections: str) -> object:
    """Give each entry of a keyed section its own key (people.alice -> Person(key='alice'))."""
    if isinstance(data, dict):
        data = dict(data)
        for section in sections:
            entries = data.get(section)
            if isinstance(entries, dict):
                data[section] = {k: ({**v, "key": v.get("key") or k} if isinstance(v, dict) else v)
                                 for k, v in entries.items()}
    return data


class Contact(Frozen):
    name: str
    phone: str
    note: str = ""


class Hours(Frozen):
    """A person's usual working hours: on these days between the times they count as on shift."""

    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = (
        "mon", "tue", "wed", "thu", "fri", "sat", "sun")
    start: time = Field(time(0, 0), alias="from")
    end: time = Field(time(23, 59, 59), alias="to")


class Branch(Frozen):
    key: str = ""
    name: str
    area: str = ""
    address: str = ""
    contacts: tuple[Contact, ...] = ()
    hours: tuple[Hours, ...] = ()  # opening hours (none: always open); a silent panic button counts only then


class Person(Frozen):
    key: str = ""
    name: str
    role: Role
    branch: str | None = None
    phone: str = ""
    telegram: int | None = None
    slack: str | None = None
    prefer: Literal["telegram", "slack"] = "telegram"
    hours: tuple[Hours, ...] = ()  # usual working hours: on shift then unless they say otherwise

    def may(self, minimum: Role) -> bool:
        return self.role.rank >= minimum.rank


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RotaEntry(Frozen):
    """A weekly pattern: `person` is duty manager for `branch` (or every branch of `area`) on `days`."""

    branch: str = ""
    area: str = ""  # instead of branch: every branch in the area with no rota entry of its own then
    person: str
    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = WEEKDAYS  # type: ignore[assignment]
    start: time = Field(time(0, 0), alias="from")
    end: time = Field(time(23, 59, 59), alias="to")


class RotaOverride(Frozen):
    """A dated exception to the weekly pattern (holiday cover, sickness)."""

    date: date
    branch: str = ""
    area: str = ""
    person: str
    start: time = Field(time(0, 0), alias="from")
    end: time = Field(time(23, 59, 59), alias="to")


class Service(Frozen):
    timezone: str = "Europe/London"
    branches: dict[str, Branch]
    people: dict[str, Person]
    rota: tuple[RotaEntry, ...] = ()
    overrides: tuple[RotaOverride, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: object) -> object:
        return _keyed(data, "branches", "people")


TARGET = re.compile(r"^(on-shift|duty-manager|role:(volunteer|staff|duty_manager|admin)|person:[\w.-]+)$")


class Tier(Frozen):
    notify: tuple[str, ...]
    wait: Duration = 120
    repeat: int | Literal["forever"] = 0
    sms: bool = False  # also text its people (verified numbers only; handlers/phone.py)
    call: bool = False  # also ring its people, "press 1 to acknowledge"

    @field_validator("notify")
    @classmethod
    def _targets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a tier must notify someone")
        for t in value:
            if not TARGET.match(t):
                raise ValueError(
                    f"'{t}' is not a target; use on-shift, duty-manager, role:<role> or person:<key>"
                )
        return value


class Ladder(Frozen):
    tiers: tuple[Tier, ...]
    fallback: tuple[str, ...] = ("role:admin",)

    @field_validator("tiers")
    @classmethod
    def _some(cls, value: tuple[Tier, ...]) -> tuple[Tier, ...]:
        if not value:
            raise ValueError("a ladder needs at least one tier")
        return value


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def urgent(self) -> bool:
        return self in (Severity.high, Severity.critical)


class Codeword(Frozen):
    key: str = ""
    phrases: tuple[str, ...]
    meaning: str
    severity: Severity = Severity.high
    ladder: str
    cover_reply: str
    ack_reply: str
    action: Literal["alert", "backup"] = "alert"
    in_channels: bool = False

    @field_validator("phrases")
    @classmethod
    def _phrases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a codeword needs at least one phrase")
        return value


class LoneWorking(Frozen):
    reminder_lead: Duration = 300
    grace: Duration = 300
    ladder: str = "lone"
    duress_words: tuple[str, ...] = ()
    presets: dict[str, Duration] = {}


class Book(Frozen):
    codewords: dict[str, Codeword]
    ladders: dict[str, Ladder]
    lone_working: LoneWorking = LoneWorking()

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: object) -> object:
        return _keyed(data, "codewords")
