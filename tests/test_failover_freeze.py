"""Two `saferbot run` on one PostgreSQL schema: a frozen active instance, and a card waiting in a lane.

Real processes, the fake Telegram (each process calls it under its own path, so every send says
which process made it), a 1 s lease. SIGSTOP freezes the active process the moment its first
message of a codeword burst reaches Telegram, longer than the lease: a standby takes over and
sends what fell due. SIGCONT: the old process must not send or edit anything more (its lease is
not known valid by its own clock when it wakes), and exits 2 to come back as a standby.

kill -9 while cards wait in a lane for per-chat pacing: only a card whose request had started
may come again marked REPEAT; the ones that only waited go out once, unmarked.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time

from tests import failover_kit as kit
from tests.test_intake_confirmed import until

STARTUP = kit.STARTUP
wire = kit.wire_fixture

async def test_a_frozen_active_instance_sends_nothing_after_it_wakes_without_its_lease(tmp_path, schema, wire):
    cluster = kit.Cluster(tmp_path, wire, schema.url, ttl=1)
    scenario = kit.Scenario(cluster, random.Random(0))
    cluster.scenario = scenario  # type: ignore[attr-defined]
    old = await kit.serving(cluster)
    new = cluster.start()
    await until(lambda: cluster.standing_by(new), "a standby", new, timeout=STARTUP)
    frozen: list[float] = []

    def freeze(caller: str) -> None:
        if caller == old.tag and not frozen:
            os.kill(old.proc.pid, signal.SIGSTOP)  # at its first message of the burst: the rest wait in lanes
            frozen.append(time.monotonic())

    wire.on_send = freeze
    try:
        for who, phrase in zip(("alice", "carol", "erin"), kit.PHRASES, strict=True):
            scenario.say(who, phrase)
        await until(lambda: frozen, "the active process freezing at its first send", old)
        await until(lambda: cluster.holder_pid() == new.proc.pid, "the standby taking the lease", new, timeout=20)
        await until(lambda: wire.sends_by(new.tag), "the new active instance sending", new, timeout=20)
        await asyncio.sleep(0.5)  # the new active instance sends what the old one had claimed
        woke = time.monotonic()
        os.kill(old.proc.pid, signal.SIGCONT)
        await until(lambda: old.proc.poll() is not None, "the old process exiting", timeout=15)
        await until(lambda: kit.settled(cluster), "every ladder ending", new, timeout=40)

        late = wire.sends_by(old.tag, after=woke)
        assert late == [], f"the old process sent {late} after waking without its lease:\n{old.output()[-3000:]}"
        assert old.proc.returncode == 2, old.output()[-2000:]
        assert kit.audit(cluster) == []  # nothing lost, nothing doubled unmarked
    finally:
        if old.proc.poll() is None:
            os.kill(old.proc.pid, signal.SIGCONT)
        cluster.kill_all()


async def test_only_a_card_whose_request_had_started_comes_again_marked_repeat(tmp_path, schema, wire):
    cluster = kit.Cluster(tmp_path, wire, schema.url, ttl=1)
    scenario = kit.Scenario(cluster, random.Random(0))
    cluster.scenario = scenario  # type: ignore[attr-defined]
    first = await kit.serving(cluster)
    bob = str(kit.TG["bob"])
    # bob's first card hangs on its way (a slow network): his other cards wait in the lane behind it
    wire.slow[bob] = 5.0
    scenario.say("alice", kit.PHRASES[0])
    await until(lambda: bob not in wire.slow, "bob's first card starting", first)
    scenario.say("carol", kit.PHRASES[1])
    await asyncio.sleep(1.0)  # carol's alert is raised and its card to bob waits in the lane
    first.kill9()
    started = {kit.card_of(s)[0] for _, _, _, chat, text in wire.by if chat == bob for s in text.split(kit.RULE)}
    cluster.start()
    await until(lambda: kit.settled(cluster), "every ladder ending", timeout=40)
    cluster.kill_all()

    marked = {card for (chat, card, repeat), n in kit.wire_cards(wire).items() if chat == bob and repeat}
    assert marked <= started, f"cards marked REPEAT that never left before the kill: {sorted(marked - started)}"
    assert kit.audit(cluster) == []
