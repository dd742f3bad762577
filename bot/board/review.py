"""Incident review at the desk: the list with filters, one incident, notes, mark reviewed, and the
monthly report with its chart as a printable page.

Reading an incident runs the chat's own `incident <ref>` (its read rules and its audit row);
a note, the review and the report are the chat's own commands and button too.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from handlers.incident import can_read

from ..unit import Tx
from . import act, auth, snapshot
from .web import FLASH, Board

REF = re.compile(r"[A-Za-z]{2,5}-\d{4}-\d{1,6}")
MONTH = re.compile(r"\d{4}-\d{2}")


def _list(tx: Tx, person_key: str, branch: str, month: str, kind: str, unreviewed: bool) -> dict[str, Any]:
    person = tx.person(person_key)
    rows = tx.conn.execute("SELECT * FROM incidents WHERE anonymised_at IS NULL ORDER BY created_at DESC").fetchall()
    rows = [r for r in rows if person and can_read(tx, person, r)]  # the chat's own rule for who reads what
    mine = sorted({r["branch"] for r in rows if r["branch"]} | set(snapshot.branches_for(tx, person) if person else []))
    out = []
    for r in rows:
        if branch and r["branch"] != branch:
            continue
        if month and tx.local(r["occurred_at"] or r["created_at"]).strftime("%Y-%m") != month:
            continue
        if kind and (r["category"] or "") != kind:
            continue
        if unreviewed and r["status"] == "reviewed":
            continue
        out.append({"ref": r["ref"], "branch": tx.directory.branch_name(r["branch"]),
                    "when": r["occurred_at"] or r["created_at"], "status": r["status"],
                    "category": r["category"] or "", "drill": bool(r["drill"]), "serious": bool(r["serious"])})
    kinds = sorted({r["category"] for r in rows if r["category"]})
    return {"items": out, "kinds": kinds,
            "branches": [(b, tx.directory.branch_name(b)) for b in mine]}


def _one(tx: Tx, person_key: str, ref: str) -> dict[str, Any]:
    """The record as the chat shows it (read and audited by the chat's own command), its alert's
    timeline and its welfare check-ins."""
    record = act.command(tx, person_key, "incident", ref)
    row = tx.conn.execute("SELECT id, alert_id, status FROM incidents WHERE ref=?", (ref,)).fetchone()
    readable = row is not None and bool(record) and not any(t.startswith(("I can't find", "Sorry")) for t in record)
    timeline: list[str] = []
    welfare: list[dict] = []
    if readable and row["alert_id"]:
        timeline = act.command(tx, person_key, "timeline", str(row["alert_id"]))
    if readable:
        welfare = [{"who": (p.name if (p := tx.person(w["person"])) else w["person"]), "label": w["offset_label"],
                    "due": w["due_at"], "status": w["status"], "answer": w["answer"] or ""}
                   for w in tx.conn.execute("SELECT * FROM welfare_checkins WHERE incident_id=? ORDER BY due_at",
                                            (row["id"],))]
    return {"record": record, "readable": readable, "timeline": timeline, "welfare": welfare,
            "status": row["status"] if row else ""}


def _chart(path: str | None) -> str:
    if not path or not Path(path).is_file():
        return ""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def review_routes(board: Board) -> list[web.AbstractRouteDef]:
    engine = board.engine

    async def listing(request: web.Request) -> web.Response:
        person, cookie = await board.session(request)
        q = request.query
        branch, month, kind = q.get("branch", ""), q.get("month", ""), q.get("type", "")
        month = month if MONTH.fullmatch(month) else ""

        def read(conn: Any) -> dict:
            return _list(Tx(engine.ctx, conn, engine.clock.now()), person.key, branch, month, kind[:60],
                         q.get("unreviewed") == "1")

        found = await engine.store.read(read)
        return board.render("incidents.html", person=person, csrf=auth.csrf(await board.key(), cookie),
                            branch=branch, month=month, kind=kind, unreviewed=q.get("unreviewed") == "1", **found)

    async def one(request: web.Request) -> web.Response:
        person, cookie = await board.session(request)
        ref = request.match_info["ref"]
        if not REF.fullmatch(ref):
            raise board.page_error(404, "No such incident", "Check the reference, such as INC-2026-0042.")
        found = await board.do(_one, person.key, ref.upper())
        if not found["readable"]:
            raise board.page_error(404, "No such incident at your branches", " ".join(found["record"]))
        said = request.cookies.get(FLASH, "")
        resp = board.render("incident.html", person=person, csrf=auth.csrf(await board.key(), cookie),
                            ref=ref.upper(), said=said, **found)
        if said:
            resp.del_cookie(FLASH, path="/board")
        return resp

    async def report(request: web.Request) -> web.Response:
        person, cookie = await board.session(request)
        month = request.query.get("month", "")
        month = month if MONTH.fullmatch(month) else "this"
        replies = await board.do(act.command_replies, person.key, "report", f"month {month}")
        text = "\n".join(t for t, _ in replies if t)
        chart = next((_chart(a) for _, a in replies if a), "")
        return board.render("report.html", person=person, csrf=auth.csrf(await board.key(), cookie),
                            text=text, chart=chart, month=month if month != "this" else "")

    return [web.get("/board/incidents", listing), web.get("/board/incidents/{ref}", one),
            web.get("/board/report", report)]
