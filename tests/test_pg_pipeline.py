"""PostgreSQL: a unit of work's writes share one wait for the server, not one wait each.

Under load (a lone-working sweep escalating 100 sessions a second) every statement that waits for
its answer waits for the server's turn on the CPU too; ~25 such waits an escalation left missed
check-ins seconds late (bench/lone_timers.py --db postgresql). Writes nobody reads are pipelined;
a read still sees every write before it, and a refused write still undoes the unit
(tests/test_unit_savepoint.py). `waits` is the store's own count of the times it waits for an
answer (a statement outside a unit, or a sync of the unit's pipeline); the bench prints it too."""

from __future__ import annotations

from bot import engine as engine_module
from bot.store import Store, outbox

from .conftest import settle, start_engine


async def test_twenty_writes_in_one_unit_wait_for_the_server_a_few_times_not_twenty(schema):
    store = await Store.open(schema.url)
    try:
        before = store._conn.waits

        def unit(conn):  # noqa: ANN001, ANN202
            for i in range(20):
                conn.execute("INSERT INTO wakeups(kind, ref, due_at) VALUES(?,?,?)", ("test.pipe", str(i), i))
            conn.execute("UPDATE wakeups SET status='done' WHERE kind='test.pipe' AND ref='3'")

        await store.run(unit)
        waits = store._conn.waits - before
        assert waits <= 1, f"{waits} waits for 21 writes"  # the lock, the fence and every write answer with COMMIT
        rows = await store.read(lambda c: c.execute(
            "SELECT ref, status FROM wakeups WHERE kind='test.pipe' ORDER BY due_at").fetchall())
        assert [r[0] for r in rows] == [str(i) for i in range(20)]
        assert [r[0] for r in rows if r[1] == "done"] == ["3"]
    finally:
        await store.close()


async def test_a_read_inside_the_unit_sees_the_writes_sent_before_it(schema):
    store = await Store.open(schema.url)
    try:
        def unit(conn):  # noqa: ANN001, ANN202
            conn.execute("INSERT INTO wakeups(kind, ref, due_at) VALUES('test.pipe', 'a', 1)")
            cur = conn.execute("UPDATE wakeups SET due_at=2 WHERE kind='test.pipe'")
            key = conn.execute("INSERT INTO wakeups(kind, ref, due_at) VALUES('test.pipe', 'b', 3)").lastrowid
            seen = conn.execute("SELECT ref, due_at FROM wakeups WHERE kind='test.pipe' ORDER BY ref").fetchall()
            return cur.rowcount, key, [tuple(r) for r in seen]

        updated, key, seen = await store.run(unit)
        assert updated == 1 and isinstance(key, int)
        assert seen == [("a", 2.0), ("b", 3.0)]
    finally:
        await store.close()


def count_waits(store) -> list[tuple[str, int]]:  # noqa: ANN001
    """(unit, waits) for each unit of work the store runs from now on."""
    log: list[tuple[str, int]] = []
    work = store._work

    def counted(fn, *args):  # noqa: ANN001, ANN202
        before = store._conn.waits
        try:
            return work(fn, *args)
        finally:
            log.append((getattr(args[0], "__name__", "") if args else "", store._conn.waits - before))

    store._work = counted
    return log


async def test_a_codeword_is_stored_with_two_waits_for_the_server(schema, clock):
    """Alice's cover reply leaves once her codeword's unit has committed. The unit asks whether the event is new,
    whether she is new, whether the branch is in a drill, who is on shift and who covers, and the alert's number:
    each was a wait of its own (six with the COMMIT). Asked together they are answered together: one wait for
    the reads (the event's key with them, read after the handler: `bot.engine._intake`), and the COMMIT."""
    h = await start_engine(schema.url, clock)
    try:
        log = count_waits(h.engine.store)
        await h.say("alice", "Is Mr Brown in today?")
        assert "staff room" in h.last("alice").text
        assert any("Alice" in d.text for d in h.sent("bob")), "Bob has no alert card"
        intake = [w for unit, w in log if unit == "_intake_batch"]
        assert intake == [2], f"the codeword's unit waited {intake} times"
    finally:
        await h.engine.stop()


