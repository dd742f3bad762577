"""Where handlers register what they answer to.

Handlers are plain synchronous functions `fn(tx, person, msg, args)` that run inside
one database transaction; registering them here keeps the router free of business
rules and lets each capability live in its own module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[..., Any]


@dataclass(frozen=True)
class Command:
    name: str
    fn: Handler
    permission: str
    help: str
    usage: str = ""


COMMANDS: dict[str, Command] = {}  # word -> command, aliases included
BUTTONS: dict[str, tuple[Handler, str]] = {}  # action -> (fn, permission)
WAKEUPS: dict[str, Handler] = {}  # wake-up kind -> fn(tx, ref)
FORMS: dict[str, Handler] = {}  # submitted form name -> fn(tx, person, msg)
CONVERSATIONS: list[Handler] = []  # fn(tx, person, msg) -> bool (True when it took the message)
# like CONVERSATIONS but asked before command words (after codewords): a form waiting for free text,
# so "on the stairs" or "evacuate, he shouted" is an answer, not the 'on' or 'evacuate' command
FIRST_CONVERSATIONS: list[Handler] = []
PUBLIC: dict[str, Handler] = {}  # commands open to people not yet registered (e.g. /start CODE)
HOME: list[Handler] = []  # fn(tx, person) -> list[str]: lines for a person's overview (Slack App Home)
STARTUP_HOOKS: list[Handler] = []  # async fn(engine), run once the engine has started (e.g. daily jobs)


def command(*names: str, permission: str, help: str, usage: str = "") -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = Command(names[0], fn, permission, help, usage)
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


def conversation(fn: Handler) -> Handler:
    CONVERSATIONS.append(fn)
    return fn


def conversation_first(fn: Handler) -> Handler:
    FIRST_CONVERSATIONS.append(fn)
    return fn


def public(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        PUBLIC[name] = fn
        return fn

    return register


def home(fn: Handler) -> Handler:
    HOME.append(fn)
    return fn
