"""Two `saferbot run` processes on one PostgreSQL schema, the fake Telegram, and kill -9 of the active one.

Shared by tests/test_failover.py (a few kills, a fast suite) and bench/failover.py (20 kills at the
default lease). `Cluster` starts processes and says which one holds the lease; `Scenario` keeps
live work going while the kills happen (codewords whose ladders climb unacknowledged, lone-working
sessions with short timers, a lockdown roll call); `Wire` is the fake Telegram that also keeps
each message's first text (an edit overwrites what the phone shows). `audit` reads the store and
the wire afterwards and lists every way the users were let down: a step notified twice or skipped,
a card lost, a card sent twice without being marked a repeat, a missed check-in not escalated.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import yaml

from bot.digest import RULE
from bot.store.outbox import REPEAT
from tests.failover_wire import Wire
from tests.test_intake_confirmed import Proc, until

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
TG = {"alice": 1001, "carol": 1002, "vic": 1003, "bob": 1004, "erin": 1005, "fran": 1006, "dana": 1007}
ON_SHIFT = ("alice", "carol", "vic", "erin")  # all day, every day: the on-shift tier and the roll call find them
STAFF = ("alice", "carol", "erin")
PHRASES = ("Is Mr Brown in today?", "Can someone bring the red folder", "Time for the stock check")
LOCKDOWN = "lockdown central intruder near the children's library"
ALERT = re.compile(r"\(alert #(\d+)\)")
STEP = re.compile(r"\((tier \d+(?:, repeat \d+)?)\)$")
STARTUP = 60.0  # seconds a process may take to start serving on a loaded machine (an outcome wait, not a limit)


@pytest.fixture
async def wire_fixture():
    """The fake Telegram every process of a test calls (a test module takes it as `wire = kit.wire_fixture`)."""
    fake = Wire()
    await fake.start()
    yield fake
    await fake.stop()


def short_book(tmp: Path, step: int) -> Path:
    """codewords.yaml with every ladder wait `step` s, a finite last tier, and 1 s lone-working timers."""
    book = yaml.safe_load((ROOT / "codewords.yaml").read_text())
    for ladder in book["ladders"].values():
        for tier in ladder["tiers"]:
            tier["wait"] = f"{step}s"
            tier.pop("repeat", None)
        ladder["tiers"][-1]["repeat"] = 1  # so every ladder ends (exhausted) and can be checked whole
    book["lone_working"].update({"reminder_lead": "1s", "grace": "1s"})
    path = tmp / "codewords.yaml"
    path.write_text(yaml.safe_dump(book))
    return path


def ladder_steps(snapshot: str) -> list[str]:
    """The labels a ladder's steps are notified under, in order: tier 1, tier 2, tier 2, repeat 1, ..."""
    out = []
    for n, tier in enumerate(json.loads(snapshot)["tiers"], start=1):
        repeat = tier.get("repeat", 0)
        out += [f"tier {n}"] + [f"tier {n}, repeat {r}" for r in range(1, int(repeat) + 1)]
    return out


