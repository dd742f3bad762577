"""The App: one composition of capabilities, built by an entry point and handed to the Engine.

Like python-telegram-bot's `Application` and GoAlert's ordered module list: nothing is
registered by importing a module. A capability marks its functions (`@command`, `@button`,
`@wakeup`, ... in bot/registry.py); the entry point (bot/compose.py) builds an App, adds the
modules in a fixed order, names its ports and wires the readers. Two Apps in one process
share nothing.

Ports (who the core asks, by name):
  startup            async fn(engine), run in this order once the engine has started
  on_alert_resolved  fn(tx, alert), after an alert is resolved
  drill_check        fn(tx, branch) -> bool, is a branch in drill mode
  home_sections      fn(tx, person) -> lines, a person's overview, in display order
  codeword_actions   action -> fn(tx, person, msg, codeword), a codeword whose action is not an alert
  on_incident_serious fn(tx, incident), a completed form that is serious (welfare starts its checklist)
  platform_values    fn(conn, key, value, now), keeps what a platform reports
  forms              name -> Form, the forms a transport can show (form_buttons: button -> form)
  http_routes        fn(engine) -> [aiohttp RouteDef], served by the active instance's HTTP server
                     (the one on SAFERBOT_HEALTH_PORT that answers /healthz)
  standby_routes     fn(settings, active) -> [aiohttp RouteDef], served there by a standby (relay or "not here");
                     active() says which instance is active, blocking, for signed-in readers only
  health_checks      fn(engine) -> [problem text], joined into /healthz and the board's health panel (none yet:
                     a silent panic button is not a fault of the bot, so it stays out of /healthz)
  weekly_lines       fn(tx) -> [line]: what needs the admins this week, in their Monday note (handlers/weekly.py)
  data_owners        bot.personal_data.Owner: each table's personal data and the three acts on it
  on_tier_notified   fn(tx, alert, tier, repeat, people), after a ladder tier notified its people (the phone rung)
  alert_kinds        kind -> words for a count of such alerts ("backup request(s)"), each capability's
                     ALERT_KINDS: the offline notice says what fell due (bot/health.py)
  status_lines       fn(conn) -> [(label, text)]: a capability's counts in `saferbot status`, read only
  duty               bot.directory.Duty: what the directory asks of duty's tables, one query a question:
                     covers(conn, branch, at), shifts(conn, since), roster_edits(conn) (the roster's) and
                     retired(conn) (privacy's); the engine and the CLI verbs build their Directory with it
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .directory import NO_DUTY, Duty
from .permissions import allowed
from .registry import MARKS, Command, Group, Handler, Reader, phrase_clashes
from .words import key

if TYPE_CHECKING:
    from .forms import Form
    from .model import Person
    from .personal_data import Owner


@dataclass
class App:
    commands: dict[str, Command] = field(default_factory=dict)  # command key -> command, aliases included
    buttons: dict[str, tuple[Handler, str]] = field(default_factory=dict)  # action -> (fn, permission)
    wakeups: dict[str, Handler] = field(default_factory=dict)  # wake-up kind -> fn(tx, ref)
    submits: dict[str, Handler] = field(default_factory=dict)  # submitted form name -> fn(tx, person, msg)
    readers: list[Reader] = field(default_factory=list)  # set by wire(): SAFETY then ANSWER readers, in order
    conversations: list[Handler] = field(default_factory=list)  # @conversation: wire() insists each is placed
    strangers: list[Handler] = field(default_factory=list)  # fn(tx, msg): a message from an unknown account
    public: dict[str, Handler] = field(default_factory=dict)  # commands open to people not yet registered
    home_sections: list[Handler] = field(default_factory=list)  # fn(tx, person) -> lines, display order
    startup: list[Handler] = field(default_factory=list)  # async fn(engine), in order (directory first)
    drill_check: list[Handler] = field(default_factory=list)  # fn(tx, branch) -> bool
    on_alert_resolved: list[Handler] = field(default_factory=list)  # fn(tx, alert)
    codeword_actions: dict[str, Handler] = field(default_factory=dict)  # action -> fn(tx, person, msg, cw)
    on_incident_serious: list[Handler] = field(default_factory=list)  # fn(tx, incident row): a form marked serious
    platform_values: list[Handler] = field(default_factory=list)  # fn(conn, key, value, now)
    forms: dict[str, Form] = field(default_factory=dict)  # form name -> definition
    form_buttons: dict[str, str] = field(default_factory=dict)  # button action -> form name (Slack opens it)
    http_routes: list[Handler] = field(default_factory=list)  # fn(engine) -> routes on the active HTTP server
    standby_routes: list[Handler] = field(default_factory=list)  # fn(settings, active) -> routes on a standby's server
    health_checks: list[Handler] = field(default_factory=list)  # fn(engine) -> [problem], for /healthz and the board
    weekly_lines: list[Handler] = field(default_factory=list)  # fn(tx) -> [line] for the admins' Monday note
    data_owners: list[Owner] = field(default_factory=list)  # personal data by table (bot/personal_data.py)
    on_tier_notified: list[Handler] = field(default_factory=list)  # fn(tx, alert, tier, repeat, people)
    alert_kinds: dict[str, str] = field(default_factory=dict)  # alert kind -> what a count of them is called
    status_lines: list[Handler] = field(default_factory=list)  # fn(conn) -> [(label, text)] for `saferbot status`
    duty: Duty = NO_DUTY  # covers, shift statements, roster edits, retired keys: what the directory asks

    # --- composition -------------------------------------------------------------------------
    def add(self, *modules: ModuleType) -> App:
        """Take the marked functions of each module (defined there), in source order."""
        for module in modules:
            seen: set[int] = set()
            for obj in list(vars(module).values()):
                if not callable(obj) or getattr(obj, "__module__", None) != module.__name__ or id(obj) in seen:
                    continue
                seen.add(id(obj))
                self.take(obj)
        return self

    def take(self, fn: Handler) -> Handler:
        """Take one function's marks, as its decorators applied them (bottom-up)."""
        for mark, args in getattr(fn, MARKS, ()):
            self._take(mark, args, fn)
        return fn

    def _take(self, mark: str, args: dict[str, Any], fn: Handler) -> None:
        if "via" in args:  # marked on fn, answered by a wrapper of it (handlers/lone_working.py)
            args = dict(args)
            fn = args.pop("via")
        if mark == "command":
            self.add_command(fn, **args)
        elif mark == "button":
            self.buttons[args["action"]] = (fn, args["permission"])
        elif mark == "wakeup":
            self.wakeups[args["kind"]] = fn
        elif mark == "form":
            self.submits[args["name"]] = fn
        elif mark == "public":
            self.public[args["name"]] = fn
        elif mark == "codeword_action":
            self.codeword_actions[args["action"]] = fn
        elif mark in ("conversation", "stranger", "home", "drill_check", "platform_values"):
            {"conversation": self.conversations, "stranger": self.strangers, "home": self.home_sections,
             "drill_check": self.drill_check, "platform_values": self.platform_values}[mark].append(fn)
        else:
            raise ValueError(f"unknown mark {mark!r} on {fn.__module__}.{fn.__name__}")

    def add_command(self, fn: Handler, *, names: tuple[str, ...], permission: str, help: str, usage: str = "",
                    urgent: bool = False) -> None:
        for name in names:
            k = key(name)
            prev = self.commands.get(k)
            if prev is not None and prev.owner != fn.__module__:
                raise ValueError(f"command word {name!r} is claimed by both {prev.owner} and {fn.__module__}")
            self.commands[k] = Command(names[0], fn, permission, help, usage, urgent, fn.__module__)

    def add_form(self, form: Form, *, button: str = "") -> None:
        self.forms[form.name] = form
        if button:
            self.form_buttons[button] = form.name

    def wire(self, *entries: tuple[Group, Handler]) -> App:
        """Set the readers, in order. Groups must not go backwards; every @conversation must be placed."""
        readers: list[Reader] = []
        for group, fn in entries:
            if group not in (Group.SAFETY, Group.ANSWER):
                raise ValueError("only SAFETY and ANSWER readers are wired; commands and help follow them")
            if readers and group < readers[-1].group:
                raise ValueError(f"{fn.__module__}.{fn.__name__}: {group.name} after {readers[-1].group.name}")
            readers.append(Reader(group, fn, fn.__module__, getattr(fn, "phrases", frozenset()),
                                  getattr(fn, "in_channels", False)))
        missing = [f"{c.__module__}.{c.__name__}" for c in self.conversations if c not in [r.fn for r in readers]]
        if missing:
            raise ValueError(f"conversations not placed in the wiring: {', '.join(missing)}")
        clashes = phrase_clashes(readers)
        if clashes:
            raise ValueError("one phrase, two capabilities at one priority: " + "; ".join(
                f"{group.name} {phrase!r}: {', '.join(sorted(owners))}" for (group, phrase), owners in clashes.items()))
        self.readers[:] = readers
        return self

    # --- questions ---------------------------------------------------------------------------
    def commands_for(self, person: Person) -> list[tuple[str, str]]:
        """(command, usage) pairs the person may use: help, and Telegram's command menu."""
        return commands_for(self.commands.values(), person)


def commands_for(commands: Iterable[Command], person: Person) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for cmd in commands:
        if cmd.name not in seen and allowed(person, cmd.permission) and cmd.help:
            seen[cmd.name] = cmd.usage or cmd.name
    return sorted(seen.items())