async def test_a_codeword_its_platform_sends_again_is_acted_on_once(harness):
    """The event's key is read after its handler has run (above): a platform's retry of Alice's codeword runs the
    handler again on PostgreSQL, and all it did is undone. One alert, one cover reply, one card for Bob."""
    h = harness
    await h.transport.say("alice", "Is Mr Brown in today?", event_id="tg-7")
    await settle(h.engine)
    once = {"alice": len(h.sent("alice")), "bob": len(h.sent("bob"))}
    rows = await h.query("SELECT COUNT(*) FROM outbox")
    for _ in range(2):
        await h.transport.say("alice", "Is Mr Brown in today?", event_id="tg-7")
        await settle(h.engine)
    assert [tuple(r) for r in await h.query("SELECT COUNT(*) FROM alerts")] == [(1,)]
    assert {"alice": len(h.sent("alice")), "bob": len(h.sent("bob"))} == once
    assert once["alice"] == 1 and once["bob"] >= 1
    assert await h.query("SELECT COUNT(*) FROM outbox") == rows, "the retry left messages queued"
    assert [tuple(r) for r in await h.query("SELECT COUNT(*) FROM wakeups WHERE kind='alert.climb'"
                                            " AND status='pending'")] == [(1,)]


async def test_marking_messages_started_is_one_wait(schema):
    """The last write before a message leaves (its started mark) sends its UPDATE and COMMIT together."""
    store = await Store.open(schema.url)
    try:
        def queue(conn):  # noqa: ANN001, ANN202
            return [int(outbox.enqueue(conn, now=1.0, platform="console", chat_id=c, user_id=c, text="hi",
                                       buttons="[]", priority=0, claim=True)["id"]) for c in ("a", "b")]

        ids = await store.run(queue)
        await store.run(lambda conn: conn.execute("UPDATE outbox SET status='cancelled' WHERE id=?", (ids[1],)))
        log = count_waits(store)
        started = await store.run(outbox.mark_started, ids, 2.0)
        assert started == {ids[0]}, "a cancelled row was marked started"
        assert log == [("mark_started", 1)]
        rows = await store.read(lambda c: c.execute("SELECT id, sent_at, attempts FROM outbox ORDER BY id").fetchall())
        assert [tuple(r) for r in rows] == [(ids[0], 2.0, 1), (ids[1], None, 0)]
    finally:
        await store.close()


async def test_an_escalation_step_asks_its_duty_reads_and_its_tier_change_together(schema, clock):
    """Nobody acknowledged Alice's alert: the ladder's next step reads the alert, asks who it is about, moves
    the alert's tier and, climbing, asks who has a copy of its card already. Each of those was a wait of its
    own (11 in all with the wake-up, the card and its edits, and COMMIT); asked together before the first is
    read they are one (9)."""
    h = await start_engine(schema.url, clock)
    try:
        await h.say("alice", "Is Mr Brown in today?")
        log = count_waits(h.engine.store)
        await h.advance(180)  # past the first tier's wait: the step repeats the tier or climbs
        moved = await h.query("SELECT tier, repeats FROM alerts")
        assert [tuple(r) for r in moved] != [(0, 0)], "the ladder did not move"
        steps = [w for unit, w in log if unit == "_in_tx"]
        assert steps and max(steps) <= 9, f"the escalation step waited {steps} times"
    finally:
        await h.engine.stop()


