"""Load codewords.yaml and the service file into validated models.

Every problem is reported as file, line, what is wrong and how to fix it, so an
operator can mend a file at 8 a.m. without reading Python tracebacks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import ValidationError

from .matching import normalise
from .model import Book, Role, Service

FORBIDDEN_IN_REPLIES = re.compile(r"\b(alert|alarm|police|emergency|panic)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what}\n    fix: {self.fix}"


class ConfigError(Exception):
    """Raised with every problem found, so one run shows them all."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


Path_ = tuple[str | int, ...]

MAX_BYTES = 1_000_000  # a service file for a large library service is a few tens of KB
MAX_DEPTH = 40  # sections nest four or five deep; deeper is a mistake or an attack
MAX_ALIASES = 200  # anchors (&name) and aliases (*name) are allowed, but not thousands
MAX_NODES = 100_000  # after aliases are expanded: a "billion laughs" file stops here
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _TooBig(Exception):
    """A file that would take too long or too much memory to read (bounded, so it never hangs us)."""

    def __init__(self, line: int, what: str):
        self.line, self.what = line, what


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses deep nesting and many aliases before any expansion happens."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        line = self.peek_event().start_mark.line + 1
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _TooBig(line, f"the file uses more than {MAX_ALIASES} aliases (*name)")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooBig(line, f"the file nests more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Bad(Exception):
    def __init__(self, line: int, what: str, fix: str):
        self.line, self.what, self.fix = line, what, fix


def _scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.MarkedYAMLError as e:
        raise _Bad(node.start_mark.line + 1, f"'{node.value}' cannot be read: {e.problem}",
                   "write plain text, numbers, dates or times; remove any !tag") from None
    except (ValueError, TypeError, OverflowError) as e:
        raise _Bad(node.start_mark.line + 1, f"'{node.value}' is not a real value ({e})",
                   "check the date or number (e.g. there is no 30 February)") from None


def _to_python(node: yaml.Node, path: Path_, lines: dict[Path_, int], loader: yaml.SafeLoader,
               budget: list[int]) -> Any:
    """Turn a composed YAML node into plain data, remembering each path's line; bounded in size and depth."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig(node.start_mark.line + 1, f"the file expands to more than {MAX_NODES} values (aliases?)")
    if len(path) > MAX_DEPTH:
        raise _TooBig(node.start_mark.line + 1, "the file nests too deeply (an alias that contains itself?)")
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Bad(key_node.start_mark.line + 1, "a key here is a list or a mapping",
                           "write a plain word before the colon")
            key = _scalar(loader, key_node)
            key = str(key) if key is not None else ""
            if key in out:
                raise _Dup(key, key_node.start_mark.line + 1)
            out[key] = _to_python(value_node, (*path, key), lines, loader, budget)
            lines.setdefault((*path, key, "__key__"), key_node.start_mark.line + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, (*path, i), lines, loader, budget) for i, v in enumerate(node.value)]
    return _scalar(loader, node)


class _Dup(Exception):
    def __init__(self, key: str, line: int):
        self.key, self.line = key, line


def _text(path: Path) -> str:
    """The file as UTF-8 text, or a ConfigError naming the line and the fix."""
    name = str(path)
    if path.is_dir():
        raise ConfigError([Problem(name, 0, "this is a folder, not a file",
                                   "give the path of the YAML file itself (e.g. config/service.yaml)")])
    if not path.exists():
        raise ConfigError([Problem(name, 0, "the file does not exist", f"create {name} (see the example in docs/admin.md)")])
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError([Problem(name, 0, f"the file is larger than {MAX_BYTES // 1000} KB",
                                       "this is not a saferbot configuration file; check the path")])
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError([Problem(name, 0, f"the file cannot be read: {e.strerror}",
                                   "check the path and that the bot's user may read it")]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError([Problem(name, line, f"the file is not UTF-8 text (byte 0x{data[e.start]:02x} on this line)",
                                   "save it as UTF-8 (Notepad: Save As, Encoding: UTF-8), then check the accents")]
                          ) from None
    m = CONTROL.search(text)
    if m:
        line = text[: m.start()].count("\n") + 1
        raise ConfigError([Problem(name, line, f"an invisible control character (code {ord(m.group())}) is on this line",
                                   "retype the line, or delete the character; only text, spaces and line ends")])
    return text


def _read(path: Path) -> tuple[Any, dict[Path_, int]]:
    name = str(path)
    text = _text(path)
    loader = _BoundedLoader(text)
    lines: dict[Path_, int] = {}
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError([Problem(name, 1, "the file is empty", "start from the example in docs/admin.md")])
        data = _to_python(node, (), lines, loader, [MAX_NODES])
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        raise ConfigError(
            [Problem(name, line, f"this is not valid YAML: {e.problem}",
                     "check indentation (spaces, not tabs), colons after keys and matching quotes")]
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError([Problem(name, 1, f"this is not valid YAML: {e}", "start from the example in docs/admin.md")]
                          ) from None
    except _TooBig as t:
        raise ConfigError([Problem(name, t.line, t.what, "write the values out; keep sections a few levels deep")]
                          ) from None
    except _Bad as b:
        raise ConfigError([Problem(name, b.line, b.what, b.fix)]) from None
    except _Dup as d:
        raise ConfigError([Problem(name, d.line, f"'{d.key}' appears twice", "keep one of the two entries")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError([Problem(name, 1, "the file must be a mapping of sections", "start from the example in docs/admin.md")])
    return data, lines


def _line(lines: dict[Path_, int], loc: Path_) -> int:
    loc = tuple(loc)
    while loc:
        for key in ((*loc, "__key__"), loc):  # a mapping's own key line reads better than its first child
            if key in lines:
                return lines[key]
        loc = loc[:-1]
    return 1


_FIXES = {
    "missing": "add the missing key",
    "extra_forbidden": "remove it, or check its spelling",
    "literal_error": "use one of the allowed values",
    "enum": "use one of the allowed values",
    "int_parsing": "write a whole number",
    "time_parsing": "write a time as HH:MM, in quotes",
    "date_from_datetime_parsing": "write a date as YYYY-MM-DD",
    "string_type": "write text here",
}


def _validation_problems(name: str, err: ValidationError, lines: dict[Path_, int]) -> list[Problem]:
    problems = []
    for e in err.errors():
        loc = tuple(e["loc"])
        where = ".".join(str(p) for p in loc)
        msg = e["msg"].removeprefix("Value error, ")
        fix = _FIXES.get(e["type"], "correct the value")
        if e["type"] == "value_error":
            fix = "change it as the message says"
        if e.get("input", "") is None:
            msg = "nothing is written here"
            fix = "fill it in (see the example), or delete the empty key"
        problems.append(Problem(name, _line(lines, loc), f"{where}: {msg}", fix))
    return problems


def load_service(path: Path) -> Service:
    data, lines = _read(path)
    name = str(path)
    try:
        service = Service.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_validation_problems(name, e, lines)) from None
    problems = []
    try:
        ZoneInfo(service.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem(name, _line(lines, ("timezone",)), f"unknown time zone '{service.timezone}'",
                                "use a name such as Europe/London"))
    seen_ids: dict[tuple[str, object], str] = {}
    for key, p in service.people.items():
        if p.branch and p.branch not in service.branches:
            problems.append(Problem(name, _line(lines, ("people", key, "branch")),
                                    f"person '{key}' works at unknown branch '{p.branch}'",
                                    f"use one of: {', '.join(service.branches)}"))
        for platform in ("telegram", "slack"):
            ident = getattr(p, platform)
            if ident is None:
                continue
            other = seen_ids.get((platform, ident))
            if other:
                problems.append(Problem(name, _line(lines, ("people", key, platform)),
                                        f"{platform} id {ident} is given to both '{other}' and '{key}'",
                                        "each chat account belongs to one person; remove one"))
            seen_ids[(platform, ident)] = key
        for h, hours in enumerate(p.hours):
            if hours.start >= hours.end:
                problems.append(Problem(name, _line(lines, ("people", key, "hours", h)),
                                        f"person '{key}' has working hours ending before they start",
                                        "write from: before to: (split a night shift in two)"))
    for key, b in service.branches.items():
        for h, hours in enumerate(b.hours):
            if hours.start >= hours.end:
                problems.append(Problem(name, _line(lines, ("branches", key, "hours", h)),
                                        f"branch '{key}' has opening hours ending before they start",
                                        "write from: before to: (split a late opening in two)"))
    areas = {b.area for b in service.branches.values() if b.area}
    for section in ("rota", "overrides"):
        for i, entry in enumerate(getattr(service, section)):
            if bool(entry.branch) == bool(entry.area):
                problems.append(Problem(name, _line(lines, (section, i)),
                                        f"{section} entry {i + 1} needs either a branch or an area",
                                        "give it branch: <branch key> or area: <area name>, not both"))
            elif entry.area and entry.area not in areas:
                problems.append(Problem(name, _line(lines, (section, i, "area")),
                                        f"{section} entry {i + 1} names unknown area '{entry.area}'",
                                        f"use one of: {', '.join(sorted(areas)) or '(give branches an area:)'}"))
            elif entry.branch and entry.branch not in service.branches:
                problems.append(Problem(name, _line(lines, (section, i, "branch")),
                                        f"{section} entry {i + 1} names unknown branch '{entry.branch}'",
                                        f"use one of: {', '.join(service.branches)}"))
            person = service.people.get(entry.person)
            if person is None:
                problems.append(Problem(name, _line(lines, (section, i, "person")),
                                        f"{section} entry {i + 1} names unknown person '{entry.person}'",
                                        "add the person under people:, or correct the name"))
            elif not person.may(Role.duty_manager):
                problems.append(Problem(name, _line(lines, (section, i, "person")),
                                        f"'{entry.person}' is {person.role.value}, not a duty manager",
                                        "give them role: duty_manager (or admin), or rota someone else"))
    if problems:
        raise ConfigError(problems)
    return service


def load_book(path: Path, service: Service | None = None) -> Book:
    data, lines = _read(path)
    name = str(path)
    try:
        book = Book.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_validation_problems(name, e, lines)) from None
    problems = []
    phrases: dict[str, str] = {}
    for key, cw in book.codewords.items():
        if cw.ladder not in book.ladders:
            problems.append(Problem(name, _line(lines, ("codewords", key, "ladder")),
                                    f"codeword '{key}' uses unknown ladder '{cw.ladder}'",
                                    f"use one of: {', '.join(book.ladders) or '(define a ladder under ladders:)'}"))
        for field in ("cover_reply", "ack_reply"):
            m = FORBIDDEN_IN_REPLIES.search(getattr(cw, field))
            if m:
                problems.append(Problem(name, _line(lines, ("codewords", key, field)),
                                        f"the {field} of '{key}' says '{m.group(0)}', which would give the sender away",
                                        "write an innocent reply, like something a colleague would say aloud"))
        for i, phrase in enumerate(cw.phrases):
            norm = normalise(phrase)
            if len(norm.split()) < 2:
                problems.append(Problem(name, _line(lines, ("codewords", key, "phrases", i)),
                                        f"phrase '{phrase}' is too short to be safe from false alarms",
                                        "use a phrase of at least two words"))
            if norm in phrases and phrases[norm] != key:
                problems.append(Problem(name, _line(lines, ("codewords", key, "phrases", i)),
                                        f"phrase '{phrase}' is also used by codeword '{phrases[norm]}'",
                                        "give each phrase to one codeword"))
            phrases[norm] = key
    lw = book.lone_working
    if lw.ladder not in book.ladders:
        problems.append(Problem(name, _line(lines, ("lone_working", "ladder")),
                                f"lone_working uses unknown ladder '{lw.ladder}'",
                                f"use one of: {', '.join(book.ladders)}"))
    for lkey, ladder in book.ladders.items():
        for t_index, tier in enumerate(ladder.tiers):
            for j, target in enumerate(tier.notify):
                if service and target.startswith("person:") and target[7:] not in service.people:
                    problems.append(Problem(name, _line(lines, ("ladders", lkey, "tiers", t_index, "notify", j)),
                                            f"ladder '{lkey}' notifies unknown person '{target[7:]}'",
                                            "add them to the service file's people:, or correct the key"))
    if problems:
        raise ConfigError(problems)
    return book


def resolve_service_path(path: Path) -> Path:
    """The operator's service file, or the shipped example when there is none yet."""
    if path.exists():
        return path
    example = path.with_name("service.example.yaml")
    return example if example.exists() else path


def _unexpected(path: Path, e: Exception) -> Problem:
    return Problem(str(path), 1, f"the file could not be understood ({type(e).__name__}: {e})",
                   "compare it with the shipped example and correct the part that differs")


def load_all(codewords: Path, service_path: Path) -> tuple[Book, Service]:
    """Load both files, gathering every problem from both before raising."""
    problems: list[Problem] = []
    service = book = None
    try:
        service = load_service(resolve_service_path(service_path))
    except ConfigError as e:
        problems += e.problems
    except Exception as e:  # never a traceback for a file: report it like any other problem
        problems.append(_unexpected(resolve_service_path(service_path), e))
    try:
        book = load_book(codewords, service)
    except ConfigError as e:
        problems += e.problems
    except Exception as e:
        problems.append(_unexpected(codewords, e))
    if problems:
        raise ConfigError(problems)
    assert book is not None and service is not None
    return book, service