class Cluster:
    """`saferbot run` processes sharing one PostgreSQL schema and one fake Telegram."""

    def __init__(self, tmp: Path, wire: Wire, url: str, *, ttl: float | None, step: int = 2, **env: str):
        self.tmp, self.wire, self.url = tmp, wire, url
        service = yaml.safe_load((ROOT / "config" / "service.example.yaml").read_text())
        for key, uid in TG.items():
            service["people"][key]["telegram"] = uid
            wire.user(uid, key.title())
            wire.chats[uid] = {"id": uid, "type": "private", "first_name": key.title()}
        for key in ON_SHIFT:
            service["people"][key]["hours"] = [{}]  # every day, all day
        (tmp / "service.yaml").write_text(yaml.safe_dump(service))
        base = {k: v for k, v in os.environ.items() if not k.startswith("SAFERBOT_")}
        base.update(SAFERBOT_DB=url, SAFERBOT_SERVICE_FILE=str(tmp / "service.yaml"),
                    SAFERBOT_CODEWORDS_FILE=str(short_book(tmp, step)), SAFERBOT_OUTBOX_BACKOFF="0.05",
                    SAFERBOT_TELEGRAM_TOKEN=wire.token, SAFERBOT_TELEGRAM_API_URL=wire.url,
                    SAFERBOT_ROLLCALL_WAIT=f"{2 * step}s", PYTHONUNBUFFERED="1",
                    PYTHONPATH=str(ROOT) + os.pathsep + base.get("PYTHONPATH", ""))
        if ttl is not None:
            base["SAFERBOT_LEASE_TTL"] = str(ttl)
        self.env = base | env
        self.procs: list[Proc] = []

    def start(self) -> Proc:
        name = f"run{len(self.procs) + 1}"
        env = self.env
        if getattr(self.wire, "tagged_url", ""):  # each process's calls say which process made them
            env = env | {"SAFERBOT_TELEGRAM_API_URL": f"{self.wire.tagged_url}/{name}"}
        proc = Proc(env, self.tmp, name)
        proc.tag = name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def holder_pid(self) -> int | None:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as c:
            if c.execute("SELECT to_regclass('lease')").fetchone()[0] is None:
                return None  # no process has made the schema yet
            row = c.execute("SELECT holder FROM lease WHERE name='active' AND expires_at >"
                            " extract(epoch from clock_timestamp())").fetchone()
        m = re.search(r"pid (\d+)", row[0]) if row else None
        return int(m.group(1)) if m else None

    def active(self) -> Proc | None:
        pid = self.holder_pid()
        return next((p for p in self.procs if p.proc.pid == pid and p.proc.poll() is None), None)

    def standing_by(self, proc: Proc) -> bool:
        return proc.proc.poll() is None and "waits as a standby" in proc.output()

    def alive(self) -> list[Proc]:
        return [p for p in self.procs if p.proc.poll() is None]

    def kill_all(self) -> None:
        for p in self.procs:
            p.kill9()

    def query(self, sql: str, *args: Any) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as c:
            return c.execute(sql, args or None).fetchall()


@dataclass
class Takeover:
    """One kill: when, and how long until the new active instance hears people again.

    Measured as a user feels it: from the kill -9 to the new active instance's first getUpdates
    on the (fake) Telegram server. A codeword sent in the gap is read then, and anything that fell
    due in the gap goes out in the same moment (see `lateness`).
    """

    kill: float  # monotonic instant of the kill -9
    seconds: float  # until the first getUpdates after it


@dataclass
class Scenario:
    """Live work kept going across the kills: codewords, lone-working sessions, a lockdown roll call."""

    cluster: Cluster
    rng: random.Random
    said: list[tuple[str, str]] = field(default_factory=list)
    lone: list[str] = field(default_factory=list)  # people who started a session (none checks in)
    updates: list[tuple[str, str, int]] = field(default_factory=list)  # (who, text, Telegram update id)

    def say(self, who: str, text: str) -> None:
        w = self.cluster.wire
        uid = w.say(w.users[TG[who]], text)
        self.said.append((who, text))
        self.updates.append((who, text, uid))

    def begin(self) -> None:
        self.say("bob", LOCKDOWN)
        self.say("alice", PHRASES[0])
        self.say("erin", PHRASES[1])
        self.start_lone("carol")

    def start_lone(self, who: str) -> None:
        self.say(who, "lone 2s closing up")
        self.lone.append(who)

    def between_kills(self) -> None:
        """One random piece of new work: a codeword, a lone-working session, a roll-call answer, or none."""
        choice = self.rng.random()
        if choice < 0.45:
            self.say(self.rng.choice(STAFF), self.rng.choice(PHRASES))
        elif choice < 0.65 and (free := [p for p in ON_SHIFT if p not in self.lone]):
            self.start_lone(self.rng.choice(free))
        elif choice < 0.75:
            self.answer_rollcall()

    def answer_rollcall(self) -> None:
        """Vic presses I'm safe on the roll-call ask (once), if it has reached his phone."""
        w = self.cluster.wire
        if any(who == "vic" and text == "(pressed I'm safe)" for who, text in self.said):
            return
        ask = next((m for m in w.inbox(TG["vic"]) if "I'm safe" in m.labels), None)
        if ask is not None:
            w.press(w.users[TG["vic"]], ask, "I'm safe")
            self.said.append(("vic", "(pressed I'm safe)"))


