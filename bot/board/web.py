"""The board's pages on the bot's own HTTP server (SAFERBOT_HEALTH_PORT): sign-in, the live board,
acting, and the incident pages. Plain server-rendered HTML (Jinja2, autoescaped) and a little JS.

No business rule lives here: the snapshot is read from the store (snapshot.py) and every act
presses the chat's own button or command (act.py) through `engine.perform`.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from aiohttp import web
from aiohttp_sse import sse_response

from ..unit import Tx
from . import auth, snapshot
from .live import RETRY_MS, Hub

if TYPE_CHECKING:
    from ..engine import Engine
    from ..model import Person

HERE = Path(__file__).parent
COOKIE = "saferbot_board"
FLASH = "saferbot_board_said"
TOKEN = "__csrf__"  # where a session's CSRF token goes in the panels drawn once per person (not hex: never a real one)
SHARED = 0.3  # seconds one snapshot read serves every board of its person (when nothing committed meanwhile)
PANELS = ("alerts", "lone", "backup", "lockdowns", "drills", "duty", "incidents", "health")


def problems(engine: Engine) -> list[str]:
    """The bot's health as /healthz and `status` know it (the running Health, else its parts)."""
    health = getattr(engine, "health", None)
    if health is not None:
        return health.problems()
    out = [f"{p} is failing deliveries" for p in sorted(engine.outbox.down if engine.outbox else {})]
    for check in engine.app.health_checks:
        out.extend(check(engine))
    return out


def templates(clock: Any = None) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    if clock is not None:  # times as the service's clock says them (its time zone)
        env.filters["hhmm"] = lambda ts: clock.hhmm(ts) if ts else ""
        env.filters["day"] = lambda ts: clock.local(ts).strftime("%d %b %Y %H:%M") if ts else ""
    return env


class Board:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.hub = Hub()
        self.env = templates(engine.clock)
        self._key: bytes | None = None
        self.streams: set[web.StreamResponse] = set()
        self._reads: dict[str, tuple[int, float, asyncio.Future]] = {}  # person -> (hub version, when, the read)

    # --- sessions --------------------------------------------------------------------
    async def key(self) -> bytes:
        if self._key is None:
            assert self.engine.store is not None
            self._key = await self.engine.store.run(auth.secret)
        return self._key

    def _person(self, s: auth.Session) -> Person | None:
        p = self.engine.directory.person(s.person)
        return p if auth.still_valid(s, p) else None

    async def session(self, request: web.Request) -> tuple[Person, str]:
        """The signed-in person and their cookie; 401 (with a page saying how to sign in) otherwise."""
        cookie = request.cookies.get(COOKIE, "")
        s = auth.verify(await self.key(), cookie, self.engine.clock.now())
        person = self._person(s) if s else None
        if person is None:
            raise self.page_error(401, "Please sign in", "Say board to the bot in chat: it sends you a link that "
                                  "signs you in here. A session ends after 12 hours, or when you leave the roster "
                                  "or your role changes.", clear=True)
        return person, cookie

    def page_error(self, status: int, title: str, text: str, clear: bool = False) -> web.HTTPException:
        html = self.env.get_template("message.html").render(title=title, text=text, person=None, csrf="")
        exc = web.HTTPException(text=html, content_type="text/html")
        exc.set_status(status, title)
        if clear:
            exc.del_cookie(COOKIE, path="/board")
        return exc

    def secure(self, request: web.Request) -> bool:
        url = self.engine.settings.board_url or ""
        return request.secure or url.startswith("https://")

    async def csrf_checked(self, request: web.Request) -> tuple[Person, dict[str, Any]]:
        person, cookie = await self.session(request)
        form = dict(await request.post())
        given = request.headers.get("X-CSRF-Token") or str(form.get("csrf", ""))
        if not auth.csrf_ok(await self.key(), cookie, given):
            raise self.page_error(403, "This form has expired", "Reload the board and try again.")
        return person, form

    # --- rendering -------------------------------------------------------------------
    def render(self, name: str, **kw: Any) -> web.Response:
        return web.Response(text=self.env.get_template(name).render(**kw), content_type="text/html",
                            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                     "Content-Security-Policy": "default-src 'self'; img-src 'self' data:;"
                                                                " frame-ancestors 'none'; form-action 'self'"})

    async def snapshot(self, person_key: str) -> dict | None:
        """The person's snapshot, or None when their session no longer holds (left the roster). Boards of
        one person open at once share one read per change (a desk PC and a tablet)."""
        now = asyncio.get_running_loop().time()
        cached = self._reads.get(person_key)
        if cached is None or cached[0] != self.hub.version or now - cached[1] > SHARED:
            cached = (self.hub.version, now, asyncio.ensure_future(self._snapshot(person_key)))
            self._reads[person_key] = cached
        return await asyncio.shield(cached[2])

    async def _snapshot(self, person_key: str) -> dict | None:
        health = problems(self.engine)

        def read(conn: Any) -> dict | None:
            tx = Tx(self.engine.ctx, conn, self.engine.clock.now())
            person = tx.person(person_key)
            return snapshot.snapshot(tx, person, health) if person and auth.may_use(person) else None

        assert self.engine.store is not None
        snap = await self.engine.store.read(read)
        if snap is not None:  # drawn once for every board of the person; each session's token goes in after
            module = self.env.get_template("panels.html").make_module({"csrf": TOKEN})
            snap["drawn"] = {name: str(getattr(module, name)(snap[name])) for name in PANELS}
        return snap

    def panels(self, snap: dict, csrf: str) -> dict[str, str]:
        out: dict[str, Any] = {name: html.replace(TOKEN, csrf) for name, html in snap["drawn"].items()}
        out["now"] = snap["now"]
        return out

    # --- the act ---------------------------------------------------------------------
    async def do(self, fn: Any, *args: Any) -> list[str]:
        return await self.engine.perform(fn, *args)


async def stream(board: Board, request: web.Request) -> web.StreamResponse:
    person, cookie = await board.session(request)
    csrf = auth.csrf(await board.key(), cookie)
    session = auth.verify(await board.key(), cookie, board.engine.clock.now())

    async def panels() -> dict | None:
        s = session
        if s is None or board._person(s) is None or board.engine.clock.now() >= s.expires:
            return None
        snap = await board.snapshot(person.key)
        return board.panels(snap, csrf) if snap else None

    async with sse_response(request, headers={"Cache-Control": "no-store"}) as resp:
        board.streams.add(resp)
        try:
            await resp.send("", event="hello", retry=RETRY_MS)

            async def send(data: str) -> None:
                await resp.send(data, event="board")

            with contextlib.suppress(ConnectionResetError):
                await board.hub.stream(send, panels, resp.is_connected)
        finally:
            board.streams.discard(resp)
    return resp
