"""The console transport: the embedded default, no accounts or tokens needed.

You type as any rostered person (`@alice Is Mr Brown in today?`) and see, person by
person, what each phone would receive. Buttons are numbered: `@bob 1` or
`@bob acknowledge` presses one on bob's newest message that has buttons.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import threading
from typing import TYPE_CHECKING, TextIO

from ..messages import Button, Delivery, Inbound
from ..model import Person
from .base import Transport

if TYPE_CHECKING:
    from ..engine import Engine

log = logging.getLogger("saferbot.console")

HELP = """This console stands in for everyone's phones. Start a line with @name to speak
as that person (any name on the roster, in any case; 'people' lists them). Below each
line you see, person by person, what each phone would receive.
Type as a person:  @alice Is Mr Brown in today?
Press a button:    @bob 1   or   @bob acknowledge
Other:             people | help | quit   (the console also ends when its input ends)"""


class ConsoleTransport(Transport):
    platform = "console"

    def __init__(self, out: TextIO | None = None, read_stdin: bool = True):
        self.out = out or sys.stdout
        self.read_stdin = read_stdin
        self.engine: Engine | None = None
        self.buttons: dict[str, tuple[str | None, tuple[Button, ...]]] = {}  # chat -> (message, buttons)
        self._ids = itertools.count(1)
        self._events = itertools.count(1)
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self.quit = asyncio.Event()  # set when the person at the terminal types quit

    async def start(self, engine: Engine) -> None:
        self.engine = engine
        if self.read_stdin:
            loop = asyncio.get_running_loop()
            threading.Thread(target=self._read, args=(loop,), daemon=True).start()
            self._task = asyncio.create_task(self._loop())
            self.print(HELP)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(self._lines.put_nowait, line)
        loop.call_soon_threadsafe(self._lines.put_nowait, None)

    async def _loop(self) -> None:
        while (line := await self._lines.get()) is not None:
            await self.handle_line(line)
            if self.engine:  # show what this line caused before reading the next (matters for piped input)
                await self.engine.settle(timeout=1.0)
        log.info("console: end of input, stopping")
        self.quit.set()  # end of input (piped text, Ctrl-D): nobody can type any more, so stop

    def print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def handle_line(self, line: str) -> None:
        """One typed line: `@person text`, a button press, or a console command."""
        assert self.engine is not None
        line = line.strip()
        if not line:
            return
        if line in ("quit", "exit"):
            self.quit.set()
            return
        if line == "help":
            self.print(HELP)
            return
        if line == "people":
            for p in self.engine.directory.people.values():
                self.print(f"  @{p.key:<10} {p.name} ({p.role.value}, {self.engine.directory.branch_name(p.branch)})")
            return
        if not line.startswith("@") or " " not in line:
            self.print("Start with @name, e.g. @alice Is Mr Brown in today?  (type 'people' for names)")
            return
        who, _, text = line[1:].partition(" ")
        who = self._key(who)
        text = text.strip()
        event = f"c{next(self._events)}"
        pressed = self._button(who, text)
        if pressed:
            msg = Inbound("console", event, who, who, action=pressed.action, arg=pressed.arg)
        else:
            msg = Inbound("console", event, who, who, text=text)
        await self.engine.receive(msg)

    def _key(self, typed: str) -> str:
        """The roster key for a typed name, whatever its case (@Alice is @alice)."""
        assert self.engine is not None
        people = self.engine.directory.people
        if typed in people:
            return typed
        return next((k for k in people if k.lower() == typed.lower()), typed.lower())

    def _button(self, who: str, text: str) -> Button | None:
        buttons = self.buttons.get(who, (None, ()))[1]
        if text.isdigit() and 1 <= int(text) <= len(buttons):
            return buttons[int(text) - 1]
        return next((b for b in buttons if b.label.lower().rstrip("?") == text.lower().rstrip("?")), None)

    async def deliver(self, d: Delivery) -> str | None:
        name = d.chat_id
        if self.engine and (p := self.engine.directory.person(d.chat_id)):
            name = p.name
        ref = d.message_ref if d.kind == "edit" else str(next(self._ids))
        head = f"--> {name} [message {ref}]" if d.kind == "send" else f"--> {name} [message {ref} updated]"
        body = "\n".join("    " + line for line in d.text.splitlines())
        self.print(f"{head}\n{body}")
        if d.buttons:
            self.print("    " + "  ".join(f"[{i}] {b.label}" for i, b in enumerate(d.buttons, 1)))
            self.buttons[d.chat_id] = (ref, d.buttons)
        elif d.kind == "edit" and self.buttons.get(d.chat_id, (None,))[0] == ref:
            self.buttons.pop(d.chat_id, None)
        if d.attachment:
            self.print(f"    (attached: {d.attachment})")
        return ref

    def address(self, person: Person) -> tuple[str, str] | None:
        return person.key, person.key