async def two_up(cluster: Cluster, timeout: float = 60.0) -> Proc:
    """Wait until one process is active (polling) and another stands by; returns the active one.

    A third process may still be starting: the run keeps two standbys, so the next kill need
    not wait for a fresh process to start (the slowest part of a cycle, about 1.5 s)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        active = cluster.active()
        others = [p for p in cluster.alive() if p is not active]
        if active and any(cluster.standing_by(p) for p in others):
            return active
        await asyncio.sleep(0.05)
    raise AssertionError("never had an active process and a standby:\n" +
                         "\n".join(f"--- {p.log.name}\n{p.output()[-2000:]}" for p in cluster.procs))


async def kill_active(cluster: Cluster, active: Proc, timeout: float = 30.0) -> Takeover:
    """kill -9 the active process, start a fresh standby, and time the takeover as a user sees it."""
    wire = cluster.wire
    at = time.monotonic()
    active.kill9()
    cluster.start()
    first = await until(lambda: wire.calls_after(at, ("getupdates",)), "a takeover (getUpdates after the kill)",
                        timeout=timeout)
    return Takeover(at, first[0].at - at)


async def serving(cluster: Cluster, timeout: float = STARTUP) -> Proc:
    """One more process that has started serving: it holds the lease and polls Telegram."""
    proc = cluster.start()
    await until(lambda: cluster.wire.calls_of("getUpdates") and cluster.holder_pid() == proc.proc.pid,
                "the process serving", proc, timeout=timeout)
    return proc


async def fault_rounds(cluster: Cluster, rounds: int, seed: int, gap: tuple[float, float],
                       fault: Callable[[Scenario, Proc, int], Awaitable[T]], tell: Callable[[int, T], str],
                       log=print) -> list[T]:
    """The scenario on one active instance and two standbys (as a service with three machines would run),
    with `fault` done to the active process `rounds` times at random points; what each fault returned."""
    rng = random.Random(seed)
    scenario = Scenario(cluster, rng)
    for _ in range(3):
        cluster.start()
    active = await two_up(cluster)
    await until(lambda: cluster.wire.calls_of("getUpdates"), "the first process polling")
    scenario.begin()
    done = []
    for n in range(1, rounds + 1):
        await asyncio.sleep(rng.uniform(*gap))
        done.append(await fault(scenario, active, n))
        scenario.between_kills()
        active = await two_up(cluster)
        log(tell(n, done[-1]))
    cluster.scenario = scenario  # type: ignore[attr-defined]
    return done


async def run(cluster: Cluster, kills: int, seed: int, gap: tuple[float, float] = (0.2, 1.5),
              log=print) -> list[Takeover]:
    """The scenario with `kills` kill -9s of the active process at random points; returns the takeovers."""
    return await fault_rounds(
        cluster, kills, seed, gap, lambda scenario, active, n: kill_active(cluster, active),
        lambda n, took: f"kill {n:2d}: the new active instance polled Telegram {took.seconds:.2f} s after the kill",
        log)


def settled(cluster: Cluster) -> bool:
    """Every ladder has ended, every lone session escalated, nothing is left to send."""
    q = cluster.query
    lone_open = q("SELECT COUNT(*) FROM lone_sessions WHERE status='live' AND stage!='escalated'")[0][0]
    ladders = q("SELECT COUNT(*) FROM alerts a WHERE a.status='open' AND NOT EXISTS (SELECT 1 FROM alert_events e"
                " WHERE e.alert_id=a.id AND e.kind='exhausted')")[0][0]
    unsent = q("SELECT COUNT(*) FROM outbox WHERE status IN ('pending','sending')")[0][0]
    rollcall = q("SELECT COUNT(*) FROM wakeups WHERE kind='lockdown.wait' AND status='pending'")[0][0]
    return lone_open == 0 and ladders == 0 and unsent == 0 and rollcall == 0


def card_of(section: str) -> tuple[str, bool]:
    """Which card a message (or one digest member) is, and whether it was marked a repeat."""
    repeat = REPEAT.strip().splitlines()[0] in section
    section = section.replace(REPEAT, "")  # a marked copy is still the same card (a roll call starts its text)
    if m := ALERT.search(section):
        return f"alert:{m.group(1)}", repeat
    if "Tell us now: are you safe?" in section:
        return "lockdown-ask", repeat
    if "not in the roll call" in section:
        return "lockdown-info", repeat
    if section.lstrip(" \n#0123456789():").startswith("Roll call"):  # in a digest: "\n(2): Roll call"
        return "rollcall", repeat
    return "", repeat


def wire_cards(wire: Wire) -> Counter:
    """(chat, card, marked repeat) -> how many times it reached the phone as a new message."""
    seen: Counter = Counter()
    for chat, text, _ in wire.first:
        sections = text.split(RULE)[1:] if RULE in text else [text]
        for s in sections:
            card, repeat = card_of(s)
            if card:
                seen[(str(chat), card, repeat)] += 1
    return seen


def audit(cluster: Cluster) -> list[str]:
    """Every way the users were let down, from the store and the wire; empty when nothing was."""
    q = cluster.query
    problems: list[str] = []
    rows = q("SELECT chat_id, card, in_doubt, attempts, status, tag FROM outbox WHERE kind='send' AND card IS NOT NULL")
    expected: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for chat, card, in_doubt, attempts, status, tag in rows:
        name = card if card.startswith("alert:") else {"lockdown": "lockdown-ask", "rollcall": "rollcall"}.get(
            tag, card)
        if tag == "lockdown" and "info" in card:
            name = "lockdown-info"
        if status != "sent":
            problems.append(f"card {card} to chat {chat} ended {status}")
        expected.setdefault((chat, name), []).append((in_doubt, attempts))
    seen = wire_cards(cluster.wire)
    for (chat, name), copies in expected.items():
        plain, marked = seen[(chat, name, False)], seen[(chat, name, True)]
        doubtful = [a for d, a in copies if d]
        sure = len(copies) - len(doubtful)
        if plain + marked < len(copies):
            problems.append(f"{name} to chat {chat}: {len(copies)} sent, only {plain + marked} arrived (lost)")
        if plain > len(copies):
            problems.append(f"{name} to chat {chat}: {plain} unmarked copies of {len(copies)} (a duplicate)")
        if plain < sure:
            problems.append(f"{name} to chat {chat}: {sure} sent once, only {plain} arrived unmarked")
        if marked > sum(doubtful):
            problems.append(f"{name} to chat {chat}: {marked} REPEAT copies for {len(doubtful)} row(s) in flight")
    for chat, name, _ in seen:
        if (chat, name) not in expected:
            problems.append(f"{name} reached chat {chat} with no row for it")
    problems += audit_ladders(cluster)
    return problems


@dataclass
class Ladder:
    """One alert's ladder as it happened: steps (label, when) in order, and who was notified at which step."""

    alert_id: int
    status: str
    want: list[str]  # the steps its ladder has
    waits: list[int]  # each tier's wait
    steps: list[tuple[str, float]]
    notified: Counter  # (person, step) -> times
    exhausted: int

    def gaps(self) -> list[tuple[str, str, float, float]]:
        """(step before, step, seconds between them, the wait the ladder asked for)."""
        out = []
        for (before, a), (label, b) in zip(self.steps, self.steps[1:], strict=False):
            out.append((before, label, b - a, self.waits[int(before.split()[1].rstrip(",")) - 1]))
        return out