async def test_a_cover_reply_leaves_with_its_codewords_commit_and_no_write_of_its_own(harness):
    """The last write before Alice's cover reply leaves is her codeword's own unit: it is marked started there (one
    attempt counted), not in a unit of its own at hand-off, which was one more commit (on PostgreSQL one more wait
    for the server) before she saw it. Bob's card is marked at its hand-off as before."""
    h = harness
    marked: list[int] = []
    write = h.engine.outbox._mark_started

    async def watched(ids: list[int]) -> set[int]:
        marked.extend(ids)
        return await write(ids)

    h.engine.outbox._mark_started = watched  # type: ignore[method-assign]
    await h.say("alice", "Is Mr Brown in today?")
    assert h.last("alice").text == "I'll have a look in the staff room for you."
    (cover, sent_at, attempts, status), = [tuple(r) for r in await h.query(
        "SELECT id, sent_at, attempts, status FROM outbox WHERE tag='cover'")]
    assert cover not in marked and status == "sent" and attempts == 1 and sent_at is not None
    card = [r[0] for r in await h.query("SELECT id FROM outbox WHERE chat_id='bob' AND kind='send'")]
    assert card and set(card) <= set(marked), "Bob's card left without its started mark"


async def test_a_cover_reply_held_when_the_bot_stopped_goes_once_unmarked_after_restart(db, clock):
    """Alice's codeword was stored, and the bot stopped before her cover reply's request began (its lease not known
    valid, then gone). Started with its codeword, the row is in doubt after the restart; a cover reply in doubt is
    still sent once, word for word: no REPEAT that would give the codeword away."""
    h = await start_engine(db, clock)
    try:
        for holder in (h.engine.outbox, *h.engine.outbox.lanes.values()):
            holder.may_send = lambda: False
        await h.transport.say("alice", "Is Mr Brown in today?")  # stored once this returns; nothing can leave
        assert [tuple(r) for r in await h.query("SELECT status FROM outbox WHERE tag='cover'")] == [("sending",)]
        assert not await h.engine.settle(timeout=0.3) and h.sent("alice") == []
    finally:
        await h.engine.stop()
    h2 = await start_engine(db, clock)
    try:
        assert [d.text for d in h2.sent("alice")] == ["I'll have a look in the staff room for you."]
        assert [tuple(r) for r in await h2.query("SELECT status, in_doubt FROM outbox WHERE tag='cover'")] == \
            [("sent", 1)]
    finally:
        await h2.engine.stop()


async def test_a_retry_whose_handler_now_fails_is_still_a_retry_not_an_apology(harness, monkeypatch):
    """Alice's codeword was acted on. Her platform sends it again, and this time the handler fails (a bug met on the
    second run). Before the key's answer was read late, a retry never reached the handler; now it may, and its
    failure must not reach Alice either: no "Sorry, I could not do that", one cover reply, one alert."""
    h = harness
    await h.transport.say("alice", "Is Mr Brown in today?", event_id="tg-9")
    await settle(h.engine)
    assert [d.text for d in h.sent("alice")] == ["I'll have a look in the staff room for you."]

    def broken(tx, msg):  # noqa: ANN001, ANN202
        raise RuntimeError("a handler bug")

    monkeypatch.setattr(engine_module, "route", broken)
    await h.transport.say("alice", "Is Mr Brown in today?", event_id="tg-9")
    await settle(h.engine)
    assert [d.text for d in h.sent("alice")] == ["I'll have a look in the staff room for you."]
    assert [tuple(r) for r in await h.query("SELECT COUNT(*) FROM alerts")] == [(1,)]


async def test_a_codeword_backup_card_held_when_the_bot_stopped_goes_unmarked_after_restart(db, clock):
    """A codeword whose action is backup answers with a live card ("Okay, I'll see who's free."), tagged as a cover
    reply. A card in doubt after a crash is marked REPEAT, so this one is marked started at its hand-off, not with
    its codeword: held when the bot stopped, it goes once, word for word, never "REPEAT: sent again"."""
    h = await start_engine(db, clock)
    try:
        for holder in (h.engine.outbox, *h.engine.outbox.lanes.values()):
            holder.may_send = lambda: False
        await h.transport.say("alice", "Could use an extra pair of hands")
        assert [tuple(r) for r in await h.query("SELECT status FROM outbox WHERE tag='cover'")] == [("sending",)]
    finally:
        await h.engine.stop()
    h2 = await start_engine(db, clock)
    try:
        assert [d.text for d in h2.sent("alice")] == ["Okay, I'll see who's free."]
    finally:
        await h2.engine.stop()
