"""The console transport: the embedded default, no accounts or tokens needed.

You type as any rostered person (`@alice Is Mr Brown in today?`) and see, person by
person, what each phone would receive. Each phone numbers its own buttons from 1, and a
number never changes and never means another button on that phone (`[1] Acknowledge`):
`@bob 1` presses it, and so does its label in brackets, `@bob [acknowledge]` (the newest
message of bob's that has it). Anything else is typed text, exactly as on a phone: typing `finish` never presses
an old Finish button.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import threading
import time
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
Press a button:    @bob 1   or   @bob [acknowledge]   (the number shown next to it on Bob's phone)
What can they do:  @name help   shows what that person can do (their role decides)
Other:             people | help | quit   (the console also ends when its input ends)"""


class ConsoleTransport(Transport):
    platform = "console"

    def __init__(self, out: TextIO | None = None, read_stdin: bool = True):
        self.out = out or sys.stdout
        self.read_stdin = read_stdin
        self.engine: Engine | None = None
        self.buttons: dict[str, list[tuple[str, tuple[Button, ...]]]] = {}  # chat -> [(message, buttons)]
        self._numbers: dict[tuple[str, str, str, str], int] = {}  # (chat, message, action, arg) -> number
        self._pressable: dict[tuple[str, int], Button] = {}  # (chat, number) -> the button it always means
        self._button_ids: dict[str, itertools.count] = {}  # chat -> its own numbers, from 1 on each phone
        self._ids = itertools.count(1)
        self._events = itertools.count(1)
        self._run = f"{time.time_ns():x}"  # event ids stay unique across restarts (the store dedupes by id)
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
            try:
                await self.handle_line(line)
            except Exception as e:  # e.g. NotStored: the engine has already answered without the store
                log.error("console: that line was not saved (%s)", e)
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
        event = f"c{self._run}-{next(self._events)}"
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
        """A press: the stable number shown next to a button, or its label in [brackets]."""
        if text.isascii() and text.isdigit():
            return self._pressable.get((who, int(text)))
        if not (text.startswith("[") and text.endswith("]")):
            return None  # typed text, as on a phone
        label = text[1:-1].strip().lower().rstrip("?")
        for _, buttons in reversed(self.buttons.get(who, [])):
            for b in buttons:
                if b.label.lower().rstrip("?") == label:
                    return b
        return None

    def _number(self, chat: str, ref: str, b: Button) -> int:
        """The same button on the same message keeps its number when the message is edited."""
        k = (chat, ref, b.action, b.arg)
        if k not in self._numbers:
            self._numbers[k] = next(self._button_ids.setdefault(chat, itertools.count(1)))
            self._pressable[(chat, self._numbers[k])] = b
        return self._numbers[k]

    async def deliver(self, d: Delivery) -> str | None:
        name = d.chat_id
        if self.engine and (p := self.engine.directory.person(d.chat_id)):
            name = p.name
        ref = d.message_ref if d.kind == "edit" else str(next(self._ids))
        head = f"--> {name} [message {ref}]" if d.kind == "send" else f"--> {name} [message {ref} updated]"
        body = "\n".join("    " + line for line in d.text.splitlines())
        self.print(f"{head}\n{body}")
        shown = [m for m in self.buttons.get(d.chat_id, []) if m[0] != ref]
        if d.buttons:
            self.print("    " + "  ".join(f"[{self._number(d.chat_id, ref or '', b)}] {b.label}" for b in d.buttons))
            shown.append((ref or "", d.buttons))
        self.buttons[d.chat_id] = shown[-20:]
        if d.attachment:
            self.print(f"    (attached: {d.attachment})")
        return ref

    def address(self, person: Person) -> tuple[str, str] | None:
        return person.key, person.key