def ladders(cluster: Cluster) -> list[Ladder]:
    q = cluster.query
    names = {v["name"]: k for k, v in yaml.safe_load((cluster.tmp / "service.yaml").read_text())["people"].items()}
    out = []
    for alert_id, snapshot, status in q("SELECT id, ladder, status FROM alerts ORDER BY id"):
        steps: list[tuple[str, float]] = []
        notified: Counter = Counter()
        exhausted = 0
        tier, repeat = 1, 0
        for kind, text, at in q("SELECT kind, text, at FROM alert_events WHERE alert_id=%s ORDER BY id", alert_id):
            exhausted += kind == "exhausted"
            if kind in ("raised", "climbed", "repeat"):  # a step fires: its wake-up was claimed
                if kind == "climbed":
                    tier, repeat = tier + 1, 0
                elif kind == "repeat":
                    repeat += 1
                steps.append((f"tier {tier}" + (f", repeat {repeat}" if repeat else ""), at))
            elif kind == "notified":
                m = STEP.search(text)
                who = names.get(text.removeprefix("notified ").split(" via ")[0], "?")
                notified[(who, m.group(1) if m else "?")] += 1
        waits = [t["wait"] for t in json.loads(snapshot)["tiers"]]
        out.append(Ladder(alert_id, status, ladder_steps(snapshot), waits, steps, notified, exhausted))
    return out


