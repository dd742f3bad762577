"""How capabilities mark what they answer to; the App (bot/app.py) takes the marks and wires the readers.

Handlers are plain synchronous functions `fn(tx, person, msg, args)` that run inside
one database transaction; registering them here keeps the router free of business
rules and lets each capability live in its own module.

Who reads a typed message first is decided in one place, by priority group (like
python-telegram-bot's handler groups), never by import order:

  SAFETY   codewords, duress, roll-call answers, "I'm safe", the words of a live lone
           session (check in, finish, extend, status), "I need help", stand down
  ANSWER   the answer to an open conversation or form
  COMMAND  a command word (`backup`, `on shift`, `lockdown central ...`)
  HELP     nothing took it: "did you mean ...?" or a one-line pointer to `help`

The entry point (bot/compose.py) calls `app.wire(...)` with the readers in order. A
reader is `fn(tx, person, msg) -> bool` (True when it took the message); it declares the
whole-message phrases it claims with `@reads(...)`, so a test can prove that no two
capabilities claim one phrase at one priority.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

Handler = Callable[..., Any]


class Group(IntEnum):
    SAFETY = 0
    ANSWER = 1
    COMMAND = 2
    HELP = 3


@dataclass(frozen=True)
class Command:
    name: str
    fn: Handler
    permission: str
    help: str
    usage: str = ""
    urgent: bool = False  # a safety command: it wins over the answer to an open form ("backup ...")
    owner: str = ""  # the module that registered it


@dataclass(frozen=True)
class Reader:
    group: Group
    fn: Handler  # fn(tx, person, msg) -> bool
    owner: str
    phrases: frozenset[str]  # whole messages (normalised) it claims
    in_channels: bool  # read in a group or channel too (codewords); else only private messages


MARKS = "_saferbot_marks"  # on a function: [(mark, args)], read by App.add (bot/app.py)


def _mark(mark: str, **args: Any) -> Callable[[Handler], Handler]:
    """Mark a function for the App; importing a module changes nothing anywhere else."""

    def apply(fn: Handler) -> Handler:
        marks = fn.__dict__.setdefault(MARKS, [])
        marks.append((mark, args))
        return fn

    return apply


def command(*names: str, permission: str, help: str, usage: str = "", urgent: bool = False,
            via: Handler | None = None) -> Callable[[Handler], Handler]:
    """A command word; `via`: the function that answers it, when it wraps the one marked."""
    extra = {"via": via} if via is not None else {}
    return _mark("command", names=names, permission=permission, help=help, usage=usage, urgent=urgent, **extra)


def button(action: str, permission: str) -> Callable[[Handler], Handler]:
    return _mark("button", action=action, permission=permission)


def wakeup(kind: str) -> Callable[[Handler], Handler]:
    return _mark("wakeup", kind=kind)


def form(name: str) -> Callable[[Handler], Handler]:
    """The handler of a submitted form."""
    return _mark("form", name=name)


def reads(*, phrases: Iterable[str] = (), in_channels: bool = False) -> Callable[[Handler], Handler]:
    """Declare what a reader claims: whole-message phrases (normalised) and whether channels count."""

    def mark(fn: Handler) -> Handler:
        fn.phrases = frozenset(phrases)  # type: ignore[attr-defined]
        fn.in_channels = in_channels  # type: ignore[attr-defined]
        return fn

    return mark


def conversation(fn: Handler) -> Handler:
    """Mark a reader of answers to an open conversation; the wiring must place it."""
    return _mark("conversation")(fn)


def phrase_clashes(readers: Iterable[Reader]) -> dict[tuple[Group, str], set[str]]:
    """(group, phrase) -> owners, where more than one capability claims a phrase at one priority."""
    owners: dict[tuple[Group, str], set[str]] = {}
    for r in readers:
        for phrase in r.phrases:
            owners.setdefault((r.group, phrase), set()).add(r.owner)
    return {k: v for k, v in owners.items() if len(v) > 1}


def public(name: str) -> Callable[[Handler], Handler]:
    return _mark("public", name=name)


def stranger(fn: Handler) -> Handler:
    return _mark("stranger")(fn)


def home(fn: Handler) -> Handler:
    """A section of a person's overview; the App orders them."""
    return _mark("home")(fn)


def drill_check(fn: Handler) -> Handler:
    """The capability that knows whether a branch is in drill mode (alerts raised there are exercises)."""
    return _mark("drill_check")(fn)


def platform_values(fn: Handler) -> Handler:
    """The writer for values a transport learns (the Telegram bot's username): transports call
    `engine.remember(key, value)` and never touch a capability's table."""
    return _mark("platform_values")(fn)


def codeword_action(action: str) -> Callable[[Handler], Handler]:
    """What a codeword whose book action is `action` does instead of raising an alert."""
    return _mark("codeword_action", action=action)
