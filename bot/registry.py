"""Where capabilities register what they answer to, and the ONE ordered wiring of readers.

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

The entry point (handlers/__init__.py) calls `wire(...)` with the readers in order. A
reader is `fn(tx, person, msg) -> bool` (True when it took the message); it declares the
whole-message phrases it claims with `@reads(...)`, so a test can prove that no two
capabilities claim one phrase at one priority.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from .permissions import allowed
from .words import key

if TYPE_CHECKING:
    from .model import Person

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


COMMANDS: dict[str, Command] = {}  # command key (bot.words.key) -> command, aliases included
BUTTONS: dict[str, tuple[Handler, str]] = {}  # action -> (fn, permission)
WAKEUPS: dict[str, Handler] = {}  # wake-up kind -> fn(tx, ref)
FORMS: dict[str, Handler] = {}  # submitted form name -> fn(tx, person, msg)
READERS: list[Reader] = []  # set by wire(): SAFETY then ANSWER readers, in the order they are asked
CONVERSATIONS: list[Handler] = []  # functions marked @conversation: wire() insists each one is wired
STRANGERS: list[Handler] = []  # fn(tx, msg) -> None: a message from an account not on the roster
PUBLIC: dict[str, Handler] = {}  # commands open to people not yet registered (e.g. /start CODE)
HOME: list[Handler] = []  # fn(tx, person) -> list[str]: lines for a person's overview (Slack App Home)
STARTUP_HOOKS: list[Handler] = []  # async fn(engine), run once the engine has started (e.g. daily jobs)
DRILL_CHECKS: list[Handler] = []  # fn(tx, branch) -> bool: is this branch in drill mode (handlers/drill.py)
PLATFORM_VALUES: list[Handler] = []  # fn(conn, key, value, now): the capability that keeps values a platform reports


def command(*names: str, permission: str, help: str, usage: str = "",
            urgent: bool = False) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            k = key(name)
            prev = COMMANDS.get(k)
            if prev is not None and prev.owner != fn.__module__:
                raise ValueError(f"command word {name!r} is claimed by both {prev.owner} and {fn.__module__}")
            COMMANDS[k] = Command(names[0], fn, permission, help, usage, urgent, fn.__module__)
        return fn

    return register


def button(action: str, permission: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        BUTTONS[action] = (fn, permission)
        return fn

    return register


def wakeup(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        WAKEUPS[kind] = fn
        return fn

    return register


def form(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        FORMS[name] = fn
        return fn

    return register


def reads(*, phrases: Iterable[str] = (), in_channels: bool = False) -> Callable[[Handler], Handler]:
    """Declare what a reader claims: whole-message phrases (normalised) and whether channels count."""

    def mark(fn: Handler) -> Handler:
        fn.phrases = frozenset(phrases)  # type: ignore[attr-defined]
        fn.in_channels = in_channels  # type: ignore[attr-defined]
        return fn

    return mark


def conversation(fn: Handler) -> Handler:
    """Mark a reader of answers to an open conversation; the wiring must place it."""
    CONVERSATIONS.append(fn)
    return fn


def wire(*entries: tuple[Group, Handler]) -> None:
    """Set the readers, in order. Groups must not go backwards; every @conversation must be placed."""
    readers: list[Reader] = []
    for group, fn in entries:
        if group not in (Group.SAFETY, Group.ANSWER):
            raise ValueError("only SAFETY and ANSWER readers are wired; commands and help follow them")
        if readers and group < readers[-1].group:
            raise ValueError(f"{fn.__module__}.{fn.__name__}: {group.name} after {readers[-1].group.name}")
        readers.append(Reader(group, fn, fn.__module__, getattr(fn, "phrases", frozenset()),
                              getattr(fn, "in_channels", False)))
    missing = [f"{c.__module__}.{c.__name__}" for c in CONVERSATIONS if c not in [r.fn for r in readers]]
    if missing:
        raise ValueError(f"conversations not placed in the wiring: {', '.join(missing)}")
    clashes = phrase_clashes(readers)
    if clashes:
        raise ValueError("one phrase, two capabilities at one priority: " + "; ".join(
            f"{group.name} {phrase!r}: {', '.join(sorted(owners))}" for (group, phrase), owners in clashes.items()))
    READERS[:] = readers


def phrase_clashes(readers: Iterable[Reader]) -> dict[tuple[Group, str], set[str]]:
    """(group, phrase) -> owners, where more than one capability claims a phrase at one priority."""
    owners: dict[tuple[Group, str], set[str]] = {}
    for r in readers:
        for phrase in r.phrases:
            owners.setdefault((r.group, phrase), set()).add(r.owner)
    return {k: v for k, v in owners.items() if len(v) > 1}


def commands_for(person: Person) -> list[tuple[str, str]]:
    """(command, usage) pairs the person may use: help, and Telegram's command menu."""
    seen: dict[str, str] = {}
    for cmd in COMMANDS.values():
        if cmd.name not in seen and allowed(person, cmd.permission) and cmd.help:
            seen[cmd.name] = cmd.usage or cmd.name
    return sorted(seen.items())


def public(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        PUBLIC[name] = fn
        return fn

    return register


def stranger(fn: Handler) -> Handler:
    STRANGERS.append(fn)
    return fn


def home(fn: Handler) -> Handler:
    HOME.append(fn)
    return fn


def drill_check(fn: Handler) -> Handler:
    """The capability that knows whether a branch is in drill mode (alerts raised there are exercises)."""
    DRILL_CHECKS.append(fn)
    return fn


def platform_values(fn: Handler) -> Handler:
    """The writer for values a transport learns (the Telegram bot's username): transports call
    `engine.remember(key, value)` and never touch a capability's table."""
    PLATFORM_VALUES.append(fn)
    return fn