def lateness(cluster: Cluster) -> list[float]:
    """Seconds each escalation step went out after it was due (the wait after the step before)."""
    return [max(0.0, took - wait) for lad in ladders(cluster) for _, _, took, wait in lad.gaps()]


def audit_ladders(cluster: Cluster) -> list[str]:
    """Every alert's steps in order, each once, none early, each recipient once per step; lone escalations."""
    q = cluster.query
    problems: list[str] = []
    queued = Counter(q("SELECT alert_id, person FROM outbox WHERE kind='send' AND tag='notify'"))
    for lad in ladders(cluster):
        labels = [label for label, _ in lad.steps]
        if lad.status == "open" and (labels != lad.want or lad.exhausted != 1):
            problems.append(f"alert #{lad.alert_id}: steps {labels} (exhausted {lad.exhausted} times), its ladder"
                            f" is {lad.want}")
        elif labels != lad.want[:len(labels)]:
            problems.append(f"alert #{lad.alert_id}: steps {labels} are not its ladder's {lad.want} in order")
        for (who, step), n in lad.notified.items():
            if n != 1:
                problems.append(f"alert #{lad.alert_id}: {who} notified {n} times at {step}")
            if step not in labels:
                problems.append(f"alert #{lad.alert_id}: {who} notified at {step}, a step that never fired")
        for label in labels:  # a repeat reaches everyone its tier has reached so far
            if ", repeat " in label:
                tier = label.split(",")[0]
                earlier = labels[:labels.index(label)]
                want = {w for w, s in lad.notified if s in earlier and s.split(",")[0] == tier}
                got = {w for w, s in lad.notified if s == label}
                if want - got:
                    problems.append(f"alert #{lad.alert_id}: {label} missed {sorted(want - got)}")
        for who, n in Counter(who for who, _ in lad.notified.elements()).items():
            if queued[(lad.alert_id, who)] != n:
                problems.append(f"alert #{lad.alert_id}: {who} notified {n} times, {queued[(lad.alert_id, who)]}"
                                " card(s) queued")
        for before, label, took, wait in lad.gaps():
            if took < wait - 0.05:
                problems.append(f"alert #{lad.alert_id}: {label} came {took:.2f} s after {before}, before its"
                                f" {wait} s wait was up")
    for who in cluster.scenario.lone:  # type: ignore[attr-defined]
        raised = q("SELECT COUNT(*) FROM alerts WHERE kind='lone' AND person=%s", who)[0][0]
        if raised != 1:
            problems.append(f"{who}'s missed lone-working check-in raised {raised} alerts, not 1")
    return problems


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return f"p50 {statistics.median(values):.2f} s  p99 {p99:.2f} s  max {max(values):.2f} s  (n={len(values)})"

