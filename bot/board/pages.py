"""The board's routes: sign in with a one-time link, the live board, its event stream, acting."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import words
from . import act, auth

if TYPE_CHECKING:
    from ..engine import Engine

from .web import COOKIE, FLASH, HERE, Board, stream, templates


def page_routes(board: Board) -> list[web.AbstractRouteDef]:
    engine = board.engine

    async def login_form(request: web.Request) -> web.Response:
        """A page with one button: a link preview (chat apps fetch links) must not use the link up."""
        return board.render("login.html", token=request.query.get("t", ""), person=None, csrf="")

    async def login(request: web.Request) -> web.Response:
        token = str((await request.post()).get("t", ""))
        now = engine.clock.now()
        got = await engine.store.run(auth.redeem, token, now)
        if got is None:
            raise board.page_error(403, "This link does not work any more", "A sign-in link works once, for 10 "
                                   "minutes. Say board to the bot in chat for a new one.")
        key, role = got
        person = engine.directory.person(key)
        s = auth.Session(key, role, now, now + auth.SESSION_MAX)
        if not auth.still_valid(s, person):
            raise board.page_error(403, "The board is for duty managers and admins",
                                   "Your role on the roster does not include the board.")
        resp = web.HTTPSeeOther("/board")
        resp.set_cookie(COOKIE, auth.sign(await board.key(), s), max_age=auth.SESSION_MAX, path="/board",
                        httponly=True, samesite="Strict", secure=board.secure(request))
        raise resp

    async def logout(request: web.Request) -> web.Response:
        await board.csrf_checked(request)
        resp = board.render("message.html", title="Signed out", text="You have signed out of the board.",
                            person=None, csrf="")
        resp.del_cookie(COOKIE, path="/board")
        return resp

    async def page(request: web.Request) -> web.Response:
        person, cookie = await board.session(request)
        csrf = auth.csrf(await board.key(), cookie)
        snap = await board.snapshot(person.key)
        if snap is None:
            raise board.page_error(401, "Please sign in", "Say board to the bot in chat.")
        said = request.cookies.get(FLASH, "")
        resp = board.render("board.html", person=person, csrf=csrf, panels=board.panels(snap, csrf), said=said,
                            branches=snap["branches"], now=snap["now"])
        if said:
            resp.del_cookie(FLASH, path="/board")
        return resp

    async def do(request: web.Request) -> web.Response:
        person, form = await board.csrf_checked(request)
        what, arg = str(form.get("do", "")), str(form.get("arg", ""))[:100]
        if what == "alert.resolve":
            n = words.number(arg)
            said = await board.do(act.resolve, person.key, n or 0, str(form.get("note", ""))) if n else []
        elif what == "drill.off":
            said = await board.do(act.command, person.key, "drill", f"off {arg}")
        elif what == "incident.note":
            note = " ".join(str(form.get("note", "")).split())[:1000]
            said = await board.do(act.command, person.key, "incident", f"{arg} note {note}") if note else []
        else:
            said = await board.do(act.press, person.key, what, arg)
        back = str(form.get("back", "/board"))
        resp = web.HTTPSeeOther(back if back.startswith("/board") and "//" not in back else "/board")
        text = " ".join(said) or "Done."
        resp.set_cookie(FLASH, text[:600].encode("ascii", "replace").decode(), path="/board", httponly=True,
                        samesite="Strict", secure=board.secure(request), max_age=60)
        raise resp

    async def events(request: web.Request) -> web.StreamResponse:
        return await stream(board, request)

    from .review import review_routes

    return [web.get("/board/login", login_form), web.post("/board/login", login), web.post("/board/logout", logout),
            web.get("/board", page), web.post("/board/act", do), web.get("/board/events", events),
            web.static("/board/static", HERE / "static"), *review_routes(board)]


def routes(engine: Engine) -> list[web.AbstractRouteDef]:
    """The board's routes on the active instance's HTTP server (nothing when SAFERBOT_BOARD is off)."""
    if not engine.settings.board:
        return []
    board = Board(engine)
    engine.on_commit.append(board.hub.changed)
    return page_routes(board)


def standby_routes(settings: Any, active: Any = None) -> list[web.AbstractRouteDef]:
    """On a standby: every board page says this instance is not the active one (the board follows it).

    Which instance is active (`active()`: "pid 123 on host lib-vm1 ...") is said only to someone whose
    board session cookie is valid, as /healthz tells nobody who merely reaches the port."""
    if not settings.board:
        return []
    env = templates()

    def _named(cookie: str | None) -> str | None:
        key = auth.stored_key(settings) if cookie and active else None
        return active() if key and auth.verify(key, cookie, time.time()) else None

    async def standby(request: web.Request) -> web.Response:
        name = await asyncio.to_thread(_named, request.cookies.get(COOKIE))
        html = env.get_template("message.html").render(
            title="This is the standby instance", person=None, csrf="",
            text="The board is served by the active saferbot instance"
                 + (f" ({name})" if name else "") + ". This one is waiting as its standby and "
                 "takes over if the active one stops; the page reconnects by itself when it does.")
        return web.Response(text=html, status=503, content_type="text/html", headers={"Retry-After": "2"})

    return [web.get("/board", standby), web.get("/board/{tail:.*}", standby)]
